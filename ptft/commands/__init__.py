"""``ptft`` subcommands: each module's ``register(subparsers)`` adds its commands (plug-ins)."""
