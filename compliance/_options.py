"""Command-line options of the suite; every option can also come from an environment variable."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pytest

import specs
from inferno.urls import api_base, server_root

PRESETS = ("core", "extended", "full")
PROFILES = specs.PROFILES  # one of them, or opt-in profiles stacked: "openresponses,strict"
FEATURES = (
    "completions",
    "embeddings",
    "tools",
    "logprobs",
    "n",
    "response_format",
    "echo",
    "seed",
    "compression",
    "responses",
    "responses_tools",
    "responses_store",
    "responses_websocket",
    "responses_compact",
)

# (option, env var, default, help). The env var is the default so a CLI flag always wins.
_OPTIONS: tuple[tuple[str, str, str | None, str], ...] = (
    (
        "--base-url",
        "INFERNO_BASE_URL",
        None,
        "Server URL, as given to the OpenAI SDK (http://HOST:PORT/v1; without /v1 is the same).",
    ),
    ("--api-key", "INFERNO_API_KEY", None, "API key; also enables the authentication checks."),
    ("--model", "INFERNO_MODEL", None, "Model id (default: first id of GET /models)."),
    ("--embedding-model", "INFERNO_EMBEDDING_MODEL", None, "Embedding model id."),
    ("--preset", "INFERNO_PRESET", "extended", "Breadth: core | extended | full."),
    (
        "--profile",
        "INFERNO_PROFILE",
        "openai",
        "openai (OpenAI's documented contract) | strict (our stricter rules) | openresponses "
        "(the Open Responses spec); stack with commas, e.g. openresponses,strict.",
    ),
    ("--require", "INFERNO_REQUIRE", "", "Comma-separated features whose absence fails."),
    ("--fuzz-examples", "INFERNO_FUZZ_EXAMPLES", None, "Fuzz examples per operation."),
    ("--fuzz-seed", "INFERNO_FUZZ_SEED", None, "Seed for reproducible fuzzing."),
    ("--request-timeout", "INFERNO_REQUEST_TIMEOUT", "30", "Deadline per request, seconds."),
    ("--report", "INFERNO_REPORT", None, "Directory for report.json/.md/.html."),
    ("--baseline", "INFERNO_BASELINE", None, "Known failures by rule (reported, not failing)."),
    (
        "--shed-retries",
        "INFERNO_SHED_RETRIES",
        "3",
        "Retries of one exchange shed with 429/503 and Retry-After, after the advised delay.",
    ),
    (
        "--shed-wait",
        "INFERNO_SHED_WAIT",
        "60",
        "Seconds a run may spend in all waiting out Retry-After (per process).",
    ),
    (
        "--inconclusive-exit",
        "INFERNO_INCONCLUSIVE_EXIT",
        "0",
        "Exit code of a run with no failure but inconclusive checks (shed load); 0 lets it pass.",
    ),
    (
        "--clients-python",
        "INFERNO_CLIENTS_PYTHON",
        None,
        "Interpreters (comma-separated) for client libraries missing from this environment; "
        "`make clients-env` creates .tools/clients and .tools/clients-instructor, used anyway.",
    ),
)

# Fuzz examples per operation for each preset: core is a smoke test, full digs deeper.
FUZZ_DEPTH = {"core": 0, "extended": 6, "full": 30}


# pytest-base-url (pulled in by pytest-playwright and pytest-selenium) owns --base-url when it is
# installed; the suite then reads that option instead of adding a clashing one.
BASE_URL_PLUGIN = "base_url"
BASE_URL_PLUGIN_DEST = "base_url"


def add_options(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    group = parser.getgroup("inferno", "Inferno compliance suite")
    shared_base_url = pluginmanager.has_plugin(BASE_URL_PLUGIN)
    for flag, env, _default, help_text in _OPTIONS:
        if flag == "--base-url" and shared_base_url:
            continue
        # No default here: Settings.from_config falls back to the env var, then the default.
        group.addoption(
            flag, dest=_dest(flag), default=None, help=f"{help_text} Env: {env}.", metavar="VALUE"
        )
    group.addoption(
        "--clients",
        dest="inferno_clients",
        action="store_true",
        default=False,
        help="Run the clients area (real client libraries) in any preset; `full` runs it anyway.",
    )
    group.addoption(
        "--update-baseline",
        dest="inferno_update_baseline",
        action="store_true",
        default=False,
        help="Write the rules failing now, with their tests, to --baseline FILE.",
    )


def _dest(flag: str) -> str:
    return "inferno_" + flag.lstrip("-").replace("-", "_")


def _value(config: pytest.Config, flag: str) -> str | None:
    for option, env, default, _ in _OPTIONS:
        if option == flag:
            cli = config.getoption(_dest(flag), default=None)
            if cli in (None, "") and flag == "--base-url":
                cli = config.getoption(BASE_URL_PLUGIN_DEST, default=None)
            if cli not in (None, ""):
                return str(cli)
            env_value = os.environ.get(env)
            if env_value not in (None, ""):
                return env_value
            return default
    raise KeyError(flag)


@dataclass(frozen=True)
class Settings:
    base_url: str | None
    api_key: str | None
    model: str | None
    embedding_model: str | None
    preset: str
    profile: str
    require: frozenset[str]
    fuzz_examples: int
    fuzz_seed: int | None
    request_timeout: float
    report_dir: str | None
    baseline: str | None
    update_baseline: bool
    clients: bool = False
    clients_python: str | None = None
    shed_retries: int = 3
    shed_wait: float = 60.0
    inconclusive_exit: int = 0
    errors: tuple[str, ...] = field(default=())

    @property
    def strict(self) -> bool:
        return specs.has_profile(self.profile, "strict")

    @property
    def openresponses(self) -> bool:
        return specs.has_profile(self.profile, "openresponses")

    @property
    def root_url(self) -> str:
        """The server root (no /v1), for /health and the spec's paths, which include /v1."""
        return server_root(self.base_url or "")

    @classmethod
    def from_config(cls, config: pytest.Config) -> Settings:
        errors: list[str] = []
        preset = (_value(config, "--preset") or "extended").lower()
        if preset not in PRESETS:
            errors.append(f"--preset must be one of {PRESETS}, got {preset!r}")
            preset = "extended"
        try:
            profile = specs.canonical_profile((_value(config, "--profile") or "openai").lower())
        except ValueError as exc:
            errors.append(f"--profile: {exc}")
            profile = "openai"
        require = frozenset(
            f.strip().lower() for f in (_value(config, "--require") or "").split(",") if f.strip()
        )
        unknown = require - set(FEATURES)
        if unknown:
            errors.append(f"--require: unknown features {sorted(unknown)}; known: {FEATURES}")
        fuzz_raw = _value(config, "--fuzz-examples")
        seed_raw = _value(config, "--fuzz-seed")
        timeout_raw = _value(config, "--request-timeout") or "30"
        try:
            fuzz = int(fuzz_raw) if fuzz_raw is not None else FUZZ_DEPTH[preset]
            seed = int(seed_raw) if seed_raw is not None else None
            timeout = float(timeout_raw)
        except ValueError as exc:
            errors.append(f"invalid numeric option: {exc}")
            fuzz, seed, timeout = FUZZ_DEPTH[preset], None, 30.0
        try:
            shed_retries = int(_value(config, "--shed-retries") or "3")
            shed_wait = float(_value(config, "--shed-wait") or "60")
            inconclusive_exit = int(_value(config, "--inconclusive-exit") or "0")
        except ValueError as exc:
            errors.append(f"invalid numeric option: {exc}")
            shed_retries, shed_wait, inconclusive_exit = 3, 60.0, 0
        base_url = _value(config, "--base-url")
        return cls(
            base_url=api_base(base_url) if base_url else None,
            api_key=_value(config, "--api-key"),
            model=_value(config, "--model"),
            embedding_model=_value(config, "--embedding-model"),
            preset=preset,
            profile=profile,
            require=require,
            fuzz_examples=max(0, fuzz),
            fuzz_seed=seed,
            request_timeout=max(1.0, timeout),
            report_dir=_value(config, "--report"),
            baseline=_value(config, "--baseline"),
            update_baseline=bool(config.getoption("inferno_update_baseline", default=False)),
            clients=bool(config.getoption("inferno_clients", default=False)),
            clients_python=_value(config, "--clients-python"),
            shed_retries=max(0, shed_retries),
            shed_wait=max(0.0, shed_wait),
            inconclusive_exit=inconclusive_exit,
            errors=tuple(errors),
        )
