"""What the bundle loaded, for people and for Prometheus: the month x type status grid
(status.py) and the metrics built from it (metrics.py)."""
