"""Dialect translators between client and upstream APIs: pure, streaming-aware."""
