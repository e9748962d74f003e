"""Plan limits: requests per minute, tokens per minute, daily caps, monthly budgets."""
