"""Write the Postman collection (format v2.1) and environment from `specs/`.

    python -m postman.generate              # rewrite postman/*.json
    python -m postman.generate --check      # exit 1 if the committed files are stale
    python -m postman.generate --out-dir D  # write elsewhere

The output is deterministic (fixed ids, no timestamps, stable key order) so that the committed
files equal a fresh run and a diff shows exactly what a spec change did to the collection.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from typing import Any

from inferno.urls import api_base

from . import COLLECTION_FILE, ENVIRONMENT_FILE, PACKAGE_DIR, _schemas, _scripts
from ._requests import Case, Folder, Repeat, folders

COLLECTION_SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
NAME = "Inferno OpenAI-compatible API"
# Fixed ids: Postman wants one, and a random one would make every run differ.
_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:inferno:postman")
ENVIRONMENT_DEFAULTS: dict[str, str] = {
    # The OpenAI SDK's form; the server root without /v1 works the same (see SERVER_ROOT_SCRIPT).
    "base_url": api_base(_schemas.default_server_url()),
    "api_key": "",
    "model": "inferno-tiny",
    "embedding_model": "inferno-tiny",
}
_SECRETS = frozenset({"api_key"})
# Request URLs start from the server root (the spec's paths include /v1). `base_url` is accepted in
# both forms, as everywhere in the harness: this collection-level script derives the root from it.
SERVER_ROOT = "server_root"
SERVER_ROOT_SCRIPT = [
    "// base_url may be the OpenAI SDK's form (http://host:port/v1) or the server root.",
    "const given = String(pm.variables.get('base_url') || '').trim().replace(/\\/+$/, '');",
    f"pm.variables.set('{SERVER_ROOT}', given.replace(/\\/v1$/, '').replace(/\\/+$/, ''));",
]


def build_collection() -> dict[str, Any]:
    return {
        "info": {
            "_postman_id": str(uuid.uuid5(_ID_NAMESPACE, "collection")),
            "name": NAME,
            "description": (
                "Generated from specs/openapi.yaml by `python -m postman.generate`; do not edit "
                "by hand. Response schemas are embedded from the spec. Set `base_url` (as given to "
                "the OpenAI SDK, http://HOST:PORT/v1; without /v1 works too), `api_key`, `model` "
                "and `embedding_model` in the environment."
            ),
            "schema": COLLECTION_SCHEMA,
        },
        "auth": _bearer("{{api_key}}"),
        "event": [_event("prerequest", SERVER_ROOT_SCRIPT)],
        "item": [_folder(f) for f in folders()],
    }


def build_environment() -> dict[str, Any]:
    return {
        "id": str(uuid.uuid5(_ID_NAMESPACE, "environment")),
        "name": f"{NAME} (local reference server)",
        "values": [
            {
                "key": key,
                "value": value,
                "type": "secret" if key in _SECRETS else "default",
                "enabled": True,
            }
            for key, value in ENVIRONMENT_DEFAULTS.items()
        ],
        "_postman_variable_scope": "environment",
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in _documents().items():
        path = out_dir / name
        path.write_text(render(document), encoding="utf-8")
        written.append(path)
    return written


def stale(out_dir: Path) -> list[Path]:
    """The files under out_dir that differ from a fresh generation (or are missing)."""
    found = []
    for name, document in _documents().items():
        path = out_dir / name
        if not path.is_file() or path.read_text(encoding="utf-8") != render(document):
            found.append(path)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m postman.generate", description=__doc__)
    parser.add_argument("--out-dir", type=Path, default=PACKAGE_DIR)
    parser.add_argument("--check", action="store_true", help="report stale files, write nothing")
    args = parser.parse_args(argv)
    if args.check:
        outdated = stale(args.out_dir)
        for path in outdated:
            print(f"stale: {path} (run python -m postman.generate)", file=sys.stderr)
        return 1 if outdated else 0
    for path in write(args.out_dir):
        print(f"wrote {path}")
    return 0


# ----------------------------------------------------------------------------- internals


def _documents() -> dict[str, dict[str, Any]]:
    return {COLLECTION_FILE: build_collection(), ENVIRONMENT_FILE: build_environment()}


def _bearer(token: str) -> dict[str, Any]:
    return {"type": "bearer", "bearer": [{"key": "token", "value": token, "type": "string"}]}


def _folder(folder: Folder) -> dict[str, Any]:
    return {
        "name": folder.name,
        "description": folder.description,
        "item": [_item(case) for case in folder.cases],
    }


def _item(case: Case) -> dict[str, Any]:
    request: dict[str, Any] = {"method": case.method, "header": [], "url": _url(case.path)}
    if case.bearer is not None:
        request["auth"] = _bearer(case.bearer)
    prerequest: list[str] = []
    if case.body is not None:
        body, prerequest = _body(case.body)
        request["header"] = [{"key": "Content-Type", "value": "application/json"}]
        request["body"] = {"mode": "raw", "raw": body, "options": {"raw": {"language": "json"}}}
    if case.description:
        request["description"] = case.description
    events = []
    if prerequest:
        events.append(_event("prerequest", prerequest))
    events.append(_event("test", _tests(case)))
    return {"name": case.name, "event": events, "request": request}


def _event(listen: str, lines: list[str]) -> dict[str, Any]:
    return {"listen": listen, "script": {"type": "text/javascript", "exec": lines}}


def _url(path: str) -> dict[str, Any]:
    return {
        "raw": "{{" + SERVER_ROOT + "}}" + path,
        "host": ["{{" + SERVER_ROOT + "}}"],
        "path": [part for part in path.split("/") if part],
    }


def _body(body: dict[str, Any]) -> tuple[str, list[str]]:
    """The raw JSON body, with each Repeat replaced by a variable its pre-request script sets."""
    script: list[str] = []

    def placeholder(value: Any) -> Any:
        if isinstance(value, Repeat):
            script.append(
                f"pm.variables.set({_scripts.js(value.variable)}, "
                f"{_scripts.js(value.char)}.repeat({value.count}));"
            )
            return "{{" + value.variable + "}}"
        return value

    return json.dumps({k: placeholder(v) for k, v in body.items()}, indent=2), script


def _tests(case: Case) -> list[str]:
    lines = _scripts.status(case.status)
    if case.stream:
        assert case.operation_id is not None, "a streamed case belongs to an operation"
        name = _schemas.stream_chunk_schema_name(case.operation_id)
        by_type = _schemas.stream_event_schema_names(case.operation_id)
        if by_type:
            lines += _typed_events(case, by_type)
        else:
            lines += _scripts.sse_stream(_schemas.schema(name, case.profile), name)
    else:
        name = _schemas.response_schema_name(case.operation_id, case.status)
        lines += _scripts.json_body_schema(_schemas.schema(name, case.profile), name)
    if case.error is not None:
        lines += _scripts.error_envelope(case.error.type, case.error.param, case.error.code)
    lines += case.checks
    if case.bearer is not None:
        return _scripts.skip_without_api_key(lines, "needs a server started with API keys")
    return lines


def _typed_events(case: Case, by_type: dict[str, str]) -> list[str]:
    schemas = {
        name: _schemas.without_response(_schemas.schema(name, case.profile))
        for name in sorted(set(by_type.values()))
    }
    assert case.operation_id is not None
    response = _schemas.schema(_schemas.response_schema_name(case.operation_id, 200), case.profile)
    return _scripts.sse_typed_events(response, schemas, by_type)


if __name__ == "__main__":
    sys.exit(main())
