"""ptft: replica."""
