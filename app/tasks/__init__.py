"""Asynchronous tasks: durable inference calls run by a leased worker pool, with signed webhooks."""
