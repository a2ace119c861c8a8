"""How a check ends: its own failure, the soft failures it recorded, and shed load, settled into
one verdict (run by the plugin around each check's call).

- A check that saw shed load it could not retry away (`compliance._shed`) and then failed is
  *inconclusive*: the server said "not now", so the rule under test was not judged.
- Otherwise soft failures (schema, envelope) fail the check at its end, after its behaviour
  checks ran; a hard failure of the check carries them along (`ComplianceFailure.also`), and a
  crash or a skip after a soft failure is its consequence: the soft failure is the verdict.
"""

from __future__ import annotations

import pytest

from compliance._failure import ComplianceFailure

_SKIPS = (pytest.skip.Exception, pytest.xfail.Exception)


class Inconclusive(pytest.skip.Exception):  # type: ignore[misc,name-defined]
    """A check that could not be judged because the server shed load; reported apart."""

    def __init__(self, shed: list[str], failure: BaseException | None) -> None:
        then = _first_line(str(failure)) if failure is not None else "it failed"
        super().__init__(
            f"inconclusive: the server shed load ({shed[0]}"
            + (f", and {len(shed) - 1} more" if len(shed) > 1 else "")
            + f") beyond the retry budget; then {then}"
        )
        self.shed = shed


def settle(soft: list[ComplianceFailure], exc: BaseException | None, shed: list[str]) -> None:
    """Raise the check's verdict, or return to let `exc` (or the pass) stand."""
    skipped = isinstance(exc, _SKIPS)
    failing = bool(soft) or (exc is not None and not skipped)
    if failing and shed:
        raise Inconclusive(shed, exc if exc is not None else soft[0]) from exc
    if isinstance(exc, ComplianceFailure):
        seen = {(exc.rule, exc.cause)}
        exc.also.extend(f for f in soft if (f.rule, f.cause) not in seen)
        return
    if soft:
        first = soft[0]
        first.also.extend(soft[1:])
        raise first from exc
    return


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0][:200]
