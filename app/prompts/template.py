"""Prompt templates: their shape, their variables, and a request built from one. Pure functions, no I/O.

A template is Chat Completions messages with `{{ variable }}` slots, the model they go to and default
generation parameters. A caller names it as its model (`prompt/<name>`, `prompt/<name>@<version>`)
and fills the slots with `variables`; the template's messages come first, the caller's own follow.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

__all__ = [
    "PARAMS",
    "PromptMessage",
    "PromptTemplate",
    "RenderError",
    "chat_body",
    "messages_body",
    "render",
    "responses_body",
    "slots",
]

_SLOT = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}")

PARAMS = frozenset({
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "presence_penalty",
    "frequency_penalty", "seed", "response_format", "tools", "tool_choice", "reasoning_effort", "n",
})  # fmt: skip
"""Chat Completions parameters a template may set as defaults (a caller's own value wins)."""


class PromptMessage(msgspec.Struct, forbid_unknown_fields=True):
    role: Literal["system", "developer", "user", "assistant"]
    content: Annotated[str, Meta(min_length=1, max_length=50_000)]


class PromptTemplate(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """What one version of a prompt holds."""

    model: Annotated[str, Meta(min_length=1, max_length=200)]
    """A routable name (`route/support`, `openai/gpt-4.1-mini`): where the rendered request goes."""
    messages: Annotated[list[PromptMessage], Meta(min_length=1, max_length=200)]
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    """Default Chat Completions parameters (`temperature`, `max_tokens`, ...; see PARAMS)."""
    variables: dict[Annotated[str, Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")], str] = msgspec.field(
        default_factory=dict
    )
    """Default values; a slot without one must be filled by every caller."""
    description: Annotated[str, Meta(max_length=2000)] = ""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.params) - PARAMS)
        if unknown:
            raise ValueError(f"params: unknown parameter {unknown[0]!r}; one of {', '.join(sorted(PARAMS))}")


def slots(template: PromptTemplate) -> list[str]:
    """Every variable the messages use, in order of first use."""
    found: dict[str, None] = {}
    for message in template.messages:
        found.update(dict.fromkeys(_SLOT.findall(message.content)))
    return list(found)


class RenderError(ValueError):
    """A variable is missing or not text: `param` names it (`variables.customer`)."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


def _values(template: PromptTemplate, given: Any) -> dict[str, str]:
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        raise RenderError("'variables' must be an object of names to text", "variables")
    values = dict(template.variables)
    for name, value in given.items():
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise RenderError(f"Variable '{str(name)[:64]}' must be text or a number", f"variables.{str(name)[:64]}")
        values[str(name)] = str(value)
    missing = [name for name in slots(template) if name not in values]
    if missing:
        raise RenderError(f"The prompt needs the variable '{missing[0]}'", f"variables.{missing[0]}")
    return values


def render(template: PromptTemplate, variables: Any) -> list[dict[str, str]]:
    """The template's messages with every slot filled (values are inserted as they are, never re-read)."""
    values = _values(template, variables)
    return [
        {"role": m.role, "content": _SLOT.sub(lambda match: values[match.group(1)], m.content)}
        for m in template.messages
    ]


def _caller(body: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("model", "variables", "prompt")}


def chat_body(template: PromptTemplate, body: Mapping[str, Any]) -> dict[str, Any]:
    """A Chat Completions request: the template's parameters under the caller's, its messages first."""
    own = _caller(body)
    messages = render(template, body.get("variables"))
    theirs = own.pop("messages", None)
    if isinstance(theirs, list):
        messages += theirs
    return {**template.params, **own, "model": template.model, "messages": messages}


def _system(messages: list[dict[str, str]]) -> tuple[str, list[dict[str, str]]]:
    system = [m["content"] for m in messages if m["role"] in ("system", "developer")]
    return "\n\n".join(system), [m for m in messages if m["role"] not in ("system", "developer")]


def _joined(ours: str, theirs: Any) -> Any:
    """The template's system text before the caller's (a string or a list of content blocks)."""
    if not ours:
        return theirs
    if isinstance(theirs, str) and theirs:
        return f"{ours}\n\n{theirs}"
    if isinstance(theirs, list) and theirs:
        return [{"type": "text", "text": ours}, *theirs]
    return ours


def messages_body(template: PromptTemplate, body: Mapping[str, Any]) -> dict[str, Any]:
    """An Anthropic Messages request: system messages become `system`; the parameters Messages has carry over."""
    own = _caller(body)
    system, messages = _system(render(template, body.get("variables")))
    theirs = own.pop("messages", None)
    out: dict[str, Any] = {"model": template.model}
    params = template.params
    for ours, name in (("temperature", "temperature"), ("top_p", "top_p")):
        if ours in params:
            out[name] = params[ours]
    if "max_tokens" in params or "max_completion_tokens" in params:
        out["max_tokens"] = params.get("max_completion_tokens", params.get("max_tokens"))
    if "stop" in params:
        out["stop_sequences"] = [params["stop"]] if isinstance(params["stop"], str) else params["stop"]
    out.update(own)
    if system or "system" in own:
        out["system"] = _joined(system, own.get("system"))
    out["messages"] = _alternating([*messages, *(theirs if isinstance(theirs, list) else [])])
    return out


def _alternating(messages: list[Any]) -> list[Any]:
    """Adjacent turns of one role made one (the template's last user turn and the caller's first), as
    Anthropic-style upstreams want roles to alternate."""
    out: list[Any] = []
    for message in messages:
        last = out[-1] if out else None
        if isinstance(last, dict) and isinstance(message, dict) and last.get("role") == message.get("role"):
            out[-1] = {**message, "content": _blocks(last.get("content")) + _blocks(message.get("content"))}
        else:
            out.append(message)
    return out


def _blocks(content: Any) -> list[Any]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content) if isinstance(content, list) else []


def responses_body(template: PromptTemplate, body: Mapping[str, Any], variables: Any) -> dict[str, Any]:
    """A Responses request: system messages become `instructions`, the rest `input` before the caller's."""
    own = _caller(body)
    system, messages = _system(render(template, variables))
    out: dict[str, Any] = {"model": template.model}
    params = template.params
    for ours, name in (("temperature", "temperature"), ("top_p", "top_p"), ("max_tokens", "max_output_tokens")):
        if ours in params:
            out[name] = params[ours]
    if "max_completion_tokens" in params:
        out["max_output_tokens"] = params["max_completion_tokens"]
    out.update(own)
    if system or "instructions" in own:
        theirs = own.get("instructions")
        out["instructions"] = (
            f"{system}\n\n{theirs}" if system and isinstance(theirs, str) and theirs else system or theirs
        )
    given = own.get("input")
    tail = [{"role": "user", "content": given}] if isinstance(given, str) else given if isinstance(given, list) else []
    out["input"] = [{"role": m["role"], "content": m["content"]} for m in messages] + tail
    return out
