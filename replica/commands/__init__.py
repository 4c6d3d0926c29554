"""``ptft`` subcommands of the theory side, one module per command (see replica.cli)."""
