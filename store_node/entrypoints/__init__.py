"""How the outside reaches the store node: the Flask app, its JSON API and screens, the CLI, jobs."""
