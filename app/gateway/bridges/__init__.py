"""Bridges between dialects through the hub (Chat Completions): one side for callers, one for upstreams."""
