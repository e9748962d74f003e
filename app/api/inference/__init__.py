"""Inference endpoints (API key): thin ASGI handlers that decode, call the pipeline, render."""
