"""Shared ground: atomic files, the run lock, environment, paths, the run-folder layout, argument checks."""
