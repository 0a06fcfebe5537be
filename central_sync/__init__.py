"""The central hub: catalogue, network stock view, order intake and routing, sync endpoint, console."""
