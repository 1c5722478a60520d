"""Who may do what: staff accounts, the hospital's API keys, roles and departments."""
