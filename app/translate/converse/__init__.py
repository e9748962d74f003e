"""Chat Completions <-> Bedrock Converse translators: requests, responses and streams."""
