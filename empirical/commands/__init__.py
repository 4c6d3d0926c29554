"""``ptft`` subcommands that train networks, one module per command (see replica.cli)."""
