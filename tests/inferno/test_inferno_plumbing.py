"""The small shared pieces: Retry-After, percentile and the base-URL convention."""

from __future__ import annotations

import email.utils

import pytest

from inferno.retry_after import retry_after_seconds
from inferno.stats import percentile
from inferno.urls import api_base, server_root

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("3", 3.0),
        (" 0 ", 0.0),
        ("1.5", 1.5),
        ("-4", 0.0),
        (email.utils.formatdate(NOW + 30, usegmt=True), 30.0),
        (email.utils.formatdate(NOW - 30, usegmt=True), 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
    ],
)
def test_retry_after(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, now=NOW) == seconds


def test_percentile_interpolates_like_numpy() -> None:
    values = [10.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(values, 50) == 3.0
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 10.0
    assert percentile(values, 90) == pytest.approx(7.6)


def test_percentile_ignores_missing_and_non_finite_samples() -> None:
    assert percentile([None, float("nan"), float("inf"), 5.0], 99) == 5.0
    assert percentile([], 50) is None
    assert percentile([None], 50) is None


@pytest.mark.parametrize(
    "given",
    [
        "http://127.0.0.1:8000",
        "http://127.0.0.1:8000/",
        "http://127.0.0.1:8000/v1",
        "http://127.0.0.1:8000/v1/",
        " http://127.0.0.1:8000/v1 ",
    ],
)
def test_both_url_forms_mean_the_same(given: str) -> None:
    assert server_root(given) == "http://127.0.0.1:8000"
    assert api_base(given) == "http://127.0.0.1:8000/v1"


def test_a_path_prefix_is_kept() -> None:
    assert api_base("http://gateway/openai") == "http://gateway/openai/v1"
    assert server_root("http://gateway/openai/v1") == "http://gateway/openai"
