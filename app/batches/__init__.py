"""OpenAI-style files and batches: run on the task runner, or passed through to a provider's batch API."""
