"""HTTP APIs of the collector, one router per area (internals §7)."""
