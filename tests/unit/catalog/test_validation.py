"""convert_strict: no coercion, and every bad field named in one 422."""

from __future__ import annotations

import pytest

from app.catalog.services.validation import FieldProblems, convert_strict
from app.catalog.specs import ProviderSpec, RouteSpec
from app.errors import ValidationFailedError


def errors_of(doc: object, kind: type) -> list[dict[str, str]]:
    with pytest.raises(ValidationFailedError) as caught:
        convert_strict(doc, kind)
    assert caught.value.status == 422
    errors: list[dict[str, str]] = caught.value.extra["errors"]
    assert caught.value.param == errors[0]["field"]
    return errors


def test_valid_document_converts() -> None:
    spec = convert_strict({"name": "a", "kind": "demo"}, ProviderSpec)
    assert spec.name == "a"
    assert spec.timeout_s == 60.0


def test_every_bad_field_is_listed() -> None:
    errors = errors_of({"kind": "openai", "timeout_s": "5", "extra": 1, "models": [{"id": ""}]}, ProviderSpec)
    assert {e["field"]: e["message"] for e in errors} == {
        "extra": "unknown field",
        "name": "required field is missing",
        "timeout_s": "Expected `float`, got `str`",
        "models[0].id": "Expected `str` of length >= 1",
    }


def test_no_coercion_from_strings() -> None:
    assert errors_of({"name": "a", "kind": "demo", "enabled": "true"}, ProviderSpec)[0]["field"] == "enabled"


def test_nested_missing_and_unknown_fields_have_full_paths() -> None:
    errors = errors_of({"name": "r", "targets": [{"provider": "p"}], "params": {"retries": 1, "x": 2}}, RouteSpec)
    assert {e["field"] for e in errors} == {"targets[0].model", "params.x"}


def test_messages_never_echo_the_value() -> None:
    errors = errors_of({"name": "a", "kind": "openai", "api_key": ["sk-super-secret"]}, ProviderSpec)
    assert "sk-super-secret" not in str(errors)


def test_non_struct_targets_report_the_path() -> None:
    assert errors_of([1, "x"], list[int]) == [{"field": "[1]", "message": "Expected `int`, got `str`"}]


def test_field_problems_collects_then_raises() -> None:
    problems = FieldProblems()
    problems.raise_if_any()
    problems.add("a", "bad")
    problems.add("b", "worse")
    with pytest.raises(ValidationFailedError) as caught:
        problems.raise_if_any()
    assert caught.value.extra["errors"] == [{"field": "a", "message": "bad"}, {"field": "b", "message": "worse"}]
    assert caught.value.detail == "Validation failed: a: bad; b: worse"


def test_a_refused_mapping_key_names_the_mapping() -> None:
    from app.prompts.template import PromptTemplate

    doc = {"model": "m", "messages": [{"role": "user", "content": "x"}], "variables": {"bad name": "x"}}
    [error] = errors_of(doc, PromptTemplate)
    assert error["field"] == "variables" and error["message"].startswith("a key: Expected `str` matching regex")
