"""Every inference endpoint's request parser, fuzzed: a body is parsed or refused with a 4xx, never anything else.

An exception other than a GatewayError would reach the caller as a 500; a GatewayError with a 5xx
would blame the gateway for the caller's input. The server-level twin is
tests/integration/observability/test_inbound_fuzz.py.
"""

from __future__ import annotations

import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.accounting.tokens import count_tokens
from app.api.inference.aliases import AUDIO_ROUTES, INFERENCE_ROUTES, InferenceRoute
from app.api.inference.audio import parse_image_edit, parse_image_variation, parse_transcription, parse_translation
from app.errors import GatewayError
from app.gateway.call import Parsed
from tests.unit.observability.inbound_strategies import inbound_body, multipart_body

JSON_ROUTES = [r for r in (*INFERENCE_ROUTES, *AUDIO_ROUTES) if r.endpoint in {
    "chat.completions", "completions", "messages", "responses", "embeddings", "images.generations", "audio.speech",
    "rerank", "moderations",
}]  # fmt: skip
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module", autouse=True)
def _tokenizer_loaded() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # bpe_openai reads its data through a deprecated API
        count_tokens("warm up")


def _refused_with_a_4xx(exc: GatewayError) -> None:
    assert 400 <= exc.status_code < 500, f"{type(exc).__name__} {exc.status_code}: {exc.detail}"
    assert exc.detail


def _parsed_or_refused(parse: object, *args: object) -> None:
    try:
        parsed = parse(*args)  # type: ignore[operator]
    except GatewayError as exc:
        _refused_with_a_4xx(exc)
        return
    assert isinstance(parsed, Parsed)
    assert isinstance(parsed.model, str) and isinstance(parsed.stream, bool)
    if parsed.hub_chat is not None:  # the translation every non-native upstream starts from
        try:
            assert isinstance(parsed.hub_chat(), dict)
        except GatewayError as exc:
            _refused_with_a_4xx(exc)


def test_every_json_route_is_fuzzed() -> None:
    assert {r.endpoint for r in JSON_ROUTES} == {r.endpoint for r in (*INFERENCE_ROUTES, *AUDIO_ROUTES)} - {
        "audio.transcriptions",
        "audio.translations",
        "images.edits",
        "images.variations",
    }


@pytest.mark.parametrize("route", JSON_ROUTES, ids=lambda r: r.endpoint)
def test_json_parser_never_fails_but_with_a_4xx(route: InferenceRoute) -> None:
    @FUZZ
    @given(raw=inbound_body(route.endpoint))
    def check(raw: bytes) -> None:
        _parsed_or_refused(route.parse, raw)

    check()


@FUZZ
@given(
    upload=multipart_body(),
    parse=st.sampled_from([parse_transcription, parse_translation, parse_image_edit, parse_image_variation]),
)
def test_upload_parser_never_fails_but_with_a_4xx(upload: tuple[bytes, str], parse: object) -> None:
    raw, content_type = upload
    _parsed_or_refused(parse, raw, content_type or None)
