"""Health of each (provider, model): latency scores, error windows and circuit breakers."""
