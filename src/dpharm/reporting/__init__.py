"""Reporting: figure helpers."""
