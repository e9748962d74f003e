"""Alerts: budgets crossed, raised once across replicas, sent to a webhook."""
