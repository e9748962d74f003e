"""Chat Completions <-> Gemini translators: requests, JSON schemas, responses and streams, embeddings."""
