"""``ptft figure NAME``: one module per figure family (PNG + the CSV behind it)."""
