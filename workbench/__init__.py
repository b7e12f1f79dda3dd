"""Forensic Workbench: offline image forensics for investigators."""

__version__ = "0.1.0"
