"""Usage events, cost, the batched writer and the daily rollups."""
