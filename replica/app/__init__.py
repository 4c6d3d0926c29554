"""The application shell: the ``ptft`` command line, its subcommands and the figures.

The top layer: it may import every other layer; nothing outside ``replica.app`` imports it.
"""
