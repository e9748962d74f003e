"""A batch passed through to an OpenAI provider's own batch API: upload, create, poll, download.

The provider sees its own model name in every line and our batch id in its metadata; the output
comes back with each answer's `model` rewritten to `<provider>/<model>`, and every answered line
is accounted like a request. Ids stay mapped in the batch row (`upstream_file_id`, `upstream_id`).
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import msgspec

from app.accounting.cost import cost_usd
from app.accounting.events import Usage, UsageEvent
from app.accounting.queue import UsageQueue
from app.batches import store
from app.batches.lines import LineSpec, to_jsonl
from app.batches.store import BatchRecord
from app.gateway.snapshot import KeyRecord, ProviderEntry
from app.gateway.vendor import read_usage
from app.ids import request_id
from app.limits.admit import Limiter, effective_limits
from app.providers.base import Dialect
from app.providers.registry import adapter_for

__all__ = ["TERMINAL", "NativeBatches", "UpstreamBatchError", "UpstreamUnavailable"]

TERMINAL = ("completed", "failed", "expired", "cancelled")
Json = dict[str, Any]
Answer = tuple[str | None, int, Any]
"""(custom_id, HTTP status, the answer's body) of one request a provider's batch answered."""


class UpstreamUnavailable(Exception):
    """The provider could not be reached or answered 429/5xx: try again at the next poll."""


class UpstreamBatchError(Exception):
    """The provider refused the batch (a 4xx): the batch fails with its message."""


def _strip(body: Json, model: str) -> Json:
    out = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    out["model"] = model
    return out


class NativeBatches:
    def __init__(self, client: httpx.AsyncClient, usage: UsageQueue, limiter: Limiter | None = None) -> None:
        self._client = client
        self._usage = usage
        self._limiter = limiter

    async def _call(
        self, provider: ProviderEntry, method: str, path: str, *, url: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """The provider's API at `path` under its base URL (or at `url`, one on its own host)."""
        headers = {**provider.headers, **adapter_for(provider.kind).auth_headers(provider)}
        url = url or provider.base_url.rstrip("/") + path
        try:
            resp = await self._client.request(method, url, headers=headers, timeout=provider.timeout_s, **kwargs)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"{provider.name}: {type(exc).__name__}: {exc}") from None
        if resp.status_code == 429 or resp.status_code >= 500:
            raise UpstreamUnavailable(f"{provider.name} answered {method} {path} with HTTP {resp.status_code}")
        if resp.status_code >= 400:
            message = adapter_for(provider.kind).parse_error(resp.status_code, resp.content).message
            raise UpstreamBatchError(f"{provider.name} refused the batch (HTTP {resp.status_code}): {message}")
        return resp

    async def _json(self, provider: ProviderEntry, method: str, path: str, **kwargs: Any) -> Json:
        resp = await self._call(provider, method, path, **kwargs)
        try:
            doc = msgspec.json.decode(resp.content)
        except msgspec.DecodeError:
            raise UpstreamUnavailable(f"{provider.name} answered {path} with a body that is not JSON") from None
        if not isinstance(doc, dict):
            raise UpstreamUnavailable(f"{provider.name} answered {path} with JSON that is not an object")
        return doc

    async def submit(self, batch: BatchRecord, provider: ProviderEntry, model: str, specs: list[LineSpec]) -> None:
        """Upload the valid lines (with the provider's model name) and create the provider's batch."""
        lines = [
            {"custom_id": s.custom_id, "method": "POST", "url": batch.endpoint, "body": _strip(s.body or {}, model)}
            for s in specs
            if s.valid
        ]
        upload = {"file": (f"{batch.id}.jsonl", to_jsonl(lines), "application/jsonl")}
        uploaded = await self._json(provider, "POST", "/files", data={"purpose": "batch"}, files=upload)
        file_id = str(uploaded.get("id") or "")
        await store.update(batch.id, {"upstream_file_id": file_id})
        request = {
            "input_file_id": file_id,
            "endpoint": batch.endpoint,
            "completion_window": batch.completion_window,
            "metadata": {"polyroute_batch": batch.id},
        }
        created = await self._json(provider, "POST", "/batches", json=request)
        await self.started(batch, str(created.get("id") or ""), str(created.get("status") or "validating"))

    @staticmethod
    async def started(batch: BatchRecord, upstream_id: str, upstream_status: str) -> None:
        """The provider took the batch: ours runs there now, under the provider's id."""
        values = {
            "upstream_id": upstream_id,
            "upstream_status": upstream_status,
            "status": "in_progress",
            "in_progress_at": store.now(),
        }
        await store.update(batch.id, values, status_in=("validating",))

    async def poll(self, batch: BatchRecord, provider: ProviderEntry) -> Json:
        return await self._json(provider, "GET", f"/batches/{batch.upstream_id}")

    async def cancel(self, batch: BatchRecord, provider: ProviderEntry) -> Json:
        return await self._json(provider, "POST", f"/batches/{batch.upstream_id}/cancel")

    async def download(self, provider: ProviderEntry, file_id: str | None) -> list[Json]:
        if not file_id:
            return []
        return self.jsonl(provider, await self._call(provider, "GET", f"/files/{file_id}/content"))

    @staticmethod
    def jsonl(provider: ProviderEntry, resp: httpx.Response) -> list[Json]:
        """The objects of a JSONL answer; a line that does not parse is retried at the next poll, not lost."""
        out: list[Json] = []
        for raw in resp.content.splitlines():
            if not raw.strip():
                continue
            try:
                doc = msgspec.json.decode(raw)
            except msgspec.DecodeError:
                raise UpstreamUnavailable(f"{provider.name} sent a result line that is not JSON") from None
            if isinstance(doc, dict):
                out.append(doc)
        return out

    def rewrite(self, lines: list[Json], public_model: str) -> list[Json]:
        """Each answer names the model as `<provider>/<model>`, as a direct call's would."""
        for line in lines:
            body = (line.get("response") or {}).get("body")
            if isinstance(body, dict) and "model" in body:
                body["model"] = public_model
        return lines

    def account(self, batch: BatchRecord, key: KeyRecord | None, provider: ProviderEntry, lines: list[Json]) -> None:
        """One usage event per answered line of an OpenAI batch's output or error file."""
        answers: list[Answer] = []
        for line in lines:
            response = line.get("response") or {}
            body = response.get("body")
            answers.append((line.get("custom_id"), int(response.get("status_code") or 200), body))
        self.account_answers(batch, key, provider, answers, "chat")

    def account_answers(
        self,
        batch: BatchRecord,
        key: KeyRecord | None,
        provider: ProviderEntry,
        answers: list[Answer],
        dialect: Dialect,
    ) -> None:
        """One usage event per answer, priced like a direct call; the batch's tokens and spend then count
        against the key's TPM and monthly budget, as its lines would have one by one."""
        model = batch.model or ""
        tokens, spend = 0, 0.0
        spec = provider.model(model)
        endpoint = "batch." + batch.endpoint.removeprefix("/v1/").replace("/", ".")
        for custom_id, status, body in answers:
            usage = read_usage(dialect, body) if isinstance(body, dict) else None
            cost = cost_usd(spec, usage) * provider.batch_cost_factor if usage is not None and status == 200 else 0.0
            if usage is not None:
                tokens += usage.prompt_tokens + usage.completion_tokens
            spend += cost
            self._usage.put(
                UsageEvent(
                    id=request_id(),
                    ts=time.time(),
                    endpoint=endpoint,
                    status=status,
                    key_id=batch.key_id,
                    user_id=key.user_id if key else None,
                    plan=key.plan.name if key and key.plan else None,
                    requested_model=f"{provider.name}/{model}",
                    provider=provider.name,
                    model=model,
                    usage=usage or Usage(),
                    cost_usd=cost,
                    attempts=1,
                    detail={"batch": batch.id, "custom_id": custom_id},
                )
            )
        if self._limiter is not None and key is not None:
            self._limiter.settle_soon(key, effective_limits(key), tokens, spend)
