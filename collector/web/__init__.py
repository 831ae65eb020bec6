"""The collector's HTML pages (jinja2 templates and static files live in dashboards/)."""
