"""CLI command groups, one module per area; ``flyer.cli`` mounts them."""
