"""The prompt form (model, messages, parameters, variable defaults) -> a template, and the lists the page shows.

The form keeps what was typed (the parameters' JSON, the `name=value` lines) so a mistake is shown on
the text the operator wrote; `parse_prompt_form` also gives the PromptTemplate-shaped document the
service validates, whose 422 field paths (`messages[1].content`, `params`) are the form's error keys.
"""

from __future__ import annotations

import json
import re
from typing import Any

from litestar.datastructures import FormMultiDict

from app.api.admin.schemas import PromptCreate
from app.catalog.services.records import PromptVersion
from app.catalog.services.validation import convert_strict
from app.gateway.snapshot import CatalogSnapshot
from app.prompts.expand import PREFIX
from app.prompts.template import PARAMS, PromptTemplate
from app.ui_support.forms import FormDoc, rows, text

__all__ = [
    "PARAM_NAMES",
    "ROLES",
    "blank_prompt",
    "needed",
    "parse_prompt_form",
    "prompt_doc",
    "routable_models",
    "to_template",
]

ROLES = ("system", "developer", "user", "assistant")
PARAM_NAMES = ", ".join(sorted(PARAMS))
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
"""PromptTemplate's own rule for a variable name, checked here to name the offending line (the service's
422 for a bad mapping key names no usable field)."""


def blank_prompt() -> FormDoc:
    """A system and a user message to fill: the usual shape of a template."""
    return {
        "name": "",
        "model": "",
        "description": "",
        "messages": [{"role": "system", "content": ""}, {"role": "user", "content": ""}],
        "params": "",
        "variables": "",
        "publish": True,
    }


def prompt_doc(version: PromptVersion, name: str = "") -> FormDoc:
    """A stored version as the form shows it: the base of the next version."""
    template = version.template
    return {
        "name": name,
        "model": template.model,
        "description": template.description,
        "messages": [{"role": m.role, "content": m.content} for m in template.messages],
        "params": json.dumps(template.params, indent=2, ensure_ascii=False) if template.params else "",
        "variables": "\n".join(f"{k}={v}" for k, v in template.variables.items()),
        "publish": True,
    }


def _params(raw: str, problems: dict[str, str]) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        problems["params"] = f"is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        return {}
    if not isinstance(value, dict):
        problems["params"] = 'must be a JSON object, e.g. {"temperature": 0.2}'
        return {}
    return value  # unknown names are the template's own check (a 422 on `params`)


def _variables(raw: str, problems: dict[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep:
            problems.setdefault("variables", f"line {number}: write name=value")
        elif not _VARIABLE.match(name):
            message = f"line {number}: '{name[:64]}' is not a variable name (letters, digits and _, not a digit first)"
            problems.setdefault("variables", message)
        else:
            found[name] = value.strip()
    return found


def parse_prompt_form(form: FormMultiDict) -> tuple[FormDoc, FormDoc, dict[str, str]]:
    """(the form as typed, the PromptTemplate-shaped document, the problems found here).

    Message rows without text are dropped (a spare blank row is not a message), so the document's
    indexes, which the service's errors use, count only the kept rows; the form shows exactly those.
    """
    problems: dict[str, str] = {}
    # `items()`, not `multi_items()`: Litestar's multi_items walks a set of the names, and the order of
    # the messages is the template's meaning
    messages = [
        {"role": row.get("role") or "user", "content": row.get("content", "")}
        for row in rows(form.items(), "messages")
        if row.get("content")
    ]
    if not messages:
        problems["messages"] = "add at least one message"
    if text(form, "name") == "new":  # /ui/prompts/new is this form: a prompt by that name would have no page here
        problems["name"] = "'new' is taken by this page's address; choose another name"
    shown: FormDoc = {
        "name": text(form, "name"),
        "model": text(form, "model"),
        "description": text(form, "description"),
        "messages": messages or blank_prompt()["messages"],
        "params": text(form, "params"),
        "variables": text(form, "variables"),
        "publish": form.get("publish") == "on",
    }
    doc: FormDoc = {
        "model": shown["model"],
        "messages": messages,
        "params": _params(shown["params"], problems),
        "variables": _variables(shown["variables"], problems),
        "description": shown["description"],
    }
    return shown, doc, problems


def to_template(doc: FormDoc, name: str | None = None) -> PromptTemplate:
    """The document as a template (a 422 naming every bad field); with a name, that is checked too."""
    if name is None:
        return convert_strict(doc, PromptTemplate)
    created = convert_strict({**doc, "name": name}, PromptCreate)  # the API's own rule for prompt names
    return PromptTemplate(**{f: getattr(created, f) for f in PromptTemplate.__struct_fields__})


def needed(version: PromptVersion) -> list[str]:
    """The variables every caller must give: the slots without a default."""
    return [slot for slot in version.variables if slot not in version.template.variables]


def routable_models(snapshot: CatalogSnapshot) -> list[str]:
    """Full routable names to suggest for a template's model, routes first (the usual choice: a route's
    fallback then covers the prompt too)."""
    names = sorted(n for n, resolved in snapshot.models.items() if n == resolved.name and not n.startswith(PREFIX))
    return [n for n in names if n in snapshot.routes] + [n for n in names if n not in snapshot.routes]
