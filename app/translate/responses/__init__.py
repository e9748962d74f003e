"""OpenAI Responses <-> Chat Completions: requests, whole answers, and streams, as pure functions."""

from __future__ import annotations

from app.translate.responses.request import (
    has_web_search,
    is_web_search_tool,
    responses_request_to_chat,
    with_canonical_call_ids,
)
from app.translate.responses.response import chat_response_to_responses, response_to_history, responses_usage
from app.translate.responses.stream import ChatToResponsesStream

__all__ = [
    "ChatToResponsesStream",
    "chat_response_to_responses",
    "has_web_search",
    "is_web_search_tool",
    "response_to_history",
    "responses_request_to_chat",
    "responses_usage",
    "with_canonical_call_ids",
]
