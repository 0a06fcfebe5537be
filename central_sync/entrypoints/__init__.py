"""How the outside reaches the hub: the Flask app and JSON API, the CLI, the jobs, the demo."""
