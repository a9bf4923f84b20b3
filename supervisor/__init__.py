"""Mega-test supervisor: runs multi-hour test sessions of AI coding agents."""

__version__ = "0.1.0"
