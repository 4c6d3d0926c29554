"""ptft: empirical."""
