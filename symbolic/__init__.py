"""ptft: symbolic."""
