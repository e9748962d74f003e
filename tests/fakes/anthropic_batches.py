"""Anthropic's Message Batches API for the fake upstream: create, retrieve, cancel, results.

A batch answers its requests in the background, one every `line_delay_s`, each as `/v1/messages`
would (the same request rules and model behaviours: `fake-500` errors, `fake-tool` calls tools...),
then ends; a cancel stops it and the requests not yet answered are `canceled`. Results are served
at the `results_url` the batch names, on this server.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.anthropic import _ERROR_TYPES, FakeAnthropic, answer_message, behaviour_for, validate_request

__all__ = ["FakeAnthropicBatches"]


def _iso(moment: float | None) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment)) if moment is not None else None


def _result(params: dict[str, Any]) -> dict[str, Any]:
    invalid = validate_request({k: v for k, v in params.items()})
    if invalid:
        return {
            "type": "errored",
            "error": {"type": "error", "error": {"type": "invalid_request_error", "message": invalid}},
        }
    model = str(params["model"])
    b = behaviour_for(model)
    if "status" in b:
        kind = _ERROR_TYPES.get(int(b["status"]), "api_error")
        return {
            "type": "errored",
            "error": {"type": "error", "error": {"type": kind, "message": f"fake {b['status']}"}},
        }
    message = answer_message(params, model, b)
    return {"type": "succeeded", "message": message}


@dataclass
class FakeAnthropicBatches(FakeAnthropic):
    line_delay_s: float = 0.05
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)

    def routes(self, app: web.Application) -> None:
        super().routes(app)
        app.router.add_post("/v1/messages/batches", self.create_batch)
        app.router.add_get("/v1/messages/batches/{id}", self.get_batch)
        app.router.add_post("/v1/messages/batches/{id}/cancel", self.cancel_batch)
        app.router.add_get("/v1/messages/batches/{id}/results", self.batch_results)

    def reset(self) -> None:
        super().reset()
        self.batches.clear()

    def _public(self, batch: dict[str, Any], request: web.Request) -> dict[str, Any]:
        results = batch["results"]
        kinds = [r["result"]["type"] for r in results]
        ended = batch["ended_at"] is not None
        return {
            "id": batch["id"],
            "type": "message_batch",
            "processing_status": "ended" if ended else "canceling" if batch["cancel_at"] else "in_progress",
            "request_counts": {
                "processing": 0 if ended else len(batch["requests"]) - len(results),
                "succeeded": kinds.count("succeeded"),
                "errored": kinds.count("errored"),
                "canceled": kinds.count("canceled"),
                "expired": kinds.count("expired"),
            },
            "ended_at": _iso(batch["ended_at"]),
            "created_at": _iso(batch["created_at"]),
            "expires_at": _iso(batch["created_at"] + 86400),
            "archived_at": None,
            "cancel_initiated_at": _iso(batch["cancel_at"]),
            "results_url": f"{self.base_url}/v1/messages/batches/{batch['id']}/results" if ended else None,
        }

    async def create_batch(self, request: web.Request) -> web.Response:
        problem = self._auth_problem(request)
        if problem is not None:
            return problem
        doc = json.loads(await request.read())
        requests = doc.get("requests")
        if not isinstance(requests, list) or not requests:
            return self._error(400, "requests: at least one request is required")
        batch_id = f"msgbatch_fake{len(self.batches):06d}"
        batch = {
            "id": batch_id,
            "requests": requests,
            "results": [],
            "created_at": time.time(),
            "cancel_at": None,
            "ended_at": None,
        }
        self.batches[batch_id] = batch
        batch["task"] = asyncio.get_running_loop().create_task(self._run(batch))
        return web.json_response(self._public(batch, request))

    async def _run(self, batch: dict[str, Any]) -> None:
        for item in batch["requests"]:
            if batch["cancel_at"]:
                break
            await asyncio.sleep(self.line_delay_s)
            batch["results"].append({"custom_id": item["custom_id"], "result": _result(item["params"])})
        answered = {r["custom_id"] for r in batch["results"]}
        for item in batch["requests"]:
            if item["custom_id"] not in answered:
                batch["results"].append({"custom_id": item["custom_id"], "result": {"type": "canceled"}})
        batch["ended_at"] = time.time()

    def _found(self, request: web.Request) -> dict[str, Any] | web.Response:
        problem = self._auth_problem(request)
        if problem is not None:
            return problem
        batch = self.batches.get(request.match_info["id"])
        return batch if batch is not None else self._error(404, "batch not found")

    async def get_batch(self, request: web.Request) -> web.Response:
        batch = self._found(request)
        return batch if isinstance(batch, web.Response) else web.json_response(self._public(batch, request))

    async def cancel_batch(self, request: web.Request) -> web.Response:
        batch = self._found(request)
        if isinstance(batch, web.Response):
            return batch
        if batch["ended_at"] is None and batch["cancel_at"] is None:
            batch["cancel_at"] = time.time()
        return web.json_response(self._public(batch, request))

    async def batch_results(self, request: web.Request) -> web.Response:
        batch = self._found(request)
        if isinstance(batch, web.Response):
            return batch
        if batch["ended_at"] is None:
            return self._error(400, "batch has not ended")
        body = "".join(json.dumps(r) + "\n" for r in batch["results"])
        return web.Response(body=body.encode(), content_type="application/binary")
