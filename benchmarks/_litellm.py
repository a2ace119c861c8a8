"""LiteLLM's proxy in front of the reference server: the gateway people put before a local
server, as a compliance peer, so what its translation changes is measured like a server.

It lives in an environment of its own (``.tools/litellm``), installed here at the litellm
version the lock pins for the clients area, and never by `make test`: the proxy extra drags in
a web stack the main environment has no use for.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import _build
from ._peers import INSTALL_TIMEOUT_S, Launch, Peer, PeerUnavailable

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".tools" / "litellm"
LOCK = ROOT / "lock" / "constraints.txt"  # the version only
# Versions recorded with the results: the proxy and the web stack it serves with.
RECORDED = ("litellm", "fastapi", "uvicorn", "openai")
# Packages the proxy extra pins to litellm's own release; see _install.
COMPANIONS = ("litellm-proxy", "litellm-proxy-extras", "litellm-enterprise")
# Run in VENV: the proxy extra's requirements for this interpreter, bar the companions.
_EXTRA = f"""
import importlib.metadata as m
from packaging.requirements import Requirement
for line in m.requires("litellm") or []:
    req = Requirement(line)
    if req.marker is None or req.marker.evaluate({{"extra": ""}}):
        continue
    if req.marker.evaluate({{"extra": "proxy"}}) and req.name not in {COMPANIONS!r}:
        req.marker = None
        print(req)
"""
ENV = {
    # The model price list is otherwise fetched from GitHub at import; runs stay on loopback.
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    # DEV mode loads a `.env` from the working directory (the checkout) into the proxy.
    "LITELLM_MODE": "PRODUCTION",
}
NOTE = (
    "LiteLLM's proxy in front of the reference server (the `ours` column): one deployment, "
    "`openai/<model id>` with `api_base` the reference server's `/v1`, under the same model "
    "id, which serves chat, completions, embeddings and responses. What differs from `ours` is "
    "what the proxy changes. It runs without a master key "
    "(`general_settings.dangerously_permit_weak_or_unset_master_key`; it refuses to start "
    "otherwise) and with `router_settings.disable_cooldowns`: by default one upstream 404 (the "
    "suite asks for unknown models on purpose) puts the deployment in a 5 s cooldown in which "
    "every request gets a 429 with `Retry-After: 5`, and this column would measure that policy "
    "instead of the translation."
)


def locked_version(lock: Path = LOCK) -> str:
    """The litellm version the lock pins (the clients area tests the same release)."""
    found = re.search(r"^litellm==(\S+)", lock.read_text(encoding="utf-8"), re.MULTILINE)
    if found is None:
        raise PeerUnavailable(f"{lock.name} pins no litellm version")
    return found.group(1)


def config(launch: Launch) -> dict[str, Any]:
    """The proxy's config for one launch: the model id routed to `launch.upstream`."""
    return {
        "model_list": [
            {
                "model_name": launch.model_id,
                "litellm_params": {
                    "model": f"openai/{launch.model_id}",
                    "api_base": launch.upstream,
                    # The OpenAI provider refuses to send a request without a key.
                    "api_key": "unused",
                },
            }
        ],
        "general_settings": {"dangerously_permit_weak_or_unset_master_key": True},
        "router_settings": {"disable_cooldowns": True},
    }


def prepare(upstream: Peer, log: Callable[[str], None] = print) -> Peer:
    """The proxy peer in front of `upstream`; raises PeerUnavailable if it cannot be installed."""
    version = _install(locked_version(), log)
    proxy = VENV / "bin" / "litellm"

    def command(launch: Launch, role: str) -> list[str]:
        # YAML is a superset of JSON: no YAML writer needed on this side.
        path = _build.cache_dir() / f"litellm-{launch.port}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config(launch), indent=1), encoding="utf-8")
        return [
            str(proxy),
            "--config",
            str(path),
            "--host",
            "127.0.0.1",
            "--port",
            str(launch.port),
            "--num_workers",
            "1",
        ]

    return Peer(
        "litellm",
        {**version, "in front of": upstream.name},
        command,
        notes=[NOTE],
        upstream=upstream,
        ready=("GET", "/v1/models", None),
        env=dict(ENV),
    )


def _install(version: str, log: Callable[[str], None]) -> dict[str, str]:
    """Install the proxy at `version` into VENV once; the versions it runs with."""
    python = str(VENV / "bin" / "python")
    stamp = VENV / ".installed"
    recorded = _recorded(stamp)
    if recorded.get("litellm") == version:
        return recorded
    how = f"litellm[proxy]=={version}"
    log(f"installing {how} into {VENV.relative_to(ROOT)}")
    if not Path(python).exists():
        _run([sys.executable, "-m", "venv", str(VENV)], "creating its environment")
    # Not under the lock: the proxy extra's web stack (websockets < 16, ...) contradicts it.
    try:
        _pip(python, how)
    except PeerUnavailable as exc:
        # Its extra pins companion packages at releases PyPI may not have (1.110: none of
        # litellm-proxy 1.110.2); the proxy ships in the litellm wheel and starts without them.
        how = f"litellm=={version} and its proxy extra without {', '.join(COMPANIONS)}"
        log(f"{exc}; installing {how}")
        _pip(python, f"litellm=={version}")
        extra = _run([python, "-c", _EXTRA], "reading the proxy extra").stdout.split()
        _pip(python, f"litellm=={version}", *extra)
    script = (
        "import importlib.metadata as m, json; "
        f"print(json.dumps({{d: m.version(d) for d in {list(RECORDED)!r}}}))"
    )
    versions = json.loads(_run([python, "-c", script], "reading its versions").stdout)
    versions["installed as"] = how
    stamp.write_text(json.dumps(versions), encoding="utf-8")
    return versions


def _recorded(stamp: Path) -> dict[str, str]:
    """What an earlier install recorded; nothing if it did not finish."""
    try:
        return json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _pip(python: str, *requirements: str) -> None:
    command = [python, "-m", "pip", "install", "--quiet", *requirements]
    _run(command, f"`pip install {' '.join(requirements)}`")


def _run(command: list[str], what: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            command,
            check=True,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.CalledProcessError as exc:
        tail = " ".join((exc.stderr or exc.stdout or "").split())[-300:]
        raise PeerUnavailable(f"{what} failed: {tail}") from exc
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PeerUnavailable(f"{what} failed: {exc}") from exc
