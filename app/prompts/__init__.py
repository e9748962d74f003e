"""Prompt templates: stored versions, rendered into requests by name."""
