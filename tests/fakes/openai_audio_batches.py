"""OpenAI's audio, files and batches surface for the fake upstream (added to `FakeOpenAI` by `add_routes`).

Image edits and variations answer `n` one-pixel images (gpt-image models with token usage).

Audio, by model name:
  *slow*        speech: five chunks 300 ms apart (the caller must see the first before the last is sent)
  *cut*         speech: two chunks, then the connection is reset
  *tokens*      transcription: reports usage in tokens (gpt-4o-transcribe); else `{"type": "duration"}`
  fake-500 ...  the usual error models of `behaviour_for`

Batches follow OpenAI's lifecycle in the background: validating -> in_progress (one line every
`line_delay_s`) -> finalizing -> completed, with an output and an error file; cancel moves to
cancelling -> cancelled and keeps what was answered.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import multipart
from aiohttp import web

from tests.fakes.openai import FakeOpenAI, behaviour_for

__all__ = ["FakeOpenAIAudioBatches", "add_routes", "speech_bytes"]

_AUDIO_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}


def speech_bytes(text: str, index: int) -> bytes:
    """The fake's audio chunk `index` for `text`: binary, with CR/LF and blank-line bytes in it."""
    return bytes([0xFF, 0xF3, index]) + b"\r\n\r\n\x00" + text.encode()[:32] + bytes(range(256))


def _now() -> int:
    return int(time.time())


@dataclass
class _Upload:
    filename: str
    data: bytes


async def _form(request: web.Request) -> dict[str, str | _Upload]:
    """The form as the fake's recorder left it (the body is read once, so parse the bytes)."""
    _, options = multipart.parse_options_header(request.headers.get("Content-Type", ""))
    parser = multipart.MultipartParser(io.BytesIO(await request.read()), options.get("boundary", ""), strict=True)
    out: dict[str, str | _Upload] = {}
    for part in parser:
        out.setdefault(part.name, _Upload(part.filename, part.raw) if part.filename else part.value)
    return out


@dataclass
class _State:
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    speech_finished_at: list[float] = field(default_factory=list)
    line_delay_s: float = 0.05


def _state(fake: FakeOpenAI) -> _State:
    found = getattr(fake, "_audio_batches", None)
    if found is None:
        found = _State()
        fake._audio_batches = found  # type: ignore[attr-defined]
    return found


def add_routes(fake: FakeOpenAI, app: web.Application) -> None:
    state = _state(fake)
    handlers = _Handlers(fake, state)
    app.router.add_post("/v1/audio/speech", handlers.speech)
    app.router.add_post("/v1/audio/transcriptions", handlers.transcription)
    app.router.add_post("/v1/audio/translations", handlers.transcription)
    app.router.add_post("/v1/images/edits", handlers.image_upload)
    app.router.add_post("/v1/images/variations", handlers.image_upload)
    app.router.add_post("/v1/files", handlers.upload)
    app.router.add_get("/v1/files/{id}", handlers.file)
    app.router.add_get("/v1/files/{id}/content", handlers.content)
    app.router.add_delete("/v1/files/{id}", handlers.delete_file)
    app.router.add_post("/v1/batches", handlers.create_batch)
    app.router.add_get("/v1/batches/{id}", handlers.batch)
    app.router.add_post("/v1/batches/{id}/cancel", handlers.cancel_batch)


class _Handlers:
    def __init__(self, fake: FakeOpenAI, state: _State) -> None:
        self.fake = fake
        self.state = state
        self.tasks: set[asyncio.Task[Any]] = set()

    # -- audio -------------------------------------------------------------------------------
    async def speech(self, request: web.Request) -> web.StreamResponse:
        doc = json.loads(await request.read())
        model = str(doc.get("model", ""))
        b = behaviour_for(model)
        if "status" in b:
            return self.fake._error(b, model)
        kind = _AUDIO_TYPES.get(str(doc.get("response_format") or "mp3"), "application/octet-stream")
        resp = web.StreamResponse(headers={"Content-Type": kind})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        chunks = 5 if "slow" in model else 3
        for index in range(chunks):
            if "cut" in model and index == 2:
                assert request.transport is not None
                request.transport.abort()
                return resp
            await resp.write(speech_bytes(str(doc.get("input", "")), index))
            if "slow" in model and index < chunks - 1:
                await asyncio.sleep(0.3)
        self.state.speech_finished_at.append(time.monotonic())
        await resp.write_eof()
        return resp

    async def transcription(self, request: web.Request) -> web.StreamResponse:
        form = await _form(request)
        model = str(form.get("model", ""))
        b = behaviour_for(model)
        if "status" in b:
            return self.fake._error(b, model)
        upload = form.get("file")
        if not isinstance(upload, _Upload):
            return web.json_response({"error": {"message": "file is required", "type": "invalid_request_error"}}, 400)
        data = upload.data
        verb = "translated" if request.path.endswith("translations") else "transcribed"
        text = f"{verb} {upload.filename} ({len(data)} bytes)"
        if form.get("language"):
            text += f" in {form['language']}"
        fmt = str(form.get("response_format") or "json")
        if form.get("stream") == "true":
            return await self._transcript_events(request, text)
        if fmt in ("text", "srt", "vtt"):
            return web.Response(text=text + "\n", content_type="text/plain")
        usage: dict[str, Any] = {"type": "duration", "seconds": 7}
        if "tokens" in model:
            usage = {"type": "tokens", "input_tokens": 50, "output_tokens": 10, "total_tokens": 60}
        out: dict[str, Any] = {"text": text, "usage": usage}
        if fmt == "verbose_json":
            out = {"task": verb[:-1] + "e", "language": "english", "duration": 7.5, "text": text, "segments": []}
        return web.json_response(out)

    async def _transcript_events(self, request: web.Request, text: str) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for word in text.split(" "):
            event = {"type": "transcript.text.delta", "delta": word + " "}
            await resp.write(b"data: " + json.dumps(event).encode() + b"\n\n")
        done = {"type": "transcript.text.done", "text": text, "usage": {"type": "tokens", "input_tokens": 5}}
        await resp.write(b"data: " + json.dumps(done).encode() + b"\n\n")
        await resp.write_eof()
        return resp

    # -- files -------------------------------------------------------------------------------
    async def image_upload(self, request: web.Request) -> web.Response:
        """Edits and variations: `n` one-pixel images; gpt-image models report tokens, as OpenAI's do."""
        form = await _form(request)
        model = str(form.get("model", "dall-e-2"))
        b = behaviour_for(model)
        if "status" in b:
            return web.json_response(
                {"error": {"message": f"fake {b['status']}", "type": "server_error"}}, status=b["status"]
            )
        if not isinstance(form.get("image") or form.get("image[]"), _Upload):
            return web.json_response(
                {"error": {"message": "image is required", "type": "invalid_request_error"}}, status=400
            )
        pixel = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
        out: dict[str, Any] = {
            "created": _now(),
            "data": [{"b64_json": pixel} for _ in range(int(str(form.get("n") or 1)))],
        }
        if model.startswith("gpt-image"):
            out["usage"] = {"input_tokens": 30, "output_tokens": 200, "total_tokens": 230}
        return web.json_response(out)

    def _store(self, content: bytes, filename: str, purpose: str) -> dict[str, Any]:
        file_id = "file-up" + os.urandom(6).hex()
        obj = {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": _now(),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
        }
        self.state.files[file_id] = {"object": obj, "content": content}
        return obj

    async def upload(self, request: web.Request) -> web.Response:
        form = await _form(request)
        upload = form.get("file")
        if not isinstance(upload, _Upload) or form.get("purpose") != "batch":
            return web.json_response({"error": {"message": "bad upload", "type": "invalid_request_error"}}, 400)
        return web.json_response(self._store(upload.data, upload.filename, "batch"))

    async def file(self, request: web.Request) -> web.Response:
        found = self.state.files.get(request.match_info["id"])
        if found is None:
            return web.json_response({"error": {"message": "no such file", "type": "invalid_request_error"}}, 404)
        return web.json_response(found["object"])

    async def content(self, request: web.Request) -> web.Response:
        found = self.state.files.get(request.match_info["id"])
        if found is None:
            return web.json_response({"error": {"message": "no such file", "type": "invalid_request_error"}}, 404)
        return web.Response(body=found["content"], content_type="application/octet-stream")

    async def delete_file(self, request: web.Request) -> web.Response:
        file_id = request.match_info["id"]
        self.state.files.pop(file_id, None)
        return web.json_response({"id": file_id, "object": "file", "deleted": True})

    # -- batches -----------------------------------------------------------------------------
    async def create_batch(self, request: web.Request) -> web.Response:
        doc = json.loads(await request.read())
        if doc.get("input_file_id") not in self.state.files:
            return web.json_response({"error": {"message": "no such file", "type": "invalid_request_error"}}, 400)
        batch_id = "batch_up" + os.urandom(6).hex()
        batch: dict[str, Any] = {
            "id": batch_id,
            "object": "batch",
            "endpoint": doc["endpoint"],
            "input_file_id": doc["input_file_id"],
            "completion_window": doc["completion_window"],
            "status": "validating",
            "created_at": _now(),
            "output_file_id": None,
            "error_file_id": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
        }
        self.state.batches[batch_id] = batch
        task = asyncio.create_task(self._run(batch))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return web.json_response(batch)

    async def batch(self, request: web.Request) -> web.Response:
        found = self.state.batches.get(request.match_info["id"])
        if found is None:
            return web.json_response({"error": {"message": "no such batch", "type": "invalid_request_error"}}, 404)
        return web.json_response(found)

    async def cancel_batch(self, request: web.Request) -> web.Response:
        found = self.state.batches.get(request.match_info["id"])
        if found is None:
            return web.json_response({"error": {"message": "no such batch", "type": "invalid_request_error"}}, 404)
        if found["status"] in ("validating", "in_progress"):
            found["status"] = "cancelling"
            found["cancelling_at"] = _now()
        return web.json_response(found)

    def _answer(self, line: dict[str, Any], index: int) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        body = line.get("body") or {}
        model = str(body.get("model", ""))
        b = behaviour_for(model)
        request_id = f"req_up{index}"
        if "status" in b:
            status = int(b["status"])
            error = {"message": f"fake error {status} for {model}", "type": "invalid_request_error"}
            out = {"status_code": status, "request_id": request_id, "body": {"error": error}}
            return None, {"id": f"batch_req_up{index}", "custom_id": line.get("custom_id"), "response": out}
        if line.get("url") == "/v1/embeddings":
            answer: dict[str, Any] = {"object": "list", "data": [], "model": model, "usage": {"prompt_tokens": 3}}
        else:
            answer = self.fake._completion(body, model, b)
        out = {"status_code": 200, "request_id": request_id, "body": answer}
        return {"id": f"batch_req_up{index}", "custom_id": line.get("custom_id"), "response": out, "error": None}, None

    async def _run(self, batch: dict[str, Any]) -> None:
        content = self.state.files[batch["input_file_id"]]["content"]
        lines = [json.loads(raw) for raw in content.decode().splitlines() if raw.strip()]
        batch["request_counts"]["total"] = len(lines)
        await asyncio.sleep(0.2)
        if batch["status"] == "validating":
            batch.update(status="in_progress", in_progress_at=_now())
        outputs: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for index, line in enumerate(lines):
            if batch["status"] != "in_progress":
                break
            await asyncio.sleep(self.state.line_delay_s)
            ok, failed = self._answer(line, index)
            outputs.extend([ok] if ok else [])
            errors.extend([failed] if failed else [])
            batch["request_counts"].update(completed=len(outputs), failed=len(errors))
        final = "cancelled" if batch["status"] == "cancelling" else "completed"
        if final == "completed":
            batch.update(status="finalizing", finalizing_at=_now())
            await asyncio.sleep(0.1)
        if outputs:
            jsonl = "".join(json.dumps(o) + "\n" for o in outputs).encode()
            batch["output_file_id"] = self._store(jsonl, "output.jsonl", "batch_output")["id"]
        if errors:
            jsonl = "".join(json.dumps(e) + "\n" for e in errors).encode()
            batch["error_file_id"] = self._store(jsonl, "errors.jsonl", "batch_output")["id"]
        batch.update(status=final, **{f"{final}_at": _now()})


class FakeOpenAIAudioBatches(FakeOpenAI):
    """`FakeOpenAI` plus audio, files and batches (for suites that start their own fake)."""

    def routes(self, app: web.Application) -> None:
        super().routes(app)
        add_routes(self, app)

    @property
    def audio_batches(self) -> _State:
        return _state(self)
