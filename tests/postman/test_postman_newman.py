"""The committed collection, run by a pinned newman against a real reference server, passes."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inferno.launcher import ServerProcess, reference_server_process
from postman import COLLECTION_FILE, ENVIRONMENT_FILE, PACKAGE_DIR

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out

ROOT = Path(__file__).resolve().parents[2]
NEWMAN_LOCK = ROOT / "lock" / "newman"  # package.json and package-lock.json: exact versions
NEWMAN_VERSION = json.loads((NEWMAN_LOCK / "package.json").read_text())["dependencies"]["newman"]
NEWMAN_PREFIX = ROOT / ".tools" / "newman"
NEWMAN = NEWMAN_PREFIX / "node_modules" / ".bin" / "newman"
REPORT = ROOT / "test-artifacts" / "newman-report.json"
API_KEY = "inferno-newman-key"
INSTALL_TIMEOUT_S = 300
RUN_TIMEOUT_S = 120


def _installed_version() -> str | None:
    package = NEWMAN_PREFIX / "node_modules" / "newman" / "package.json"
    if not (NEWMAN.exists() and package.is_file()):
        return None
    return json.loads(package.read_text(encoding="utf-8")).get("version")


@pytest.fixture(scope="module")
def newman() -> Path:
    """newman at the locked version, installed under .tools/ (never globally) when missing."""
    if _installed_version() == NEWMAN_VERSION:
        return NEWMAN
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: cannot install newman to run the Postman collection")
    NEWMAN_PREFIX.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(NEWMAN_LOCK / name, NEWMAN_PREFIX / name)
    subprocess.run(
        [npm, "ci", "--silent", "--no-audit", "--no-fund", "--prefix", str(NEWMAN_PREFIX)],
        cwd=ROOT,
        check=True,
        timeout=INSTALL_TIMEOUT_S,
    )  # fmt: skip
    assert _installed_version() == NEWMAN_VERSION
    return NEWMAN


@pytest.fixture(scope="module")
def keyed_server() -> Iterator[ServerProcess]:
    # Its own server: the shared one runs without keys, and the bad-key row needs keys enforced.
    with reference_server_process(["--model", "tiny", "--api-key", API_KEY]) as server:
        yield server


Report = dict[str, Any]


def _run_collection(newman: Path, base_url: str) -> tuple[subprocess.CompletedProcess[str], Report]:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.unlink(missing_ok=True)
    command = [
        str(newman), "run", str(PACKAGE_DIR / COLLECTION_FILE),
        "--environment", str(PACKAGE_DIR / ENVIRONMENT_FILE),
        "--env-var", f"base_url={base_url}",
        "--env-var", f"api_key={API_KEY}",
        "--timeout-request", "30000",
        "--timeout", str(RUN_TIMEOUT_S * 1000),
        "--color", "off",
        "--reporters", "cli,json",
        "--reporter-json-export", str(REPORT),
    ]  # fmt: skip
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_S + 30
    )
    assert REPORT.is_file(), f"newman wrote no report:\n{result.stdout}\n{result.stderr}"
    return result, json.loads(REPORT.read_text(encoding="utf-8"))["run"]


def _request_count() -> int:
    collection = json.loads((PACKAGE_DIR / COLLECTION_FILE).read_text(encoding="utf-8"))
    return sum(len(folder["item"]) for folder in collection["item"])


@pytest.mark.parametrize("url_form", ["sdk", "root"])
def test_collection_passes_under_newman(
    newman: Path, keyed_server: ServerProcess, url_form: str
) -> None:
    # base_url as given to the OpenAI SDK (…/v1) or as the server root: the same run.
    suffix = "/v1" if url_form == "sdk" else ""
    result, run = _run_collection(newman, keyed_server.base_url + suffix)
    failures = [
        f"{f['source'].get('name')}: {f['error'].get('test')}: {f['error'].get('message')}"
        for f in run["failures"]
    ]
    assert result.returncode == 0, "\n".join(failures) or result.stdout[-4000:]
    assert failures == []
    stats = run["stats"]
    assert stats["requests"]["total"] == _request_count()
    assert stats["requests"]["failed"] == 0
    assert stats["assertions"]["failed"] == 0
    assert stats["assertions"]["total"] >= 3 * _request_count()  # status + schema + more, each
    skipped = [
        a["assertion"]
        for execution in run["executions"]
        for a in execution.get("assertions", [])
        if a.get("skipped")
    ]
    assert skipped == [], "the server has keys: nothing may be skipped"
