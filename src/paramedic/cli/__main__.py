"""`python -m paramedic.cli` runs the command line (used by tests with the current interpreter)."""

from paramedic.cli.main import main

main()
