"""Cross-cutting parts: the clock, errors, who is acting, permissions, the audit ledger, the outbox."""
