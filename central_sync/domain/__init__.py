"""Hub domain: plain Python rules (routing, rebalancing), no I/O."""
