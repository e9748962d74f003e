"""POST /images/edits and /images/variations: the caller's upload form with only `model` replaced."""

from __future__ import annotations

import dataclasses

import msgspec

from app.accounting.events import Usage
from app.errors import UnsupportedFeatureError
from app.gateway.bridges.upstream import decode_reply
from app.gateway.endpoints import images_usage
from app.gateway.exchange import Served, StreamRelay
from app.gateway.multipart import Form
from app.gateway.snapshot import ProviderEntry
from app.providers.base import ProviderAdapter, UpstreamRequest
from app.providers.openai import OpenAIAdapter

__all__ = ["ImageUploadExchange"]


class ImageUploadExchange:
    """An image edit or variation: the form goes upstream byte for byte except `model`; the answer is
    the images document, priced as generations are (tokens for gpt-image models, else per image)."""

    upstream_dialect = "chat"

    def __init__(self, form: Form, path: str, what: str) -> None:
        self._form = form
        self._path = path
        self._what = what

    def upstream_body(self, provider: ProviderEntry, model: str, stream: bool) -> bytes:
        return self._form.replace("model", model.encode())

    def request(self, adapter: ProviderAdapter, provider: ProviderEntry, model: str, stream: bool) -> UpstreamRequest:
        if not isinstance(adapter, OpenAIAdapter):
            raise UnsupportedFeatureError(f"{self._what} is not supported by {adapter.kind} upstream '{provider.name}'")
        req = adapter.endpoint(provider, self._path, self.upstream_body(provider, model, stream), model)
        return dataclasses.replace(req, headers={**req.headers, "content-type": self._form.content_type})

    def reply(self, body: bytes, served: Served) -> tuple[bytes, Usage]:
        doc = decode_reply(body)
        if "model" in doc:
            doc["model"] = served.public_model
        return msgspec.json.encode(doc), images_usage(doc)

    def stream(self, served: Served) -> StreamRelay:
        raise UnsupportedFeatureError(f"Streaming {self._what.lower()} is not supported", param="stream")
