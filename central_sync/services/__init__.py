"""The hub's use cases: sync ingest, order intake, routing, catalogue, stores; one transaction each."""
