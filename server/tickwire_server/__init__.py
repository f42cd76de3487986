"""tickwire server: config, sources, cache, hub, service and app."""
