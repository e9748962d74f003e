"""Drives every unfinished batch, one replica per batch: validate, run (emulated or native), finish.

A loop claims the batches that are free (a lease in the batch row, renewed each tick), so after a
restart, or when a replica dies, another one goes on with the same durable state: the lines and
their tasks in the database, or the provider's batch id. While any batch is running the loop ticks
five times per `batch_poll_s`; a provider's batch is polled every `batch_native_poll_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Mapping
from typing import Any, Protocol

import httpx
import msgspec

from app.accounting.queue import UsageQueue
from app.batches import files, output, store
from app.batches.anthropic_native import AnthropicBatches
from app.batches.emulated import EmulatedBatches, TaskQueue
from app.batches.lines import MAX_LINES, LineSpec, read_lines
from app.batches.message_batches import ENDPOINT as MESSAGES
from app.batches.native import TERMINAL, NativeBatches, UpstreamBatchError, UpstreamUnavailable
from app.batches.store import BatchRecord
from app.db.quiet import Watch
from app.gateway.completions import has_native_completions
from app.gateway.resolve import resolve
from app.gateway.snapshot import CatalogSnapshot, ProviderEntry, ResolvedModel
from app.limits.admit import Limiter
from app.providers.registry import ADAPTERS
from app.settings import Settings
from app.tasks.execute import EndpointSpec, key_by_id
from app.tasks.outbound import outbound_client

__all__ = ["BatchCoordinator"]

log = logging.getLogger("polyroute.batches")


class SnapshotSource(Protocol):
    @property
    def snapshot(self) -> CatalogSnapshot: ...


class BatchCoordinator:
    """One per process; `wake` is what the HTTP surface calls after a create or a cancel."""

    def __init__(
        self,
        settings: Settings,
        *,
        catalog: SnapshotSource,
        queue: TaskQueue,
        usage: UsageQueue,
        endpoints: Mapping[str, EndpointSpec],
        limiter: Limiter | None = None,
        watch: Watch | None = None,
    ) -> None:
        self.settings = settings
        self._watch = watch or Watch(None, 0)
        self.worker_id = f"{socket.gethostname()[:40]}:{os.getpid()}:{os.urandom(4).hex()}"
        self._catalog = catalog
        self._endpoints = endpoints
        self._usage = usage
        self._limiter = limiter
        self._emulated = EmulatedBatches(queue, settings.batch_concurrency)
        self._client: httpx.AsyncClient | None = None
        self._native: NativeBatches | None = None
        self._anthropic: AnthropicBatches | None = None
        self._polled: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._client = outbound_client(follow_redirects=False)
        self._native = NativeBatches(self._client, self._usage, self._limiter)
        self._anthropic = AnthropicBatches(self._client, self._usage, self._limiter)
        self._loop = asyncio.create_task(self._run(), name="batches")

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
        try:
            await store.release(self.worker_id)
        except Exception:
            log.exception("could not release batch leases; they lapse in %gs", self.settings.task_lease_s)
        if self._client is not None:
            await self._client.aclose()

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        busy = True
        while True:
            woken = self._wake.is_set()
            self._wake.clear()
            try:
                # Idle, with no wake-up and nothing committed since the last look: nothing to claim.
                busy = await self.tick() if busy or woken or self._watch.moved() else False
            except Exception:
                log.exception("batch coordination failed")
                busy = False
            interval = self.settings.batch_poll_s / 5 if busy else self.settings.batch_poll_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)

    async def tick(self) -> bool:
        """One pass over the batches this process holds; True when any is still running."""
        batches = await store.claim(self.worker_id, self.settings.task_lease_s)
        for batch in batches:
            try:
                await self._step(batch)
            except Exception:
                log.exception("batch %s: step failed; retried at the next tick", batch.id)
        return bool(batches)

    async def _step(self, batch: BatchRecord) -> None:
        if batch.mode is None and batch.status == "cancelling":
            await output.finalize(batch, "cancelled")
        elif batch.status == "validating":
            await self._validate(batch)
        elif batch.mode == "native":
            await self._native_step(batch)
        else:
            await self._emulated_step(batch)

    # -- validating ------------------------------------------------------------------------------
    async def _validate(self, batch: BatchRecord) -> None:
        snapshot = self._catalog.snapshot
        key = key_by_id(snapshot, batch.key_id)
        content = await files.read(batch.input_file_id, batch.key_id)
        endpoint = self._endpoints.get(batch.endpoint)
        if content is None or key is None or endpoint is None:
            why = "its input file was deleted" if content is None else "its API key was revoked"
            await output.fail(batch, "invalid_batch", f"The batch cannot run: {why}")
            return

        def check(body: dict[str, Any]) -> ResolvedModel:
            parsed = endpoint.parse(msgspec.json.encode(body))
            return resolve(parsed.model, snapshot, key)

        specs = await asyncio.to_thread(read_lines, content, batch.endpoint, check)
        if not specs or len(specs) > MAX_LINES:
            count = f"{len(specs)} request lines" if specs else "no request lines"
            await output.fail(batch, "invalid_file", f"The input file has {count} (1 to {MAX_LINES} allowed)")
            return
        target = self._native_target(specs, snapshot, batch.endpoint)
        # A provider's message batch answers into the lines themselves; OpenAI's into files of its own.
        await store.replace_lines(batch.id, specs, keep_valid=target is None or batch.endpoint == MESSAGES)
        invalid = sum(1 for s in specs if not s.valid)
        if target is None:
            values = {"mode": "emulated", "total": len(specs), "failed": invalid, "status": "in_progress"}
            await store.update(batch.id, {**values, "in_progress_at": store.now()}, status_in=("validating",))
            return
        provider, model = target
        values = {"mode": "native", "provider": provider.name, "model": model, "total": len(specs), "failed": invalid}
        await store.update(batch.id, values)
        try:
            await self._natives(provider).submit(batch, provider, model, specs)
        except UpstreamBatchError as exc:
            await output.fail(batch, "provider_refused", str(exc))

    def _native_target(
        self, specs: list[LineSpec], snapshot: CatalogSnapshot, endpoint: str
    ) -> tuple[ProviderEntry, str] | None:
        """The one provider model every valid line names, when batches may be passed through to its own
        batch API: a kind `openai` provider's, or for a message batch a kind `anthropic` one's (for
        `/v1/completions`, only a model OpenAI serves completions for: the others go through chat)."""
        valid = [s.resolved for s in specs if s.valid]
        kind = "anthropic" if endpoint == MESSAGES else "openai"
        if not self.settings.batch_native or not valid or any(r is None or len(r.targets) != 1 for r in valid):
            return None
        targets = {(r.targets[0].provider, r.targets[0].model) for r in valid if r is not None}
        if len(targets) != 1:
            return None
        name, model = targets.pop()
        provider = snapshot.providers.get(name)
        if provider is None or not provider.enabled or provider.kind != kind:
            return None
        if endpoint == "/v1/completions" and not has_native_completions(ADAPTERS["openai"], provider, model):
            return None
        return provider, model

    # -- running -----------------------------------------------------------------------------------
    async def _emulated_step(self, batch: BatchRecord) -> None:
        key = key_by_id(self._catalog.snapshot, batch.key_id)
        expired = _expired(batch)
        done = await self._emulated.step(batch, key, stopping=batch.status == "cancelling" or expired)
        counts = await store.count_lines(batch.id)
        completed, failed = counts.get("succeeded", 0), counts.get("failed", 0)
        if (completed, failed) != (batch.completed, batch.failed):
            await store.update(batch.id, {"completed": completed, "failed": failed})
        if done:
            final = "cancelled" if batch.status == "cancelling" else "expired" if expired else "completed"
            await output.finalize(batch, final)

    async def _native_step(self, batch: BatchRecord) -> None:
        provider = self._catalog.snapshot.providers.get(batch.provider or "")
        native = self._natives(provider) if provider is not None and self._native is not None else None
        if provider is None or native is None or not batch.upstream_id:
            if batch.status == "cancelling":
                await output.finalize(batch, "cancelled")
            elif provider is None:
                await output.fail(batch, "provider_removed", f"The provider '{batch.provider}' was removed")
            return
        cancel = batch.status == "cancelling" and batch.upstream_status not in ("cancelling", "canceling", *TERMINAL)
        last = self._polled.get(batch.id, 0.0)
        if not cancel and time.monotonic() - last < self.settings.batch_native_poll_s:
            return
        self._polled[batch.id] = time.monotonic()
        try:
            doc = await native.cancel(batch, provider) if cancel else await native.poll(batch, provider)
            if isinstance(native, AnthropicBatches):
                await self._mirror_message_batch(batch, provider, native, doc)
            else:
                await self._mirror(batch, provider, doc)
        except UpstreamUnavailable as exc:
            log.warning("batch %s: %s; polling again later", batch.id, exc)
        except UpstreamBatchError as exc:
            await output.fail(batch, "provider_refused", str(exc))

    async def _mirror(self, batch: BatchRecord, provider: ProviderEntry, doc: dict[str, Any]) -> None:
        """Take the provider's state; at its end, download, rewrite and account its files."""
        upstream = str(doc.get("status") or "")
        counts = doc.get("request_counts") or {}
        invalid = sum((await store.count_lines(batch.id)).values())  # only invalid lines are stored
        values: dict[str, Any] = {
            "upstream_status": upstream,
            "completed": int(counts.get("completed") or 0),
            "failed": invalid + int(counts.get("failed") or 0),
        }
        if upstream == "finalizing" and batch.status == "in_progress":
            values |= {"status": "finalizing", "finalizing_at": store.now()}
        await store.update(batch.id, values)
        if upstream not in TERMINAL:
            return
        assert self._native is not None
        outputs = await self._native.download(provider, doc.get("output_file_id"))
        errors = await self._native.download(provider, doc.get("error_file_id"))
        self._native.rewrite(outputs, f"{provider.name}/{batch.model}")
        self._native.rewrite(errors, f"{provider.name}/{batch.model}")
        key = key_by_id(self._catalog.snapshot, batch.key_id)
        self._native.account(batch, key, provider, outputs + errors)
        failures = (doc.get("errors") or {}).get("data") if upstream == "failed" else None
        await output.finalize(
            batch, upstream, upstream_outputs=outputs, upstream_errors=errors, errors=failures or None
        )
        self._polled.pop(batch.id, None)

    async def _mirror_message_batch(
        self, batch: BatchRecord, provider: ProviderEntry, native: AnthropicBatches, doc: dict[str, Any]
    ) -> None:
        """Take an Anthropic batch's state; once it has ended, its results into the lines, accounted."""
        upstream = str(doc.get("processing_status") or "")
        await store.update(batch.id, {"upstream_status": upstream})
        if upstream != "ended":
            return
        answers = await native.record(batch, provider, await native.results(provider, doc))
        native.account_answers(batch, key_by_id(self._catalog.snapshot, batch.key_id), provider, answers, "anthropic")
        cancelled = batch.status == "cancelling" or bool((doc.get("request_counts") or {}).get("canceled"))
        await output.finalize(batch, "cancelled" if cancelled else "completed")
        self._polled.pop(batch.id, None)

    def _natives(self, provider: ProviderEntry) -> NativeBatches:
        """The client of the provider's own batch API."""
        found = self._anthropic if provider.kind == "anthropic" else self._native
        assert found is not None, "started"
        return found


def _expired(batch: BatchRecord) -> bool:
    expires = batch.times.get("expires_at")
    return expires is not None and store.now() >= expires
