"""Property-based fuzzing from specs/ with schemathesis: positive and negative cases per operation.

Reproducible with --fuzz-seed; a failure names the seed and the curl command of the failing case.
"""

from __future__ import annotations

import random
import re

import pytest

from compliance import _fuzz
from compliance._capabilities import Capabilities
from compliance._client import ApiClient
from compliance._failure import ComplianceFailure
from compliance._options import Settings
from compliance.rules import CONTRACT, declare

FUZZ = {
    "positive": declare(
        "fuzz.positive",
        CONTRACT,
        "valid requests generated from the spec get a documented, schema-valid answer, no 5xx",
    ),
    "negative": declare(
        "fuzz.negative",
        CONTRACT,
        "invalid requests generated from the spec are rejected with a documented 4xx",
    ),
}
NEEDS = {
    "createCompletion": "completions",
    "createEmbedding": "embeddings",
    "createResponse": "responses",
}


@pytest.mark.preset("extended")
@pytest.mark.parametrize("mode", ["positive", "negative"])
@pytest.mark.parametrize("operation_id", _fuzz.FUZZED)
def test_fuzz(
    operation_id: str,
    mode: str,
    settings: Settings,
    model: str,
    caps: Capabilities,
    client: ApiClient,
) -> None:
    if settings.fuzz_examples <= 0:
        pytest.skip("fuzzing disabled (--fuzz-examples 0)")
    # Here, not at the top: a run that fuzzes nothing does not pay for importing them.
    from hypothesis import HealthCheck, Phase, given, seed
    from hypothesis import settings as hsettings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    if operation_id in NEEDS:
        caps.need(NEEDS[operation_id])
    run_seed = settings.fuzz_seed if settings.fuzz_seed is not None else random.randrange(2**32)
    generation = GenerationMode.POSITIVE if mode == "positive" else GenerationMode.NEGATIVE
    strategy = _fuzz.operation(settings.profile, operation_id).as_strategy(
        generation_mode=generation
    )
    headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
    last: dict = {}

    @seed(run_seed)
    @hsettings(
        max_examples=settings.fuzz_examples,
        deadline=None,
        database=None,
        # No shrinking: each shrink step is a real LLM call, and the first failure says enough.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=False,
    )
    @given(case=strategy)
    def run(case: object) -> None:
        case = _fuzz.cheapen(case, model)
        last["case"] = case
        # Through the suite's transport: a total deadline and bounded bodies, like every request.
        response = client.send_case(case, settings.root_url, headers)
        case.validate_response(response, checks=_fuzz.checks(), headers=headers)

    try:
        run()
    except Unsatisfiable:
        pytest.skip(f"no {mode} cases can be generated for {operation_id}")
    except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises BaseExceptionGroup
        case = last.get("case")
        curl = case.as_curl_command(headers=headers, base_url=settings.root_url) if case else "-"
        raise ComplianceFailure(
            FUZZ[mode],
            f"{operation_id}: schemathesis found a deviation (rerun with --fuzz-seed {run_seed}):\n"
            f"{_summary(exc)}\n  reproduce: {_clip(curl, 3000)}",
            cause=f"fuzz.{mode} {operation_id} {_kinds(_summary(exc))}",
            reproduce=curl if case else None,
        ) from None


def _summary(exc: BaseException) -> str:
    """The failure kinds and messages without schemathesis' embedded reproduction command."""
    text = str(exc)
    if isinstance(exc, BaseExceptionGroup):
        text += "\n" + "\n".join(f"- {type(e).__name__}: {e}" for e in exc.exceptions)
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("curl ")]
    return _clip("\n".join(lines), 3000)


def _kinds(summary: str) -> str:
    """The schemathesis failure codes (ST101 server error, ST108 schema, …): one root cause."""
    codes = sorted(set(re.findall(r"\bST\d{3}\b", summary)))
    return ",".join(codes) or "other"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more chars]"
