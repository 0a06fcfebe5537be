"""The store node: a store's stock and assigned orders on SQLite, its API, screens and sync client."""
