"""Exact and near-duplicate removal across the sources of a build."""
