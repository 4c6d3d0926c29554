"""ptft: numerics."""
