"""What the compat runs ask of the suite beyond the `openai` profile: the Open Responses
profile, run on the responses area only, where this checkout's suite has it."""

from __future__ import annotations

OPENRESPONSES = "openresponses"


def openresponses_missing() -> str:
    """Why the suite cannot run the profile now; "" when it can.

    Read from the suite itself at run time, so the group starts running the day the profile
    lands, with nothing to change here.
    """
    try:
        from compliance import _options
    except Exception as exc:  # a suite that does not import cannot run any profile
        return f"the suite does not import: {exc}"
    if OPENRESPONSES not in _options.PROFILES:
        known = ", ".join(_options.PROFILES)
        return f"the suite has no `--profile {OPENRESPONSES}` (it has: {known})"
    return ""


def responses_modules() -> list[str]:
    """The suite's modules of the responses area, as pytest targets from the checkout."""
    from compliance import _report

    return [f"compliance/{m}.py" for m, area in _report.AREAS.items() if area == "responses"]
