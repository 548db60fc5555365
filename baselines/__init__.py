"""Baseline methods, one module each; every module here is imported and registers its method by name."""
