"""Storage: piccolo tables and the engine chosen from the database URL."""
