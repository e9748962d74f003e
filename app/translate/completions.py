"""Legacy Completions clients (`POST /v1/completions`) on a Chat Completions hub: request, reply, stream.

Used where the upstream has no completions endpoint of its own (Anthropic, Gemini, OpenAI's chat
models, the demo provider): the prompt becomes the one user message and the answer's text comes back
as `choices[].text`. An upstream with its own endpoint gets the request as it came (see
app/gateway/completions.py).

Where the dialects differ (UnsupportedFeatureError names the field):

- `prompt` must be one string (or a list holding one): token prompts and several prompts per request
  have no chat form.
- Refused: `suffix` (fill-in-the-middle), `logprobs` (chat's logprobs are shaped differently), `best_of`
  above 1.
- `echo` puts the prompt in front of each choice's text (a stream sends it first).
- Passed on as they are: `max_tokens`, `temperature`, `top_p`, `n`, `stop`, `presence_penalty`,
  `frequency_penalty`, `seed`, `logit_bias`, `user`, `stream`, `stream_options`. Anything else is
  dropped: it has no meaning for a chat upstream.
- Replies: `finish_reason` other than stop, length or content_filter reads as stop; `id` is the
  chat id with a `cmpl-` prefix.
"""

from __future__ import annotations

import time
from typing import Any

from app.errors import UnsupportedFeatureError

__all__ = [
    "ChatToCompletionStream",
    "chat_response_to_completion",
    "completion_id",
    "completions_request_to_chat",
    "hook_chat",
    "prompt_texts",
    "single_prompt",
]

Json = dict[str, Any]

_PASSED = (
    "max_tokens",
    "temperature",
    "top_p",
    "n",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "logit_bias",
    "user",
    "stream",
    "stream_options",
)
_FINISH = frozenset({"stop", "length", "content_filter"})


def single_prompt(body: Json) -> str | None:
    """The prompt when it is one string (or a list of one string); None for tokens or several prompts."""
    texts = prompt_texts(body)
    return texts[0] if texts is not None and len(texts) == 1 else None


def prompt_texts(body: Json) -> list[str] | None:
    """Every prompt when they are text (one string or a list of strings); None for token prompts."""
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        return list(prompt)
    return None


def hook_chat(body: Json) -> Json:
    """What request hooks read: every text prompt as a user message, whichever way the request goes
    (an upstream's own endpoint takes `suffix`, `logprobs` and several prompts; chat does not)."""
    chat: Json = {
        "model": body.get("model"),
        "messages": [{"role": "user", "content": p} for p in prompt_texts(body) or ()],
    }
    for name in _PASSED:
        value = body.get(name)
        if value is not None:
            chat[name] = value
    return chat


def completions_request_to_chat(body: Json) -> Json:
    """A completions request as a chat request; raises UnsupportedFeatureError where there is none."""
    prompt = single_prompt(body)
    if prompt is None:
        raise UnsupportedFeatureError(
            "A 'prompt' of tokens, or several prompts per request, needs an upstream with a completions "
            "endpoint of its own; send one string prompt per request to this model",
            param="prompt",
        )
    _refuse_unsupported(body)
    return hook_chat({**body, "prompt": prompt})


def _refuse_unsupported(body: Json) -> None:
    if body.get("suffix"):
        raise UnsupportedFeatureError(
            "'suffix' (fill-in-the-middle) needs an upstream with a completions endpoint of its own", param="suffix"
        )
    if body.get("logprobs") is not None:
        raise UnsupportedFeatureError(
            "'logprobs' needs an upstream with a completions endpoint of its own (chat models report logprobs "
            "through /v1/chat/completions)",
            param="logprobs",
        )
    best_of = body.get("best_of")
    if isinstance(best_of, int) and best_of > 1:
        raise UnsupportedFeatureError(
            "'best_of' above 1 needs an upstream with a completions endpoint of its own", param="best_of"
        )


def completion_id(chat_id: Any) -> str:
    text = str(chat_id or "")
    if text.startswith("cmpl-"):
        return text
    if text.startswith("chatcmpl-"):
        return "cmpl-" + text[len("chatcmpl-") :]
    return "cmpl-" + text if text else "cmpl-" + format(time.time_ns(), "x")


def _finish(reason: Any) -> str | None:
    if reason is None:
        return None
    return str(reason) if reason in _FINISH else "stop"


def chat_response_to_completion(chat: Json, public_model: str, echo: str | None) -> Json:
    choices = []
    for i, choice in enumerate(chat.get("choices") or ()):
        if not isinstance(choice, dict):
            continue
        message = choice.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        text = content if isinstance(content, str) else ""
        choices.append(
            {
                "text": (echo or "") + text,
                "index": choice.get("index", i),
                "logprobs": None,
                "finish_reason": _finish(choice.get("finish_reason")),
            }
        )
    doc: Json = {
        "id": completion_id(chat.get("id")),
        "object": "text_completion",
        "created": chat.get("created") or int(time.time()),
        "model": public_model,
        "choices": choices,
    }
    if chat.get("system_fingerprint") is not None:
        doc["system_fingerprint"] = chat["system_fingerprint"]
    if isinstance(chat.get("usage"), dict):
        doc["usage"] = chat["usage"]
    return doc


class ChatToCompletionStream:
    """Chat chunks -> completion chunks: each choice's content delta as its `text`."""

    def __init__(self, public_model: str, echo: str | None, wants_usage: bool) -> None:
        self._model = public_model
        self._echo = echo
        self._echoed: set[int] = set()
        self._wants_usage = wants_usage
        self._id: str | None = None
        self._created: int | None = None

    def feed(self, chunk: Json) -> list[Json]:
        if self._id is None:
            self._id = completion_id(chunk.get("id"))
            self._created = int(chunk.get("created") or time.time())
        raw = chunk.get("choices")
        usage = chunk.get("usage")
        if not raw:
            if isinstance(usage, dict) and self._wants_usage:
                return [self._chunk([], usage)]
            return []
        choices = []
        for i, choice in enumerate(raw):
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", i)
            delta = choice.get("delta")
            content = delta.get("content") if isinstance(delta, dict) else None
            text = content if isinstance(content, str) else ""
            if self._echo and index not in self._echoed:
                self._echoed.add(index)
                text = self._echo + text
            finish = _finish(choice.get("finish_reason"))
            if text or finish is not None:
                choices.append({"text": text, "index": index, "logprobs": None, "finish_reason": finish})
        if not choices:
            return []
        return [self._chunk(choices, usage if isinstance(usage, dict) and self._wants_usage else None)]

    def _chunk(self, choices: list[Json], usage: Json | None) -> Json:
        doc: Json = {
            "id": self._id,
            "object": "text_completion",
            "created": self._created,
            "model": self._model,
            "choices": choices,
        }
        if usage is not None:
            doc["usage"] = usage
        return doc
