"""A fake asynchronous upstream (submit, then poll), the shape video and some image APIs have.

POST /v1/videos (and POST /v1/images/generations) answers 202 with `{"id", "status": "queued"}`
and says where to poll, per the request body's `style`: a `Location` header ("location", the
default), a relative `status_url` in the body ("status_url"), or Replicate's absolute `urls.get`
("urls"). GET on that URL answers
`in_progress` `polls` times (default 2), then the final document: `completed` with an output URL,
or `failed` when the body asked for `"outcome": "failed"`. Other body keys: `never` (always
pending), `errors_first` (that many 503s before anything else), `retry_after` (a header on the
pending answers).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer

__all__ = ["FakeAsyncJobs"]


@dataclass
class FakeAsyncJobs(FakeServer):
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/videos", self.submit)
        app.router.add_post("/v1/images/generations", self.submit)  # an image API that answers later
        app.router.add_get("/v1/videos/{job_id}", self.status)
        app.router.add_get("/jobs/{job_id}/status", self.status)

    def polls_of(self, job_id: str) -> int:
        return int(self.jobs[job_id]["polled"])

    async def submit(self, request: web.Request) -> web.Response:
        spec = json.loads(await request.read() or b"{}")
        job_id = f"video_{next(self._ids)}"
        self.jobs[job_id] = {**spec, "polled": 0, "errors": 0}
        body: dict[str, Any] = {"id": job_id, "object": "video", "status": "queued"}
        headers: dict[str, str] = {}
        style = spec.get("style", "location")
        if style == "location":
            headers["Location"] = f"/v1/videos/{job_id}"
        elif style == "status_url":
            body["status_url"] = f"/jobs/{job_id}/status"
        elif style == "urls":
            body["urls"] = {"get": f"{self.base_url}/v1/videos/{job_id}"}
        return web.json_response(body, status=202, headers=headers)

    async def status(self, request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        job = self.jobs.get(job_id)
        if job is None:
            return web.json_response({"error": {"message": "no such job"}}, status=404)
        if job["errors"] < int(job.get("errors_first", 0)):
            job["errors"] += 1
            return web.json_response({"error": {"message": "busy"}}, status=503)
        job["polled"] += 1
        if job.get("never") or job["polled"] <= int(job.get("polls", 2)):
            headers = {"Retry-After": str(job["retry_after"])} if "retry_after" in job else {}
            progress = min(99, 100 * job["polled"] // (int(job.get("polls", 2)) + 1))
            return web.json_response({"id": job_id, "status": "in_progress", "progress": progress}, headers=headers)
        if job.get("outcome") == "failed":
            return web.json_response({"id": job_id, "status": "failed", "error": {"message": "render crashed"}})
        output = {"url": f"{self.base_url}/files/{job_id}.mp4"}
        return web.json_response({"id": job_id, "status": "completed", "progress": 100, "output": output})
