"""The store's business rules in plain Python: no Flask, no SQL, no clock, no I/O."""
