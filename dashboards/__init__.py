"""Templates and static files of the web UI; Grafana dashboards and Prometheus rules for users of those."""
