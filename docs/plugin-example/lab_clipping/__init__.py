"""Clipped-pixel map: a Forensic Workbench plugin (the example of docs/plugins.md)."""
