"""Profiles of the spec: one spelling per stack of opt-in profiles, each merging its own overlay
(`x-inferno-strict`, `x-openresponses`), and the base contract untouched by any of them."""

from __future__ import annotations

import json
from typing import Any

import pytest

import specs

STRICT_ONLY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3e6}


def _valid(validator: Any, instance: Any) -> bool:
    return not list(validator.iter_errors(instance))


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("openai", "openai"),
        ("strict", "strict"),
        ("openresponses", "openresponses"),
        ("strict,openresponses", "openresponses,strict"),
        (" openresponses , strict ", "openresponses,strict"),
        ("openai,strict", "strict"),
        ("strict,strict", "strict"),
    ],
)
def test_a_stack_has_one_spelling(given: str, canonical: str) -> None:
    assert specs.canonical_profile(given) == canonical


@pytest.mark.parametrize("bad", ["", "lenient", "strict,lenient", ","])
def test_unknown_profiles_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="profile"):
        specs.canonical_profile(bad)


def test_has_profile_reads_the_stack() -> None:
    assert specs.has_profile("openresponses,strict", "strict")
    assert specs.has_profile("openresponses,strict", "openresponses")
    assert not specs.has_profile("openai", "strict")
    assert specs.profile_parts("openai") == frozenset()


def test_each_profile_merges_its_own_overlay_and_a_stack_merges_both() -> None:
    def response(profile: str) -> dict[str, Any]:
        return specs.profiled_spec(profile)["components"]["schemas"]["Response"]

    def chat(profile: str) -> Any:
        return specs.request_validator("createChatCompletion", profile)

    base = response("openai")
    assert "presence_penalty" not in base["required"]
    assert base["properties"]["temperature"]["type"] == ["number", "null"]
    for profile in ("openresponses", "openresponses,strict"):
        merged = response(profile)
        # `required` grows (the base list kept, in order); other keywords are replaced.
        assert merged["required"][: len(base["required"])] == base["required"]
        assert {"presence_penalty", "safety_identifier", "prompt_cache_key"} <= set(
            merged["required"]
        )
        assert merged["properties"]["temperature"]["type"] == "number"
    assert _valid(chat("openresponses"), STRICT_ONLY)
    assert not _valid(chat("strict"), STRICT_ONLY)
    assert not _valid(chat("openresponses,strict"), STRICT_ONLY)
    for profile in specs.PROFILES:
        dumped = json.dumps(specs.profiled_spec(profile)["components"])
        assert specs.OPENRESPONSES_KEY not in dumped and specs.STRICT_KEY not in dumped


def test_spellings_of_one_stack_share_one_document_and_validators() -> None:
    assert specs.profiled_spec("strict,openresponses") is specs.profiled_spec(
        "openresponses,strict"
    )
    one = specs.response_validator("createResponse", 200, "strict,openresponses")
    assert one is specs.response_validator("createResponse", 200, "openresponses,strict")
    assert specs.validator_under(one, "openai") is specs.response_validator("createResponse")


def test_component_validator_reads_any_schema() -> None:
    error_event = specs.component_validator("ResponseWebSocketErrorEvent")
    event = {"type": "error", "status": 404, "error": {"type": "x", "code": "y", "message": "z"}}
    assert _valid(error_event, event)
    assert not _valid(error_event, {"type": "error", "code": "y", "message": "z"})
    with pytest.raises(KeyError):
        specs.component_validator("NoSuchSchema")


def test_the_document_describes_both_overlays() -> None:
    description = specs.load_spec()["info"]["description"]
    assert specs.STRICT_KEY in description and specs.OPENRESPONSES_KEY in description
