"""How many prompt tokens a decode step may carry beside sequences that are decoding.

A step takes longer the more tokens it carries. A long prompt decoded at `--n-batch` tokens a
step stretched the token gaps of the streams decoding beside it 17 times (Gemma 3 270M on two
cores, `python -m benchmarks.costs`). By default a step beside decoding sequences carries about
as many prompt tokens as cost four fifths of one step of decoding alone, from running
averages of both, so those gaps at most about double on any hardware; `--prefill-chunk N`
fixes the count instead.
A step with no sequence decoding takes a whole batch of prompt tokens either way.
"""

from __future__ import annotations

from ._embeddings import running_average

# Before both costs are measured (the first long prompt beside decoding streams).
FIRST_BUDGET = 32
# A step's time grows a little faster than its tokens: aiming at four fifths of a decode
# step's worth keeps the measured gaps under twice their length (1.9-2.2x aiming at a whole one).
HEADROOM = 0.8
# A prompt with at most this many tokens left goes whole beside decoding sequences: new
# requests come in bursts, and each would otherwise wait a step more for its first token.
SHORT_PROMPT = 32
# Prompts of a few tokens still start in one step, whatever the estimate says.
MIN_BUDGET = 8
# Steps with fewer prompt tokens (a prompt's last token alone, a short chat turn) say more about
# a step's fixed cost than about a token's, and are not counted.
MIN_SAMPLE_TOKENS = 16


class PrefillPacer:
    def __init__(self, fixed: int = 0) -> None:
        self.fixed = fixed  # > 0: this many tokens, no estimate
        self.decode_s: float | None = None  # a step that carries decoding tokens only
        self.token_s: float | None = None  # what one prompt token adds to a step

    def budget(self) -> int:
        """Prompt tokens the next step may carry beside decoding sequences."""
        if self.fixed > 0:
            return self.fixed
        if self.decode_s is None or not self.token_s:
            return FIRST_BUDGET
        return max(MIN_BUDGET, int(HEADROOM * self.decode_s / self.token_s))

    def stepped(self, seconds: float, decoding: int, prompt: int) -> None:
        """A step of `decoding` decoding tokens and `prompt` prompt tokens took `seconds`."""
        if prompt == 0:
            if decoding:
                self.decode_s = running_average(self.decode_s, seconds)
            return
        if prompt < MIN_SAMPLE_TOKENS:
            return
        if decoding:
            if self.decode_s is None or seconds <= self.decode_s:
                return  # nothing to attribute to the prompt tokens yet
            seconds -= self.decode_s
        self.token_s = running_average(self.token_s, seconds / prompt)
