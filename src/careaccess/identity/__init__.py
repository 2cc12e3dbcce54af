"""Identity checks and evidence, terms of use, training records."""
