"""The `web_search` tool for upstreams without it: the gateway searches, the model reads, in a bounded loop.

Where the upstream has native web search (kind `openai`, Responses passthrough) the tool is passed
through. Otherwise the tool becomes a `web_search(query)` function; each call the model makes is
run against the configured search provider (kind `tavily`), its results go back as the tool's
output, and after at most `MAX_ROUNDS` searches the model answers. The caller receives
`web_search_call` items and `url_citation` annotations, as from OpenAI.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import msgspec

from app.api.inference.chat import parse_chat
from app.errors import InvalidRequestError, ProviderError
from app.gateway.call import Call, Reply
from app.gateway.keys import authenticate
from app.gateway.resolve import resolve
from app.gateway.snapshot import CatalogSnapshot, KeyRecord, ProviderEntry, ResolvedModel
from app.gateway.upstream import UpstreamFailure
from app.providers.registry import ADAPTERS
from app.providers.search import TavilyAdapter, parse_results
from app.translate.responses import chat_response_to_responses, has_web_search, is_web_search_tool
from app.translate.responses import responses_request_to_chat as to_chat

__all__ = ["MAX_ROUNDS", "as_reply", "needs_gateway_search", "resolve_for", "response_events", "run_web_search"]

MAX_ROUNDS = 3
Json = dict[str, Any]
_encode = msgspec.json.encode
_decode = msgspec.json.decode
SEARCH_TOOL: Json = {
    "type": "function",
    "function": {
        "name": "web_search",
        "description": "Search the web. Returns result titles, URLs and excerpts; cite the URLs you use.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    },
}


def needs_gateway_search(body: Json, resolved: ResolvedModel, snapshot: CatalogSnapshot) -> bool:
    """True when the request uses web_search and some target could not run it natively.

    Native search needs the native Responses passthrough on every target the request may reach:
    a fallback onto a translated target, or a continuation (`previous_response_id` is replayed
    as translated history), would otherwise lose the tool. Then the gateway runs the search for
    all of them, so the answer does not depend on which target served it.
    """
    if not has_web_search(body):
        return False
    if body.get("previous_response_id"):
        return True
    for target in resolved.targets:
        provider = snapshot.providers.get(target.provider)
        if provider is None or not provider.enabled:
            continue
        if not ADAPTERS[provider.kind].capabilities.responses_native:
            return True
    return False


def _search_provider(snapshot: CatalogSnapshot) -> ProviderEntry:
    found = next((p for p in snapshot.providers.values() if p.kind == "tavily" and p.enabled), None)
    if found is None:
        raise InvalidRequestError(
            "The web_search tool needs a search provider: configure a provider of kind 'tavily' "
            "(or use a model whose upstream supports web search natively)",
            param="tools",
        )
    return found


def _citations(text: str, sources: list[dict[str, str]]) -> list[Json]:
    notes = []
    for source in sources:
        start = text.find(source["url"])
        if start >= 0:
            notes.append(
                {
                    "type": "url_citation",
                    "start_index": start,
                    "end_index": start + len(source["url"]),
                    "url": source["url"],
                    "title": source["title"],
                }
            )
    return sorted(notes, key=lambda n: n["start_index"])


class _Loop:
    def __init__(self, gateway: Any, call: Call, key: KeyRecord, body: Json, search: ProviderEntry) -> None:
        self.gateway, self.call, self.key, self.body, self.search = gateway, call, key, body, search
        self.items: list[Json] = []
        self.sources: list[dict[str, str]] = []
        self.usage = {"prompt_tokens": 0, "completion_tokens": 0}

    async def _chat(self, chat: Json, round_no: int) -> Json:
        inner = Call(
            "chat.completions",
            "openai",
            self.call.headers,
            _encode({**chat, "stream": False}),
            parse_chat,
            self.call.trace,
            f"{self.call.request_id}-s{round_no}",
            time.perf_counter(),
            key=self.key,
        )
        reply = await self.gateway.handle(inner)
        doc: Json = _decode(reply.body)
        usage = doc.get("usage") or {}
        for name in self.usage:
            self.usage[name] += int(usage.get(name) or 0)
        return doc

    async def _run_search(self, query: str) -> list[dict[str, str]]:
        adapter = TavilyAdapter()
        pool = self.gateway.pool
        try:
            resp = await pool.open(
                self.search.name, adapter.search(self.search, query), first_byte_timeout=self.search.timeout_s
            )
            body = await resp.read(self.search.timeout_s)
            resp.close()
        except UpstreamFailure as exc:
            raise ProviderError(f"search provider '{self.search.name}': {exc}") from None
        if resp.status != 200:
            raise ProviderError(f"search provider '{self.search.name}' returned HTTP {resp.status}")
        return parse_results(body)

    async def _answer_calls(self, chat: Json, message: Json) -> bool:
        """Run the model's web_search calls; False when it called none (its answer is final)."""
        calls = [c for c in message.get("tool_calls") or [] if c.get("function", {}).get("name") == "web_search"]
        if not calls or len(calls) != len(message.get("tool_calls") or []):
            return False
        chat["messages"].append({"role": "assistant", "content": message.get("content"), "tool_calls": calls})
        for call in calls:
            try:
                query = str(_decode(call["function"].get("arguments") or "{}").get("query") or "")
            except msgspec.DecodeError:
                query = ""
            results = await self._run_search(query) if query else []
            self.sources.extend(results)
            self.items.append(
                {
                    "id": f"ws_{os.urandom(8).hex()}",
                    "type": "web_search_call",
                    "status": "completed",
                    "action": {
                        "type": "search",
                        "query": query,
                        "sources": [{"type": "url", "url": r["url"]} for r in results],
                    },
                }
            )
            content = "\n\n".join(f"{r['title']}\n{r['url']}\n{r['content']}" for r in results) or "No results."
            chat["messages"].append({"role": "tool", "tool_call_id": call["id"], "content": content})
        return True

    async def run(self, history: list[Json] | None) -> Json:
        tools = [t for t in self.body.get("tools") or [] if not is_web_search_tool(t)]
        chat = to_chat({**self.body, "tools": tools, "stream": False}, history)
        chat["tools"] = [*chat.get("tools", []), SEARCH_TOOL]
        chat.pop("stream_options", None)
        for round_no in range(MAX_ROUNDS + 1):
            if round_no == MAX_ROUNDS:  # enough searching: answer with what was found
                chat["tool_choice"] = "none"
            doc = await self._chat(chat, round_no)
            message = (doc.get("choices") or [{}])[0].get("message") or {}
            if round_no == MAX_ROUNDS or not await self._answer_calls(chat, message):
                doc["usage"] = {
                    **(doc.get("usage") or {}),
                    **self.usage,
                    "total_tokens": self.usage["prompt_tokens"] + self.usage["completion_tokens"],
                }
                return doc
        raise AssertionError("unreachable")


def _response(loop: _Loop, final: Json, body: Json) -> Json:
    response = chat_response_to_responses(
        final, response_id="resp_" + os.urandom(12).hex(), request=body, created_at=int(time.time())
    )
    for item in response["output"]:
        for part in item.get("content") or []:
            if part.get("type") == "output_text":
                part["annotations"] = _citations(part.get("text", ""), loop.sources)
    response["output"] = [*loop.items, *response["output"]]
    return response


async def run_web_search(
    gateway: Any,
    call: Call,
    body: Json,
    history: list[Json] | None,
    key: KeyRecord,
    keep: Callable[[Json], None] | None = None,
) -> Json:
    """The whole loop; returns the final Response object."""
    loop = _Loop(gateway, call, key, body, _search_provider(gateway.catalog.snapshot))
    final = await loop.run(history)
    response = _response(loop, final, body)
    if keep is not None:
        keep(response)
    return response


def resolve_for(call: Call, body: Json, snapshot: CatalogSnapshot) -> tuple[KeyRecord, ResolvedModel]:
    key = call.key or authenticate(call.headers, snapshot)
    return key, resolve(str(body.get("model") or ""), snapshot, key)


def response_events(response: Json) -> bytes:
    """A finished Response replayed as the Responses event stream, with sequence numbers."""
    events: list[Json] = []

    def emit(kind: str, **fields: Any) -> None:
        events.append({"type": kind, "sequence_number": len(events), **fields})

    opening = {**response, "status": "in_progress", "output": [], "usage": None}
    emit("response.created", response=opening)
    emit("response.in_progress", response=opening)
    for index, item in enumerate(response["output"]):
        emit(
            "response.output_item.added",
            output_index=index,
            item={**item, "status": "in_progress"}
            if item["type"] != "message"
            else {**item, "status": "in_progress", "content": []},
        )
        if item["type"] == "web_search_call":
            for phase in ("in_progress", "searching", "completed"):
                emit(f"response.web_search_call.{phase}", output_index=index, item_id=item["id"])
        for c_index, part in enumerate(item.get("content") or []):
            emit(
                "response.content_part.added",
                item_id=item["id"],
                output_index=index,
                content_index=c_index,
                part={**part, "text": "", "annotations": []},
            )
            text = part.get("text", "")
            for start in range(0, len(text), 40):
                emit(
                    "response.output_text.delta",
                    item_id=item["id"],
                    output_index=index,
                    content_index=c_index,
                    delta=text[start : start + 40],
                    logprobs=[],
                )
            emit(
                "response.output_text.done",
                item_id=item["id"],
                output_index=index,
                content_index=c_index,
                text=text,
                logprobs=[],
            )
            emit("response.content_part.done", item_id=item["id"], output_index=index, content_index=c_index, part=part)
        emit("response.output_item.done", output_index=index, item=item)
    emit(f"response.{response['status']}", response=response)
    return b"".join(b"event: " + e["type"].encode() + b"\ndata: " + _encode(e) + b"\n\n" for e in events)


def as_reply(response: Json, stream: bool) -> Reply:
    if stream:
        return Reply(200, [(b"content-type", b"text/event-stream")], response_events(response))
    return Reply(200, [(b"content-type", b"application/json")], _encode(response))
