"""The pipeline's prompt step: a request that names one of our prompts is replaced by the rendered one.

Runs only when the catalog holds prompts, and decodes a body only when its bytes could name one;
the endpoint's own parser then reads the rendered body as if the caller had sent it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from app.errors import InvalidModelError, InvalidRequestError
from app.gateway.call import Call
from app.gateway.snapshot import PromptEntry
from app.prompts.template import PromptTemplate, RenderError, chat_body, messages_body, responses_body

__all__ = ["PREFIX", "expand"]

PREFIX = "prompt/"

Builder = Callable[[PromptTemplate, Mapping[str, Any], Any], dict[str, Any]]
_BUILDERS: dict[str, Builder] = {
    "chat.completions": lambda t, body, _: chat_body(t, body),
    "messages": lambda t, body, _: messages_body(t, body),
    "responses": responses_body,
}


def _reference(endpoint: str, body: Mapping[str, Any], prompts: Mapping[str, PromptEntry]) -> tuple[str, Any] | None:
    """(`name[@version]`, variables) when the body names one of our prompts."""
    model = body.get("model")
    if isinstance(model, str) and model.startswith(PREFIX):
        return model[len(PREFIX) :], body.get("variables")
    prompt = body.get("prompt")  # the Responses API's own `prompt: {id, version, variables}`
    if endpoint == "responses" and isinstance(prompt, dict) and prompt.get("id") in prompts:
        version = prompt.get("version")
        return f"{prompt['id']}@{version}" if version not in (None, "") else str(prompt["id"]), prompt.get("variables")
    return None


def _template(reference: str, prompts: Mapping[str, PromptEntry]) -> tuple[PromptTemplate, str]:
    name, _, wanted = reference.partition("@")
    entry = prompts.get(name)
    if entry is None:
        raise InvalidModelError(f"Unknown prompt '{name[:120]}'", param="model")
    number = entry.published if not wanted else int(wanted) if wanted.isdigit() else -1
    template = entry.versions.get(number)
    if template is None:
        raise InvalidModelError(f"Prompt '{name}' has no version '{wanted[:20]}'", param="model")
    return template, f"{name}@{number}"


def expand(call: Call, prompts: Mapping[str, PromptEntry]) -> str | None:
    """Render the prompt the request names into `call.raw`; returns `name@version`, or None when it names none."""
    build = _BUILDERS.get(call.endpoint)
    if build is None:
        return None
    raw = call.raw
    # Only a body that could name a prompt is decoded here: `"prompt/` as a model, or the Responses API's
    # `"prompt"` member (user text that merely mentions prompts is not enough).
    if b'"prompt/' not in raw and not (call.endpoint == "responses" and b'"prompt"' in raw):
        return None
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None  # the endpoint's parser says what is wrong with it
    if not isinstance(body, dict):
        return None
    found = _reference(call.endpoint, body, prompts)
    if found is None:
        return None
    template, served = _template(found[0], prompts)
    try:
        call.raw = msgspec.json.encode(build(template, body, found[1]))
    except RenderError as exc:
        raise InvalidRequestError(str(exc), param=exc.param) from None
    return served
