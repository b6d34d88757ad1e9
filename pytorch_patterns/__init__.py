"""pytorch-patterns: command-line entry point and version."""

__version__ = "0.2.0"
