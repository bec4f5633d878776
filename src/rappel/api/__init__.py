"""HTTP surfaces: one module per surface."""
