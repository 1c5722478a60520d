"""Privacy: redaction of secrets in what is logged, protection of direct identifiers."""
