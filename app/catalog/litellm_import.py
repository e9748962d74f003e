"""A LiteLLM proxy `config.yaml` as a Polyroute config file: `polyroute config import-litellm FILE`.

Pure: a decoded LiteLLM document in, a Polyroute document and the notes on what did not carry over out.

- Each distinct upstream account (provider kind, base URL, credentials, API version, region) becomes one
  provider, named after its kind (`azure`, `azure-2`, ...); each `model_list` entry a model of it.
- Each `model_name` becomes a route of that name over its deployments (LiteLLM load-balances them; here
  `latency-weighted`, or `cost-based` for `cost-based-routing`), so clients keep the names they call.
  `litellm_settings.fallbacks` (and `context_window_fallbacks`) append the fallback groups' targets at
  higher priorities, under the `tiered` strategy (balanced within a tier, fallen back across tiers).
  A wildcard entry (`model_name: "openai/*"`) becomes a glob model of its provider:
  `<provider>/<model>` names then work as before.
- `os.environ/NAME` becomes `${NAME}`; `model_info` prices per token become prices per million;
  `max_input_tokens`/`max_tokens` the context window; `timeout`/`stream_timeout` the provider's
  timeouts; `num_retries` each route's retries.
- A deployment's `rpm`/`tpm` become its model's quota (routes skip it for the minute once reached).
- Not carried over, each named in a note: `max_parallel_requests` (a provider's `max_concurrent` is per
  worker), callbacks, caching and guardrail settings, the master key (use POLYROUTE_ADMIN_KEY), unknown
  providers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ImportResult", "import_litellm"]

Json = dict[str, Any]

_OPENAI_COMPATIBLE: dict[str, tuple[str, str | None]] = {
    "groq": ("https://api.groq.com/openai/v1", "groq"),
    "deepseek": ("https://api.deepseek.com/v1", "deepseek"),
    "together_ai": ("https://api.together.xyz/v1", "together"),
    "fireworks_ai": ("https://api.fireworks.ai/inference/v1", "fireworks"),
    "mistral": ("https://api.mistral.ai/v1", "mistral"),
    "openrouter": ("https://openrouter.ai/api/v1", "openrouter"),
    "hosted_vllm": ("", "vllm"),
    "ollama": ("http://localhost:11434", "ollama"),
    "ollama_chat": ("http://localhost:11434", "ollama"),
    "lm_studio": ("http://localhost:1234/v1", None),
    "xai": ("https://api.x.ai/v1", None),
    "perplexity": ("https://api.perplexity.ai", "chat-only"),
    "cerebras": ("https://api.cerebras.ai/v1", "chat-only"),
}
"""LiteLLM provider prefixes that are OpenAI's dialect elsewhere: default base URL and quirks row."""
_STRATEGIES = {"cost-based-routing": "cost-based"}
_ENV = re.compile(r"^os\.environ/([A-Za-z_][A-Za-z0-9_]*)$")
_ROUTE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/\-]{0,199}$")


@dataclass
class ImportResult:
    config: Json
    notes: list[str] = field(default_factory=list)


@dataclass
class _Account:
    name: str
    spec: Json
    models: dict[str, Json] = field(default_factory=dict)


def _value(raw: Any) -> Any:
    """`os.environ/NAME` -> `${NAME}`; anything else as it is."""
    if isinstance(raw, str):
        found = _ENV.match(raw.strip())
        if found:
            return "${" + found.group(1) + "}"
    return raw


def _vertex_base(params: Json) -> str:
    location = str(_value(params.get("vertex_location")) or "us-central1")
    project = str(_value(params.get("vertex_project")) or "${VERTEX_PROJECT}")
    host = "aiplatform.googleapis.com" if location == "global" else f"{location}-aiplatform.googleapis.com"
    return f"https://{host}/v1/projects/{project}/locations/{location}"


def _openai(rest: str, params: Json, notes: list[str], where: str) -> Json:
    base = _value(params.get("api_base"))
    official = not base or "api.openai.com" in str(base)
    return {"kind": "openai" if official else "openai-compatible", "base_url": base or "https://api.openai.com/v1"}


def _azure(rest: str, params: Json, notes: list[str], where: str) -> Json:
    spec: Json = {"kind": "azure", "base_url": _value(params.get("api_base")) or "${AZURE_API_BASE}"}
    if params.get("api_version"):
        spec["api_version"] = str(_value(params["api_version"]))
    return spec


def _vertex(rest: str, params: Json, notes: list[str], where: str) -> Json:
    spec: Json = {
        "kind": "vertex-anthropic" if rest.startswith("claude") else "vertex",
        "base_url": _vertex_base(params),
    }
    credentials = _value(params.get("vertex_credentials"))
    if isinstance(credentials, str) and credentials.startswith("${"):
        spec["api_key"] = credentials
    else:
        spec["api_key"] = "${VERTEX_SERVICE_ACCOUNT_JSON}"
        notes.append(
            f"{where}: Vertex credentials are given as a key file's JSON: set VERTEX_SERVICE_ACCOUNT_JSON "
            '(e.g. VERTEX_SERVICE_ACCOUNT_JSON="$(cat key.json)")'
        )
    return spec


def _bedrock(rest: str, params: Json, notes: list[str], where: str) -> Json:
    api, _, model_id = rest.partition("/") if rest.startswith(("converse/", "invoke/")) else ("", "", rest)
    claude = "anthropic." in model_id
    region = str(_value(params.get("aws_region_name")) or "us-east-1")
    spec: Json = {
        "kind": "bedrock" if api == "invoke" or (claude and api != "converse") else "bedrock-converse",
        "base_url": _value(params.get("api_base")) or f"https://bedrock-runtime.{region}.amazonaws.com",
        "region": region,
    }
    if params.get("aws_access_key_id"):
        key = f"{_value(params['aws_access_key_id'])}:{_value(params.get('aws_secret_access_key'))}"
        spec["api_key"] = key + (f":{_value(params['aws_session_token'])}" if params.get("aws_session_token") else "")
    return spec


def _fixed(kind: str, default_base: str) -> Any:
    def spec(rest: str, params: Json, notes: list[str], where: str) -> Json:
        return {"kind": kind, "base_url": _value(params.get("api_base")) or default_base}

    return spec


def _compatible(prefix: str) -> Any:
    default, quirks = _OPENAI_COMPATIBLE[prefix]

    def spec(rest: str, params: Json, notes: list[str], where: str) -> Json | None:
        url = str(_value(params.get("api_base")) or default)
        if not url:
            notes.append(f"{where}: {prefix} needs an api_base; skipped")
            return None
        if prefix.startswith("ollama") and not url.rstrip("/").endswith("/v1"):
            url = url.rstrip("/") + "/v1"
        return {"kind": "openai-compatible", "base_url": url, **({"quirks": quirks} if quirks else {})}

    return spec


_PROVIDERS: dict[str, Any] = {
    "openai": _openai,
    "text-completion-openai": _openai,
    "azure": _azure,
    "azure_ai": _fixed("azure", "${AZURE_AI_API_BASE}"),
    "anthropic": _fixed("anthropic", "https://api.anthropic.com"),
    "gemini": _fixed("gemini", "https://generativelanguage.googleapis.com/v1beta"),
    "vertex_ai": _vertex,
    "bedrock": _bedrock,
    **{prefix: _compatible(prefix) for prefix in _OPENAI_COMPATIBLE},
}
"""LiteLLM provider prefix -> the Polyroute provider settings of a deployment."""


def _upstream(model: str, params: Json, notes: list[str], where: str) -> tuple[Json, str] | None:
    """The provider settings and the upstream model id of one deployment; None (with a note) when unknown."""
    prefix, sep, rest = model.partition("/")
    if not sep:
        prefix, rest = "openai", model
    make = _PROVIDERS.get(prefix)
    if make is None:
        notes.append(f"{where}: provider {prefix!r} has no Polyroute kind yet; skipped")
        return None
    spec = make(rest, params, notes, where)
    if spec is None:
        return None
    if prefix == "vertex_ai":
        rest = rest.removeprefix("anthropic/")
    elif prefix == "bedrock":
        rest = rest.removeprefix("converse/").removeprefix("invoke/")
    key = _value(params.get("api_key"))
    if key and "api_key" not in spec:
        spec["api_key"] = key
    if params.get("timeout") is not None:
        spec["timeout_s"] = float(params["timeout"])
    if params.get("stream_timeout") is not None:
        spec["first_token_timeout_s"] = float(params["stream_timeout"])
    return spec, rest


def _model(model_id: str, info: Json) -> Json:
    out: Json = {"id": model_id}
    for source, target in (
        ("input_cost_per_token", "input_cost_per_mtok"),
        ("output_cost_per_token", "output_cost_per_mtok"),
    ):
        if isinstance(info.get(source), int | float):
            out[target] = round(float(info[source]) * 1_000_000, 6)
    window = info.get("max_input_tokens") or info.get("max_tokens")
    if isinstance(window, int) and window > 0:
        out["context_window"] = window
    if info.get("mode") == "embedding":
        out["embeddings"] = True
    return out


class _Importer:
    def __init__(self, doc: Json) -> None:
        self.doc = doc
        self.notes: list[str] = []
        self.accounts: list[_Account] = []
        self.groups: dict[str, list[Json]] = {}

    def section(self, name: str) -> Json:
        found = self.doc.get(name)
        return found if isinstance(found, dict) else {}

    def account(self, spec: Json) -> _Account:
        for found in self.accounts:
            if found.spec == spec:
                return found
        taken = {a.name for a in self.accounts}
        name, n = spec["kind"], 2
        while name in taken:
            name, n = f"{spec['kind']}-{n}", n + 1
        found = _Account(name, spec)
        self.accounts.append(found)
        return found

    def deployment(self, index: int, entry: Any) -> None:
        where = f"model_list[{index}]"
        params = entry.get("litellm_params") if isinstance(entry, dict) else None
        name = entry.get("model_name") if isinstance(entry, dict) else None
        if not isinstance(params, dict) or not isinstance(params.get("model"), str) or not isinstance(name, str):
            self.notes.append(f"{where}: needs model_name and litellm_params.model; skipped")
            return
        found = _upstream(params["model"], params, self.notes, where)
        if found is None:
            return
        spec, model_id = found
        account = self.account(spec)
        info = entry.get("model_info") if isinstance(entry.get("model_info"), dict) else {}
        model = account.models.setdefault(model_id, _model(model_id, info))
        for limit in ("rpm", "tpm"):  # the deployment's quota: routes skip it for the minute once reached
            value = params.get(limit)
            if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31:
                model[limit] = value
            elif value is not None:
                self.notes.append(f"{where}: {limit} {value!r} is not a positive whole number; not carried over")
        if params.get("max_parallel_requests") is not None:
            self.notes.append(
                f"{where}: max_parallel_requests is not carried over (set the provider's max_concurrent, per worker)"
            )
        if "*" in name or "*" in model_id:
            return  # a glob of its provider: `<provider>/<model>` names it
        if not _ROUTE_NAME.match(name):
            self.notes.append(f"{where}: model_name {name[:60]!r} is not a valid route name; its deployment is kept")
            return
        weight = params.get("weight")
        target: Json = {"provider": account.name, "model": model_id}
        if isinstance(weight, int | float) and weight > 0:
            target["weight"] = float(weight)
        self.groups.setdefault(name, []).append(target)

    def routes(self) -> list[Json]:
        settings, router = self.section("litellm_settings"), self.section("router_settings")
        strategy = _STRATEGIES.get(str(router.get("routing_strategy") or ""), "latency-weighted")
        retries = router.get("num_retries", settings.get("num_retries"))
        fallbacks: dict[str, list[str]] = {}
        for key in ("fallbacks", "context_window_fallbacks"):
            for item in settings.get(key) or router.get(key) or []:
                for group, others in item.items() if isinstance(item, dict) else ():
                    fallbacks.setdefault(str(group), []).extend(str(o) for o in others or [])
        routes: list[Json] = []
        for name, targets in self.groups.items():
            all_targets = [dict(t) for t in targets]
            for priority, other in enumerate(dict.fromkeys(fallbacks.get(name, [])), start=1):
                if other not in self.groups:
                    self.notes.append(f"fallback {other!r} of {name!r} is not a model_name here; skipped")
                all_targets += [{**t, "priority": priority} for t in self.groups.get(other, [])]
            params: Json = {"retries": retries} if isinstance(retries, int) and 0 <= retries <= 10 else {}
            if len(all_targets) > len(targets):  # balance within the group, fall back across groups
                route: Json = {"name": name, "strategy": "tiered", "targets": all_targets}
                params["inner"] = strategy
            else:
                route = {"name": name, "strategy": strategy, "targets": all_targets}
            if params:
                route["params"] = params
            routes.append(route)
        return routes

    def settings_notes(self) -> None:
        general = self.section("general_settings")
        if general.get("master_key"):
            self.notes.append("general_settings.master_key: set POLYROUTE_ADMIN_KEY instead")
        settings = self.section("litellm_settings")
        for key in ("success_callback", "failure_callback", "callbacks", "cache", "guardrails"):
            if settings.get(key):
                self.notes.append(f"litellm_settings.{key}: not carried over (see the README for the equivalent)")


def import_litellm(doc: Any) -> ImportResult:
    if not isinstance(doc, dict) or not isinstance(doc.get("model_list"), list):
        raise ValueError("not a LiteLLM config: it needs a model_list")
    importer = _Importer(doc)
    for index, entry in enumerate(doc["model_list"]):
        importer.deployment(index, entry)
    importer.settings_notes()
    providers = [{"name": a.name, **a.spec, "models": list(a.models.values())} for a in importer.accounts]
    config: Json = {"providers": providers, "routes": importer.routes()}
    return ImportResult(config, importer.notes)
