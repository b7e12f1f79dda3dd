"""Built-in analyzer families, one folder each (see ARCHITECTURE.md)."""
