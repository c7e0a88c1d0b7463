"""Shared ground: atomic files, the run lock, environment, paths and the run-folder layout."""
