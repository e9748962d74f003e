"""`pii`: mask (or refuse) personal data in requests before they leave the gateway.

Detected entities, each validated beyond its shape where a checksum exists, so ordinary numbers
are not taken for them: `SECRET` (API keys of OpenAI, Anthropic, AWS, GitHub, Slack, Google and
Stripe, JWTs, PEM private keys), `EMAIL`, `CREDIT_CARD` (13-19 digits, Luhn), `IBAN` (ISO 13616 mod 97),
`US_SSN` (dashed, area/group/serial rules), `PHONE` (international `+` numbers and North American
formatted ones), `IP_ADDRESS` (IPv4 and IPv6, parsed). `patterns` adds named regexes of your own.

`action: mask` (the default) rewrites every text of the request (message contents, text parts,
tool-call arguments) with numbered placeholders, `[EMAIL_1]`, `[EMAIL_2]`: one value keeps one
number within a request, so the model can still tell two addresses apart, and nothing of the value
goes upstream. The answer says what was masked in `x-polyroute-pii: EMAIL=2,PHONE=1` (counts, never
values). `action: block` refuses the request instead (400 `CONTENT_BLOCKED`, naming the entity
types). `responses: true` also refuses an answer that contains any of them. `restore: true` gives the
caller the values back wherever the answer repeats a placeholder (the model never sees them).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from hooks.base import BaseHook, HookContext, HookResponse, HookResult, HookVerdict, chat_text

__all__ = ["ENTITIES", "PiiMask", "find_pii"]


def _luhn(text: str) -> bool:
    digits = [int(c) for c in text if c.isdigit()]
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _iban(text: str) -> bool:
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _always(_: str) -> bool:
    return True


Check = Callable[[str], bool]

# Order matters: each entity is replaced before the next is looked for, so a card number is never
# read as a phone number and an address's digits never as anything else.
_SECRET = re.compile(
    "|".join(
        (
            r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z]+ )*PRIVATE KEY-----",
            r"\bsk-(?:[A-Za-z0-9]+-)*[A-Za-z0-9_]{20,}",  # OpenAI, Anthropic (sk-ant-...), ours (sk-poly-...)
            r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key ids
            r"\bgh[pousr]_[A-Za-z0-9]{36,}\b|\bgithub_pat_[A-Za-z0-9_]{40,}",
            r"\bxox[abprs]-[A-Za-z0-9-]{10,}",  # Slack
            r"\bAIza[0-9A-Za-z_-]{35}",  # Google API keys
            r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}",  # Stripe
            r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",  # JWTs
        )
    )
)

ENTITIES: dict[str, tuple[re.Pattern[str], Check]] = {
    "SECRET": (_SECRET, _always),
    "EMAIL": (re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"), _always),
    "CREDIT_CARD": (re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])"), _luhn),
    "IBAN": (re.compile(r"\b[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)\b"), _iban),
    "US_SSN": (re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])"), _always),
    "PHONE": (
        re.compile(
            r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?![\d-])"
            r"|(?<![\w(])(?:\(\d{3}\) ?|\d{3}[.-])\d{3}[.-]\d{4}(?![\d-])"
        ),
        lambda text: 8 <= sum(c.isdigit() for c in text) <= 15,
    ),
    "IP_ADDRESS": (
        re.compile(r"(?<![\w.:])(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})(?![\w.:])"),
        _ip,
    ),
}


def find_pii(text: str, detectors: Mapping[str, tuple[re.Pattern[str], Check]] = ENTITIES) -> list[tuple[str, str]]:
    """Every (entity, value) found in `text`, in detector order, each value once per entity."""
    found: dict[tuple[str, str], None] = {}
    for entity, (pattern, check) in detectors.items():
        hits = [m.group(0) for m in pattern.finditer(text) if check(m.group(0))]
        if hits:
            found.update(dict.fromkeys((entity, value) for value in hits))
            text = pattern.sub(lambda m, c=check: " " if c(m.group(0)) else m.group(0), text)  # type: ignore[misc]
    return list(found)


class _Masker:
    """One request's placeholders: the same value gets the same number everywhere in the request."""

    def __init__(self, detectors: Mapping[str, tuple[re.Pattern[str], Check]], template: str) -> None:
        self._detectors = detectors
        self._template = template
        self.numbers: dict[tuple[str, str], int] = {}
        self.counts: dict[str, int] = {}

    def _placeholder(self, entity: str, value: str) -> str:
        number = self.numbers.get((entity, value))
        if number is None:
            number = self.counts.get(entity, 0) + 1
            self.counts[entity] = number
            self.numbers[(entity, value)] = number
        return self._template.format(entity=entity, n=number)

    def placeholders(self) -> dict[str, str]:
        """Each placeholder used -> the value it stands for."""
        return {self._template.format(entity=e, n=n): value for (e, value), n in self.numbers.items()}

    def text(self, text: str) -> str:
        for entity, (pattern, check) in self._detectors.items():
            text = pattern.sub(
                lambda m, e=entity, c=check: self._placeholder(e, m.group(0)) if c(m.group(0)) else m.group(0),  # type: ignore[misc]
                text,
            )
        return text

    def message(self, message: Any) -> Any:
        if not isinstance(message, dict):
            return message
        out = dict(message)
        content = message.get("content")
        if isinstance(content, str):
            out["content"] = self.text(content)
        elif isinstance(content, list):
            out["content"] = [
                {**part, "text": self.text(part["text"])}
                if isinstance(part, dict) and isinstance(part.get("text"), str)
                else part
                for part in content
            ]
        calls = message.get("tool_calls")
        if isinstance(calls, list):
            out["tool_calls"] = [self._call(call) for call in calls]
        return out

    def _call(self, call: Any) -> Any:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("arguments"), str):
            return call
        return {**call, "function": {**function, "arguments": self.text(function["arguments"])}}


class PiiMask(BaseHook):
    """Options: `entities` (default all), `action` (`mask` | `block`), `patterns` ({NAME: regex}),
    `placeholder` (default `[{entity}_{n}]`), `responses` (refuse answers that contain any), `restore`
    (put the values back where the answer repeats a placeholder)."""

    name: ClassVar[str] = "pii"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        wanted = self.options.get("entities")
        names = list(ENTITIES) if wanted is None else [str(n).upper() for n in wanted]
        unknown = [n for n in names if n not in ENTITIES]
        if unknown:
            raise ValueError(f"pii: unknown entities {unknown}; known: {', '.join(ENTITIES)}")
        self._detectors: dict[str, tuple[re.Pattern[str], Check]] = {n: ENTITIES[n] for n in names}
        patterns = self.options.get("patterns") or {}
        if not isinstance(patterns, Mapping):
            raise ValueError("pii: patterns must be a mapping of entity name to regex")
        for name, regex in patterns.items():
            self._detectors[str(name).upper()] = (re.compile(str(regex)), _always)
        self._action = str(self.options.get("action", "mask"))
        if self._action not in ("mask", "block"):
            raise ValueError("pii: action must be 'mask' or 'block'")
        self._template = str(self.options.get("placeholder", "[{entity}_{n}]"))
        self._template.format(entity="EMAIL", n=1)  # a bad template fails when the hook is built
        self._responses = bool(self.options.get("responses", False))
        self._restore = bool(self.options.get("restore", False))
        if self._restore and self._action == "block":
            raise ValueError("pii: restore goes with action 'mask' (a blocked request has no answer)")

    def _refusal(self, found: list[tuple[str, str]], what: str) -> HookVerdict:
        kinds = ", ".join(dict.fromkeys(entity for entity, _ in found))
        return HookVerdict.reject(f"The {what} contains personal data ({kinds}) ({self.name})")

    def before(self, ctx: HookContext) -> HookResult:
        text, _ = chat_text(ctx.request)
        found = find_pii(text, self._detectors)
        if not found:
            return HookVerdict.allow()
        if self._action == "block":
            return self._refusal(found, "request")
        masker = _Masker(self._detectors, self._template)
        messages = [masker.message(m) for m in ctx.request.get("messages") or ()]
        counts = ",".join(f"{entity}={n}" for entity, n in masker.counts.items())
        restore = masker.placeholders() if self._restore else None
        return HookVerdict.rewrite({**ctx.request, "messages": messages}, {"x-polyroute-pii": counts}, restore)

    def after(self, ctx: HookContext, response: HookResponse) -> HookResult:
        if self._responses:
            found = find_pii(response.text, self._detectors)
            if found:
                return self._refusal(found, "answer")
        return HookVerdict.allow()

    def on_chunk(self, ctx: HookContext, text_delta: str) -> HookResult:
        return self.after(ctx, HookResponse(text_delta, True))
