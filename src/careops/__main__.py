"""`python -m careops` runs the CLI."""

from careops.cli import main

main()
