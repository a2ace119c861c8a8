"""The generated Postman files: committed equals regenerated, and the content follows the spec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

import specs
from postman import COLLECTION_FILE, ENVIRONMENT_FILE, PACKAGE_DIR, _schemas, generate
from postman._requests import Case, Repeat, folders

V21 = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
CASES = [case for folder in folders() for case in folder.cases]


def _committed(name: str) -> dict[str, Any]:
    return json.loads((PACKAGE_DIR / name).read_text(encoding="utf-8"))


def _requests(collection: dict[str, Any]) -> list[dict[str, Any]]:
    return [item for folder in collection["item"] for item in folder["item"]]


def _script(item: dict[str, Any], listen: str) -> str:
    scripts = [e["script"]["exec"] for e in item["event"] if e["listen"] == listen]
    return "\n".join(line for lines in scripts for line in lines)


def _concrete(value: Any) -> Any:
    """A body as a server would receive it: variables filled in, long strings expanded."""
    if isinstance(value, Repeat):
        return value.text()
    if isinstance(value, dict):
        return {k: _concrete(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_concrete(v) for v in value]
    if isinstance(value, str) and value.startswith("{{"):
        # response_id is set while the collection runs, by the request that creates a response.
        known = {**generate.ENVIRONMENT_DEFAULTS, "response_id": "resp_created_earlier"}
        return known[value.strip("{}")]
    return value


# ----------------------------------------------------------------------------- committed files


def test_committed_files_equal_a_fresh_generation(tmp_path: Path) -> None:
    written = generate.write(tmp_path)
    assert sorted(p.name for p in written) == sorted([COLLECTION_FILE, ENVIRONMENT_FILE])
    for path in written:
        assert path.read_bytes() == (PACKAGE_DIR / path.name).read_bytes(), (
            f"postman/{path.name} is stale: run python -m postman.generate"
        )


def test_check_mode_reports_stale_files(tmp_path: Path) -> None:
    assert generate.main(["--check"]) == 0
    assert generate.main(["--check", "--out-dir", str(tmp_path)]) == 1
    generate.main(["--out-dir", str(tmp_path)])
    assert generate.main(["--check", "--out-dir", str(tmp_path)]) == 0


def test_generation_is_deterministic() -> None:
    assert generate.render(generate.build_collection()) == generate.render(
        generate.build_collection()
    )


# ----------------------------------------------------------------------------- structure


def test_collection_is_v21_with_bearer_auth_from_the_environment() -> None:
    collection = _committed(COLLECTION_FILE)
    assert collection["info"]["schema"] == V21
    assert collection["auth"] == {
        "type": "bearer",
        "bearer": [{"key": "token", "value": "{{api_key}}", "type": "string"}],
    }


def test_one_folder_per_route_plus_strict() -> None:
    names = [folder["name"] for folder in _committed(COLLECTION_FILE)["item"]]
    assert names == [
        "Models",
        "Chat completions",
        "Completions",
        "Embeddings",
        "Responses",
        "Strict profile",
        "Any route",
    ]


def test_environment_has_the_documented_variables() -> None:
    environment = _committed(ENVIRONMENT_FILE)
    values = {v["key"]: v["value"] for v in environment["values"]}
    assert values == {
        "base_url": "http://127.0.0.1:8000/v1",
        "api_key": "",
        "model": "inferno-tiny",
        "embedding_model": "inferno-tiny",
    }


def test_request_urls_start_from_the_root_derived_from_base_url() -> None:
    collection = _committed(COLLECTION_FILE)
    (event,) = collection["event"]
    assert event["listen"] == "prerequest"
    assert "pm.variables.set('server_root'" in "\n".join(event["script"]["exec"])
    for item in _requests(collection):
        assert item["request"]["url"]["raw"].startswith("{{server_root}}/v1/")


def test_every_request_asserts_status_and_a_schema_from_the_spec() -> None:
    items = _requests(_committed(COLLECTION_FILE))
    assert len(items) == len(CASES)
    for item, case in zip(items, CASES, strict=True):
        tests = _script(item, "test")
        assert f"pm.response.to.have.status({case.status});" in tests, item["name"]
        assert ".to.have.jsonSchema(" in tests, item["name"]
        assert '"$schema": "http://json-schema.org/draft-07/schema#"' in tests, item["name"]
        if case.error is not None:
            assert f"error.type is {case.error.type}" in tests, item["name"]


def test_the_happy_paths_and_error_rows_are_all_there() -> None:
    items = _requests(_committed(COLLECTION_FILE))
    bodies = [json.loads(i["request"].get("body", {}).get("raw", "{}")) for i in items]
    assert any(b.get("stream") is True for b in bodies)
    assert {b.get("encoding_format") for b in bodies} >= {"float", "base64"}
    params = {c.error.param for c in CASES if c.error is not None}
    assert params >= {"model", "temperature", "top_p", "max_tokens", "input", "max_output_tokens"}
    statuses = {c.status for c in CASES}
    assert statuses == {200, 400, 401, 404}
    assert [c.bearer for c in CASES if c.status == 401] == ["inferno-wrong-api-key"]


def test_streamed_requests_check_their_events() -> None:
    items = _requests(_committed(COLLECTION_FILE))
    streamed = {c.operation_id: i for i, c in zip(items, CASES, strict=True) if c.stream}
    assert sorted(streamed) == ["createChatCompletion", "createResponse"]
    chat = _script(streamed["createChatCompletion"], "test")
    assert "data: [DONE]" in chat
    assert "JSON.parse(data)" in chat
    # Responses events: one schema per `type`, numbered, created first and one terminal event.
    responses = _script(streamed["createResponse"], "test")
    assert "eventSchemas[schemaOfType[event.type]]" in responses
    assert "sequence_number" in responses and "response.created" in responses
    assert '"response.output_text.delta": "ResponseOutputTextDeltaEvent"' in responses


def test_responses_folder_runs_a_stored_response_through_its_life() -> None:
    folder = next(f for f in folders() if f.name == "Responses")
    steps = [(c.method, c.operation_id, c.status) for c in folder.cases[:9]]
    assert steps == [
        ("POST", "createResponse", 200),
        ("POST", "createResponse", 200),
        ("GET", "getResponse", 200),
        ("GET", "listResponseInputItems", 200),
        ("POST", "createResponse", 200),
        ("POST", "compactResponse", 200),
        ("POST", "countResponseInputTokens", 200),
        ("DELETE", "deleteResponse", 200),
        ("GET", "getResponse", 404),
    ]
    assert "pm.collectionVariables.set('response_id'" in "\n".join(folder.cases[0].checks)
    assert all("{{response_id}}" in c.path for c in folder.cases[2:4])


def test_long_input_is_built_by_a_prerequest_script() -> None:
    items = _requests(_committed(COLLECTION_FILE))
    strict = next(f for f in _committed(COLLECTION_FILE)["item"] if f["name"] == "Strict profile")
    limit = specs.schema_for("EmbeddingInputString", "strict")["maxLength"]
    assert f".repeat({limit + 1})" in _script(strict["item"][0], "prerequest")
    assert "a" * limit not in json.dumps(items)  # no 8,000-character literal


# ----------------------------------------------------------------------------- agrees with the spec


@pytest.mark.parametrize("case", CASES, ids=[f"{c.method} {c.path} {c.name}" for c in CASES])
def test_status_is_documented_and_body_fits_the_row(case: Case) -> None:
    if case.operation_id is not None:
        op = specs.operation(case.operation_id)
        responses = specs.load_spec()["paths"][op.path][op.method.lower()]["responses"]
        assert str(case.status) in responses
    if case.body is None:
        return
    body = _concrete(case.body)
    valid_openai = specs.request_validator(case.operation_id, "openai").is_valid(body)
    valid_profile = specs.request_validator(case.operation_id, case.profile).is_valid(body)
    if case.status == 400:
        assert not valid_profile, "an error row must send a body the spec rejects"
        # A strict-only row must be one OpenAI's contract accepts, or it belongs elsewhere.
        assert valid_openai == (case.profile == "strict")
    else:
        assert valid_openai and valid_profile


@pytest.mark.parametrize("case", CASES, ids=[f"{c.method} {c.path} {c.name}" for c in CASES])
def test_embedded_schemas_are_valid_draft07(case: Case) -> None:
    if case.stream:
        names = [_schemas.stream_chunk_schema_name(case.operation_id)]
        names += _schemas.stream_event_schema_names(case.operation_id).values()
    else:
        names = [_schemas.response_schema_name(case.operation_id, case.status)]
    for name in sorted(set(names)):
        Draft7Validator.check_schema(_schemas.schema(name, case.profile))


# ----------------------------------------------------------------------------- draft-07 copy


def test_draft07_copy_drops_annotations_but_not_property_names() -> None:
    source = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"deprecated": {"type": ["integer", "null"], "deprecated": True}},
        "examples": [{"deprecated": 1}],
    }
    converted = _schemas.to_draft07(source)
    assert converted["$schema"] == _schemas.DRAFT_07
    assert converted["properties"] == {"deprecated": {"type": ["integer", "null"]}}
    assert converted["examples"] == [{"deprecated": 1}]  # data, left alone
    validator = Draft7Validator(converted)
    assert validator.is_valid({"deprecated": None})
    assert not validator.is_valid({"deprecated": "x"})


@pytest.mark.parametrize("keyword", ["prefixItems", "unevaluatedProperties", "$ref", "$defs"])
def test_draft07_copy_refuses_keywords_ajv6_would_ignore(keyword: str) -> None:
    with pytest.raises(ValueError, match="draft-07"):
        _schemas.to_draft07({"anyOf": [{"type": "array", keyword: {}}]})
