"""`python -m reference_server`: flags, API keys from flags and the environment, config files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reference_server.cli import API_KEYS_ENV, build_parser, config_from_args, main

ISSUE_FLAGS = [
    "--model",
    "--model-id",
    "--config",
    "--host",
    "--port",
    "--n-ctx",
    "--n-gpu-layers",
    "--api-key",
    "--max-body-bytes",
]


def config(*argv: str):
    return config_from_args(build_parser().parse_args(["serve", *argv]))


def test_module_help_lists_every_documented_flag() -> None:
    top = subprocess.run(
        [sys.executable, "-m", "reference_server", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert top.returncode == 0, top.stderr
    assert "serve" in top.stdout
    serve = subprocess.run(
        [sys.executable, "-m", "reference_server", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert serve.returncode == 0, serve.stderr
    for flag in ISSUE_FLAGS:
        assert flag in serve.stdout, flag


def test_defaults_are_loopback_port_8000_and_the_tiny_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(API_KEYS_ENV, raising=False)
    cfg = config()
    assert (cfg.host, cfg.port) == ("127.0.0.1", 8000)
    assert [m.model_id for m in cfg.models] == ["inferno-tiny"]
    assert cfg.api_keys == ()


def test_model_id_defaults_to_the_file_stem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(API_KEYS_ENV, raising=False)
    assert config("--model", "/models/qwen-0.5b.gguf").models[0].model_id == "qwen-0.5b"
    assert config("--model", "tiny", "--model-id", "mine").models[0].model_id == "mine"


def test_api_keys_come_from_flags_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(API_KEYS_ENV, " k3 , ,k4,")
    assert config("--api-key", "k1", "--api-key", "k2").api_keys == ("k1", "k2", "k3", "k4")


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_config_file_lists_models(tmp_path: Path, suffix: str) -> None:
    data = {
        "models": [
            {"id": "a", "path": "tiny", "n_ctx": 128},
            {"path": "/models/b-model.gguf", "owned_by": "me"},
        ]
    }
    path = tmp_path / f"models{suffix}"
    path.write_text(json.dumps(data), encoding="utf-8")  # JSON is valid YAML too
    models = config("--config", str(path), "--n-ctx", "512").models
    assert [(m.model_id, m.path, m.n_ctx) for m in models] == [
        ("a", "tiny", 128),
        ("b-model", "/models/b-model.gguf", 512),
    ]
    assert models[1].owned_by == "me"


@pytest.mark.parametrize(
    "text",
    [
        "models: []\n",
        "other: 1\n",
        "models:\n  - id: x\n",
        "models:\n  - {id: x, path: tiny}\n  - {id: x, path: tiny}\n",
    ],
    ids=["empty", "no-models", "no-path", "duplicate-ids"],
)
def test_bad_config_file_exits_2(
    tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--config", str(path)])
    assert exited.value.code == 2
    assert "error: argument --config:" in capsys.readouterr().err


def test_missing_model_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--model", str(tmp_path / "missing.gguf")])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "error: argument --model:" in err and "missing.gguf" in err


def test_tiny_model_command_prints_the_model_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tiny-model"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path.is_file() and path.suffix == ".gguf"
