"""Catalog service functions: validate, write, bump the version, refresh this replica's snapshot."""

__all__: list[str] = []
