"""The Textual app: one screen per step. Imported only when the TUI is asked for."""
