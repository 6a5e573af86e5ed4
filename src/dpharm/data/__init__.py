"""Data: the synthetic model, real image sources and their splits, and the reported groups."""
