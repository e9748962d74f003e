"""What the audit log records of a change: fields as JSON shows them, only what changed, secrets masked."""

from __future__ import annotations

from datetime import UTC, datetime

from app.catalog.audit import diff
from app.db.tables import ApiKeyRow


def test_a_create_lists_its_set_fields_and_masks_secrets() -> None:
    row = {
        "id": "prov_1",
        "name": "p",
        "api_key_enc": "gAAAA-ciphertext",
        "headers": '{"Authorization": "Bearer abcdefghijklmnop", "X-Team": "a"}',
        "models": "[]",
        "first_token_timeout_s": None,
        "created_at": datetime(2026, 11, 23, tzinfo=UTC),
    }
    assert diff(None, row) == {
        "name": "p",
        "api_key_enc": "(set)",
        "headers": {"Authorization": "Bea...mnop", "X-Team": "a"},
    }


def test_an_update_gives_from_and_to_for_what_changed_only() -> None:
    before = {"name": "k", "overrides": '{"rpm": 5}', "key_hash": "aa", "updated_at": datetime(2026, 1, 1, tzinfo=UTC)}
    after = {
        ApiKeyRow.name: "k",
        ApiKeyRow.overrides: '{"rpm": 10}',
        ApiKeyRow.key_hash: "bb",
        ApiKeyRow.updated_at: datetime(2026, 2, 1, tzinfo=UTC),
    }
    assert diff(before, after) == {"overrides": {"from": {"rpm": 5}, "to": {"rpm": 10}}, "key_hash": "(replaced)"}


def test_a_credential_sent_again_is_replaced_and_one_taken_away_is_removed() -> None:
    assert diff({"api_key_enc": "c1"}, {"api_key_enc": "c2"}) == {"api_key_enc": "(replaced)"}
    assert diff({"api_key_enc": "c1"}, {"api_key_enc": None}) == {"api_key_enc": "(removed)"}
    assert diff({"api_key_enc": None}, {"api_key_enc": None}) == {}
    assert diff({"api_key_enc": None}, {"api_key_enc": "c"}) == {"api_key_enc": "(set)"}
    assert diff({"password_hash": "h"}, {"password_hash": "h"}) == {}
