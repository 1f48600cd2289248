"""The mask of `--mask-attribute`, written out plainly for the tests' expectations (not transform/'s code)."""

from __future__ import annotations

__all__ = ["masked_words"]


def masked_words(text: str) -> str:
    """Each space-separated word keeps its first and last character; the rest become stars (short words: all)."""
    words = []
    for word in text.split(" "):
        words.append("*" * len(word) if len(word) <= 2 else word[:1] + "*" * (len(word) - 2) + word[-1:])
    return " ".join(words)
