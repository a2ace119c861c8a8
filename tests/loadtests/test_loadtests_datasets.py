"""Prompt files (JSONL, JSON arrays, ShareGPT), the shared prefix and conversation turns."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from loadtests import _datasets
from loadtests._conversation import conversation_turns, with_prefix
from loadtests._datasets import load_prompts
from loadtests._prompts import Prompt, builtin_prompts, shared_prefix
from loadtests._settings import SETTINGS

SHAREGPT = [
    {
        "id": "a",
        "conversations": [
            {"from": "system", "value": "Be brief."},
            {"from": "human", "value": "first question"},
            {"from": "gpt", "value": "x" * 40},  # a recorded reply of about 10 tokens
            {"from": "human", "value": "second question"},
            {"from": "gpt", "value": "y" * 81},
            {"from": "human", "value": "unanswered question"},
        ],
    },
    {"id": "no human turn", "conversations": [{"from": "gpt", "value": "hello"}]},
    {"id": "b", "conversations": [{"from": "human", "value": "ünïcode ☃"}]},
]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_sharegpt_json_array_keeps_human_turns_and_recorded_lengths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_datasets, "READ_CHARS", 5)  # every element crosses a block boundary
    path = write(tmp_path, "sharegpt.json", json.dumps(SHAREGPT, indent=2, ensure_ascii=False))
    first, second = load_prompts(path)
    assert first.messages == (
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first question"},
    )
    assert first.max_tokens == 10
    assert first.followups == (("second question", 20), ("unanswered question", None))
    assert second == Prompt(({"role": "user", "content": "ünïcode ☃"},))


def test_sharegpt_jsonl_and_our_own_items_mix(tmp_path: Path) -> None:
    lines = [*SHAREGPT, "plain text", {"prompt": "p", "max_tokens": 3}]
    path = write(tmp_path, "mixed.jsonl", "".join(json.dumps(x) + "\n" for x in lines))
    prompts = load_prompts(path)
    assert [p.text for p in prompts][-2:] == ["plain text", "p"]
    assert prompts[0].followups[0] == ("second question", 20)
    assert load_prompts(path, limit=1) == prompts[:1]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('[{"prompt": "a"}, {"prompt": ', "not JSON"),
        ('[{"prompt": "a"}, 3]', r"\[1\]: expected an object"),
        ('{"nothing": 1}\n', "needs 'prompt'"),
        ('{"prompt": "a"}\nnot json\n', ":2: not JSON"),
        ('[{"conversations": [{"from": "gpt", "value": "x"}]}]', "no prompts"),
    ],
)
def test_bad_files_say_where(tmp_path: Path, text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        load_prompts(write(tmp_path, "bad.json", text))


def test_shared_prefix_is_about_n_words_and_the_same_everywhere() -> None:
    assert shared_prefix(0) == ""
    for tokens in (16, 100, 1000):
        prefix = shared_prefix(tokens)
        assert prefix == shared_prefix(tokens)
        assert tokens - 2 <= len(prefix.split()) <= tokens  # one token per common word, roughly
    assert shared_prefix(100).startswith(shared_prefix(50)[:-1].rsplit(" ", 1)[0])


def test_prefix_goes_in_front_of_every_history() -> None:
    user = [{"role": "user", "content": "q"}]
    assert with_prefix(user, "") == user
    assert with_prefix(user, "P") == [{"role": "system", "content": "P"}, *user]
    system = [{"role": "system", "content": "S"}, *user]
    assert with_prefix(system, "P")[0] == {"role": "system", "content": "P\n\nS"}


def test_conversation_turns_use_recorded_followups_then_other_prompts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(SETTINGS, "prompts", builtin_prompts())
    monkeypatch.setattr(SETTINGS, "turns", 4)
    prompt = Prompt(({"role": "user", "content": "one"},), 7, (("two", 8),))
    turns = conversation_turns(prompt, random.Random(1))
    assert [t[0][-1]["content"] for t in turns[:2]] == ["one", "two"]
    assert [t[1] for t in turns[:2]] == [7, 8]
    assert len(turns) == 4 and all(t[0][0]["role"] == "user" for t in turns)
    assert turns == conversation_turns(prompt, random.Random(1))  # seeded: reproducible
    monkeypatch.setattr(SETTINGS, "turns", 1)
    assert conversation_turns(prompt, random.Random(1)) == [(prompt.messages, 7)]
