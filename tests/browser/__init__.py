"""Browser tests of the hub's screens (a package, so that they can share conftest helpers)."""
