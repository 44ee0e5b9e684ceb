"""Metrics, logs and exporters: what every process tells Prometheus and the log."""
