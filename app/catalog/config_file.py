"""Read and validate `polyroute.yaml`: `${ENV}` expansion, schema, cross references."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec
import yaml

import hooks
import strategies
from app.catalog.specs import (
    TOOL_KINDS,
    ConfigFile,
    PlanSpec,
    PromptSpec,
    ProviderSpec,
    RouteSpec,
    TeamSpec,
    serves,
)

__all__ = ["ConfigFile", "ConfigFileError", "load_config_file", "parse_config"]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigFileError(Exception):
    """Names the file, the place in the document and what is wrong."""

    def __init__(self, file: str, where: str, what: str) -> None:
        self.file, self.where, self.what = file, where, what
        super().__init__(f"{file}: {where}: {what}" if where else f"{file}: {what}")


def _expand(node: Any, env: Mapping[str, str], path: str, file: str) -> Any:
    if isinstance(node, str):

        def sub(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            value = env.get(name)
            if value is None or value == "":
                if default is not None:
                    return default
                raise ConfigFileError(file, path, f"environment variable {name} is not set")
            return value

        return _ENV_REF.sub(sub, node)
    if isinstance(node, list):
        return [_expand(v, env, f"{path}[{i}]", file) for i, v in enumerate(node)]
    if isinstance(node, dict):
        return {k: _expand(v, env, f"{path}.{k}", file) for k, v in node.items()}
    return node


def _hook_defaults(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """POLYROUTE_HOOK_OPTIONS as the server will read it (a malformed one is the settings' error to report)."""
    try:
        return msgspec.json.decode(env.get("POLYROUTE_HOOK_OPTIONS") or "{}", type=dict[str, dict[str, Any]])
    except msgspec.DecodeError:
        return {}


def _check_references(cfg: ConfigFile, file: str, hook_defaults: Mapping[str, Mapping[str, Any]]) -> None:
    seen: dict[str, set[str]] = {}
    sections: tuple[tuple[str, Sequence[ProviderSpec | RouteSpec | PlanSpec | TeamSpec | PromptSpec]], ...] = (
        ("providers", cfg.providers),
        ("routes", cfg.routes),
        ("plans", cfg.plans),
        ("teams", cfg.teams),
        ("prompts", cfg.prompts),
    )
    for section, items in sections:
        names: set[str] = set()
        for i, item in enumerate(items):
            if item.name in names:
                raise ConfigFileError(file, f"$.{section}[{i}].name", f"duplicate name {item.name!r}")
            names.add(item.name)
        seen[section] = names
    for i, key in enumerate(cfg.api_keys):
        if key.plan is not None and key.plan not in seen["plans"]:
            raise ConfigFileError(file, f"$.api_keys[{i}].plan", f"unknown plan {key.plan!r}")
        if key.team is not None and key.team not in seen["teams"]:
            raise ConfigFileError(file, f"$.api_keys[{i}].team", f"unknown team {key.team!r}")
    for i, team in enumerate(cfg.teams):
        if team.plan is not None and team.plan not in seen["plans"]:
            raise ConfigFileError(file, f"$.teams[{i}].plan", f"unknown plan {team.plan!r}")
    for i, provider in enumerate(cfg.providers):
        if provider.kind not in {"demo"} and not provider.base_url:
            raise ConfigFileError(file, f"$.providers[{i}].base_url", f"required for kind {provider.kind!r}")
    _check_routes(cfg, file, hook_defaults)
    _check_prompts(cfg, file)


def _check_prompts(cfg: ConfigFile, file: str) -> None:
    """A prompt's model is a route or a provider's model of this file (the API checks the live catalog)."""
    routes = {r.name for r in cfg.routes}
    models = {p.name: {m.id for m in p.models} for p in cfg.providers if p.kind not in TOOL_KINDS}
    for i, prompt in enumerate(cfg.prompts):
        provider, _, model_id = prompt.model.partition("/")
        known = prompt.model in routes or (
            provider in models and bool(model_id) and (not models[provider] or serves(models[provider], model_id))
        )
        if prompt.model.startswith("prompt/") or not known:
            reason = "a prompt cannot name another prompt" if prompt.model.startswith("prompt/") else "unknown model"
            raise ConfigFileError(file, f"$.prompts[{i}].model", f"{reason} {prompt.model!r}")


def _check_routes(cfg: ConfigFile, file: str, hook_defaults: Mapping[str, Mapping[str, Any]]) -> None:
    """Every name a route uses (strategies, hooks, targets) exists: said at start, not at its first request."""
    models = {p.name: {m.id for m in p.models} for p in cfg.providers}
    tool_servers = {p.name for p in cfg.providers if p.kind in TOOL_KINDS}
    known = strategies.available() if cfg.routes else []
    for i, route in enumerate(cfg.routes):
        for where, name in (
            (f"$.routes[{i}].strategy", route.strategy),
            (f"$.routes[{i}].params.inner", route.params.inner),
        ):
            if name is not None and name not in known:
                raise ConfigFileError(file, where, f"unknown strategy {name!r}; available: {', '.join(known)}")
        for where, message in hooks.problems(route.params.hooks, route.params.hook_options, hook_defaults):
            raise ConfigFileError(file, f"$.routes[{i}].{where}", message)
        for j, target in enumerate(route.targets):
            where = f"$.routes[{i}].targets[{j}]"
            if target.provider not in models:
                raise ConfigFileError(file, f"{where}.provider", f"unknown provider {target.provider!r}")
            if target.provider in tool_servers:
                raise ConfigFileError(file, f"{where}.provider", f"{target.provider!r} is an MCP server, not a model")
            if models[target.provider] and not serves(models[target.provider], target.model):
                raise ConfigFileError(
                    file, f"{where}.model", f"provider {target.provider!r} has no model {target.model!r}"
                )


def parse_config(text: str, env: Mapping[str, str], file: str = "<config>") -> ConfigFile:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigFileError(file, where, f"not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigFileError(file, "$", "the document must be a mapping with providers/routes/plans/api_keys")
    expanded = _expand(raw, env, "$", file)
    try:
        cfg = msgspec.convert(expanded, ConfigFile, strict=False)
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).rpartition(" - at `")
        if not message:
            raise ConfigFileError(file, "$", str(exc)) from None
        raise ConfigFileError(file, where.rstrip("`"), message) from None
    _check_references(cfg, file, _hook_defaults(env))
    return cfg


def load_config_file(path: str, env: Mapping[str, str]) -> ConfigFile:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigFileError(path, "", f"cannot read the file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigFileError(path, "", "the file is not UTF-8 text") from None
    return parse_config(text, env, path)
