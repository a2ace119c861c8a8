"""Vocabulary of the tiny model: the SentencePiece pieces and which of them may be generated.

Kept apart from the weight generator because it is data. Changing anything here changes the
model: bump ``GENERATOR_VERSION`` in ``tiny_model`` when you do.
"""

from __future__ import annotations

from dataclasses import dataclass

# SentencePiece marks a leading space with U+2581.
SPACE = "\u2581"

# gguf token types (llama.cpp's llama_token_type).
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

UNK, BOS, EOS = "<unk>", "<s>", "</s>"
IM_START, IM_END = "<|im_start|>", "<|im_end|>"


def _split(text: str) -> list[str]:
    return text.split()


_WORDS = _split(
    """
the of and to in is that it for on with as was at by from this be are or an have not but
they you he she we his her their our my your its one all would there what so up out if about
who which when can will more no time like just him know take people into year good some could
them see other than then now look only come over think also back after use two how work first
well way even new want because any these give day most us is was were been being has had do
does did said say make made get got go went going know knew see saw come came find found tell
told ask asked seem feel try leave call keep let begin show hear play run move live believe
hold bring happen write provide sit stand lose pay meet include continue set learn change lead
understand watch follow stop create speak read allow add spend grow open walk win offer remember
love consider appear buy wait serve die send expect build stay fall cut reach kill remain
world life hand part child eye woman place week case point number group problem fact house
water room mother area money story month lot right study book job word business issue side
kind head far black long little great small large old big high different next early young
important few public bad same able last late hard major better best city river mountain sea
tree light night morning evening sun moon star cloud rain snow wind fire stone road bridge
garden door window table chair bread coffee tea apple music song color blue red green white
quiet bright warm cold soft slow quick happy calm gentle clear simple strange ancient golden
silver dream journey voice letter answer question idea reason model token server request
response stream value test data system code cat dog bird fish horse
"""
)

# The chat template's own words: they are in every prompt, so they carry little weight in the
# context the model attends to (see Piece.quiet).
_TEMPLATE_WORDS = ["user", "assistant", "system", "tool"]

_CAPITALIZED = _split("The A It This We They I She He In On There What How Why When Hello Yes No")

# Pieces that are whole non-ASCII words or symbols, so generated text contains multi-byte UTF-8.
_NON_ASCII_WORDS = ["café", "über", "naïve", "façade", "señor", "déjà", "vu", "日本", "東京"]
_NON_ASCII_PIECES = [
    "é",
    "ü",
    "ñ",
    "ç",
    "ö",
    "ß",
    "日本",
    "語",
    "東京",
    "🙂",
    "🚀",
    "—",
    "…",
    "€",
    "°",
]

_PUNCTUATION = [".", ",", "!", "?", ":", ";", "'", "(", ")", "-", "/", "*", "%", "&"]
# JSON-shaped pieces give a grammar-constrained completion short ways to close strings and objects.
_JSON_PIECES = ["{", "[", "{}", "[]", SPACE + '"', SPACE + "{"]
# Pieces that close a JSON string, array or object: the output layer makes them likely wherever
# </s> is likely, so a grammar that forbids </s> inside a string closes the string instead.
CLOSERS = ['"', '":', '",', '"}', '"]', "}", "},", "]", "],"]
_SPACED_PUNCT = [SPACE + p for p in ["(", "-", "&", "—"]]
_DIGITS = [str(d) for d in range(10)]
_SPACED_NUMBERS = [SPACE + str(n) for n in [*range(10), 10, 12, 20, 42, 100, 2024, 2025]]
_LETTERS = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [
    chr(c) for c in range(ord("A"), ord("Z") + 1)
]
_WHITESPACE = [SPACE, "\n"]


@dataclass(frozen=True)
class Piece:
    text: str
    kind: int
    score: float
    # False for pieces that exist only so the tokenizer can reach longer ones (word prefixes,
    # single letters) and for special/byte tokens: the output layer makes them unsampleable.
    sampleable: bool
    # Which logit bias the output layer gives the piece (see tiny_model._GROUP_BIAS).
    group: str = "word"
    # Chat-template scaffolding: gets a small embedding so that the prompt's content, not the
    # template around it, decides what the model says.
    quiet: bool = False


def _unique(items: list[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def build_pieces() -> list[Piece]:
    """All pieces in id order: <unk>, <s>, </s>, ChatML markers, 256 bytes, then normal pieces."""
    pieces = [
        Piece(UNK, UNKNOWN, 0.0, False, "special"),
        Piece(BOS, CONTROL, 0.0, False, "special", quiet=True),
        Piece(EOS, CONTROL, 0.0, False, "eos", quiet=True),
        Piece(IM_START, CONTROL, 0.0, False, "special", quiet=True),
        Piece(IM_END, CONTROL, 0.0, False, "special", quiet=True),
    ]
    pieces += [Piece(f"<0x{b:02X}>", BYTE, 0.0, False, "byte") for b in range(256)]

    words = _unique(_WORDS + _TEMPLATE_WORDS + _CAPITALIZED + _NON_ASCII_WORDS)
    spaced_words = [SPACE + w for w in words]
    full: list[tuple[str, str]] = []
    full += [(w, "word") for w in spaced_words]
    full += [(p, "nonascii") for p in _NON_ASCII_PIECES]
    full += [(p, "punct") for p in _PUNCTUATION + _SPACED_PUNCT]
    full += [(p, "json") for p in _JSON_PIECES]
    full += [(p, "closer") for p in CLOSERS]
    full += [(p, "number") for p in _DIGITS + _SPACED_NUMBERS]
    full += [(p, "space") for p in _WHITESPACE]
    sampleable = {text: group for text, group in full}

    # SentencePiece merges pairs of symbols that are themselves pieces, so every prefix of a
    # spaced word must exist for the word to be reachable from raw text.
    helpers: list[str] = []
    for word in spaced_words + [SPACE + n for n in ["10", "12", "20", "42", "100", "2024", "2025"]]:
        helpers += [word[:k] for k in range(2, len(word))]
    helpers += [*_LETTERS, "日", "本", "東", "京"]
    texts = _unique([text for text, _ in full] + helpers)
    quiet = {SPACE + w for w in _TEMPLATE_WORDS} | {"\n"}

    for text in texts:
        group = sampleable.get(text)
        # Longer pieces win merges; the index breaks ties so scores are all distinct.
        score = float(len(text)) - len(pieces) * 1e-4
        pieces.append(
            Piece(text, NORMAL, score, group is not None, group or "helper", text in quiet)
        )
    return pieces
