"""Beam entry points. Each module docstring is that job's runbook."""
