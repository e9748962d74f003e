"""A message batch passed through to an Anthropic provider's own Message Batches API (its batch price).

When every request of a message batch names one model of one kind `anthropic` provider, the
requests go to that provider as one batch (its model name in each, `stream` dropped), the batch is
polled, and once it has ended its results are read back into the batch's lines: each answer's
`model` becomes `<provider>/<model>`, an error keeps Anthropic's type, and every answered request
is accounted like a direct call. The results are fetched only from the provider's own host.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from app.batches import store
from app.batches.lines import LineSpec
from app.batches.native import Answer, NativeBatches, UpstreamBatchError
from app.batches.store import BatchRecord, LineRecord
from app.gateway.snapshot import ProviderEntry
from app.providers.anthropic import AnthropicAdapter
from app.providers.errors import ANTHROPIC_ERROR_STATUS

__all__ = ["AnthropicBatches", "line_outcome"]

Json = dict[str, Any]
_ADAPTER = AnthropicAdapter()


def _url(provider: ProviderEntry, path: str) -> str:
    return _ADAPTER.url(provider, path)


def line_outcome(result: Any, public_model: str) -> tuple[Json, Answer | None]:
    """A result line's `result` -> the batch line's columns, and the answer to account (None: nothing ran)."""
    kind = result.get("type") if isinstance(result, dict) else None
    if kind == "succeeded":
        message = result.get("message") if isinstance(result.get("message"), dict) else {}
        message = {**message, "model": public_model}
        return {"status": "succeeded", "status_code": 200, "response": message}, (None, 200, message)
    if kind == "errored":
        found = result.get("error")
        outer: Json = found if isinstance(found, dict) else {}
        inner = outer.get("error")
        error: Json = inner if isinstance(inner, dict) else outer
        status = ANTHROPIC_ERROR_STATUS.get(str(error.get("type")), 500)
        body = {"error": {"type": error.get("type") or "api_error", "message": error.get("message") or "failed"}}
        return {"status": "failed", "status_code": status, "response": body}, (None, status, None)
    if kind == "expired":
        return {"status": "expired"}, None
    return {"status": "cancelled"}, None


class AnthropicBatches(NativeBatches):
    async def submit(self, batch: BatchRecord, provider: ProviderEntry, model: str, specs: list[LineSpec]) -> None:
        """Create the provider's batch from the valid requests, each with the provider's model name."""
        requests = [
            {
                "custom_id": s.custom_id,
                "params": {**{k: v for k, v in (s.body or {}).items() if k != "stream"}, "model": model},
            }
            for s in specs
            if s.valid
        ]
        url = _url(provider, "/messages/batches")
        created = await self._json(provider, "POST", "/messages/batches", url=url, json={"requests": requests})
        await self.started(batch, str(created.get("id") or ""), str(created.get("processing_status") or "in_progress"))

    async def poll(self, batch: BatchRecord, provider: ProviderEntry) -> Json:
        path = f"/messages/batches/{batch.upstream_id}"
        return await self._json(provider, "GET", path, url=_url(provider, path))

    async def cancel(self, batch: BatchRecord, provider: ProviderEntry) -> Json:
        path = f"/messages/batches/{batch.upstream_id}/cancel"
        return await self._json(provider, "POST", path, url=_url(provider, path))

    async def results(self, provider: ProviderEntry, doc: Json) -> list[Json]:
        """The ended batch's result lines, from its `results_url` on the provider's own host only."""
        url = str(doc.get("results_url") or "")
        if not url:
            return []
        if urlsplit(url).netloc != urlsplit(_url(provider, "/")).netloc:
            # The provider's credentials only ever go to the provider's own host.
            raise UpstreamBatchError(f"{provider.name} named results on another host ({urlsplit(url).netloc})")
        return self.jsonl(provider, await self._call(provider, "GET", "/messages/batches/results", url=url))

    async def record(self, batch: BatchRecord, provider: ProviderEntry, results: list[Json]) -> list[Answer]:
        """Each result into its line; the answers to account."""
        lines: dict[str | None, LineRecord] = {line.custom_id: line for line in await store.lines(batch.id, "pending")}
        public = f"{provider.name}/{batch.model}"
        answers: list[Answer] = []
        for item in results:
            line = lines.get(item.get("custom_id"))
            if line is None:
                continue
            values, answer = line_outcome(item.get("result"), public)
            await store.set_line(line.id, values)
            if answer is not None:
                answers.append((line.custom_id, answer[1], answer[2]))
        return answers
