"""Thin Apache Beam wrappers over feedflow.core."""
