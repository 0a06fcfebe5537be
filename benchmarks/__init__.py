"""Benchmarks: commands that print figures against a baseline run beside them."""
