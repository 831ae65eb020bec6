"""The agent: cgroup and /proc readers, discovery, the cAdvisor-compatible exporter, the log shipper."""
