"""Run-wide settings, built once per process from Locust's parsed options."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from ._prompts import Prompt, builtin_prompts, load_prompts


@dataclass
class Settings:
    model: str = ""
    max_tokens: int = 64
    api_key: str = ""
    temperature: float = 0.7
    prompts: list[Prompt] = field(default_factory=builtin_prompts)
    extra_body: dict[str, Any] = field(default_factory=dict)
    request_timeout: float = 300.0
    max_retry_after: float = 30.0

    def pick_prompt(self, rng: random.Random) -> Prompt:
        return rng.choice(self.prompts)


def from_options(options: Any) -> Settings:
    settings = Settings()
    if options is None:
        return settings
    settings.model = getattr(options, "model", "") or ""
    settings.max_tokens = int(getattr(options, "max_tokens", 64) or 64)
    settings.api_key = getattr(options, "api_key", "") or ""
    settings.temperature = float(getattr(options, "temperature", 0.7))
    settings.request_timeout = float(getattr(options, "request_timeout", 300.0) or 300.0)
    settings.max_retry_after = float(getattr(options, "max_retry_after", 30.0))
    if getattr(options, "prompts", ""):
        settings.prompts = load_prompts(options.prompts)
    extra = getattr(options, "extra_body", "") or ""
    if extra:
        parsed = json.loads(extra)
        if not isinstance(parsed, dict):
            raise ValueError("--extra-body must be a JSON object")
        settings.extra_body = parsed
    return settings


SETTINGS = Settings()
