"""Recorded expected values, one module per homework (see tmlkit.recorded)."""
