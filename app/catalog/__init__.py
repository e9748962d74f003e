"""The catalog: providers, routes, plans and keys -- validated, stored, and turned into snapshots."""
