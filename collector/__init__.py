"""The collector: scraping, the TSDB, PromQL, alert rules and notifiers, the log store, the web app."""
