"""Measurement: per-group metrics, the FNR, the privacy audit and the tidy tables."""
