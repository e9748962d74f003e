"""Metrics, tracing and logs: what an operator sees of a running gateway."""
