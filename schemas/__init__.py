"""Explicit Arrow schemas of the output tables, one JSON file per table (loaded by feedflow.core.schemas)."""
