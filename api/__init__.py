"""The Docker Engine API server: one router module per resource, over the runtime's public functions."""
