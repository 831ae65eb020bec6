"""pydock: a container runtime with Docker's log drivers, a cAdvisor-compatible agent and a collector."""

__version__ = "0.1.0"
