"""Sweeps (inactivity, end dates, closures, training deadlines, expiry notices), reinstatement and review campaigns."""
