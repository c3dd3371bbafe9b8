"""Language identification with py3langid (its model ships inside the package: no download).

The text sample is the title plus the start of the body (``sample_chars``): identification accuracy
is flat past a few hundred characters while cost grows with length. When the classifier is unsure
(probability below ``min_confidence``) and the feed or record declared a language, the declared one
wins (only its primary subtag: "en-GB" → "en").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
from py3langid.langid import MODEL_FILE, LanguageIdentifier


@dataclass(frozen=True, slots=True)
class LanguageConfig:
    sample_chars: int = 600
    min_confidence: float = 0.5


def primary_subtag(tag: str | None) -> str | None:
    """'en-US' / 'en_us' / 'EN' → 'en'; junk → None."""
    if not tag:
        return None
    head = tag.strip().replace("_", "-").split("-", 1)[0].lower()
    return head if 2 <= len(head) <= 3 and head.isalpha() else None


@cache
def _identifier() -> LanguageIdentifier:
    """py3langid's packaged model, loaded once per process (~0.4 s: an lzma-compressed pickle). It is
    read-only after loading and holds no data of any run, so sharing it is safe; it matters when one
    process runs several pipelines (`feedflow ingest` builds one per tick).

    Its feature × language table ships as float16; scoring gathers the rows of a text's features and
    multiplies them with float32 counts, and numpy's float16 → float32 cast of those rows was 80% of
    the scoring time (~50 of 60 µs an article). The table is held as float32 instead (the cast is
    exact, so every score is bit-identical: tests/test_fastpaths.py), for 28 MB more per process."""
    identifier = _WindowedIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.nb_ptc = np.asarray(identifier.nb_ptc, dtype=np.float32)
    # py3langid 0.4 keeps the loaded tables for set_languages() (which feedflow never calls): point it at
    # the float32 table so the float16 one is freed rather than held beside it.
    identifier._full_model = (identifier.nb_ptc, identifier.nb_pc, identifier.nb_classes)
    return identifier


SYNC_BYTES = 6
"""py3langid's feature automaton forgets its past after this many bytes: from any state, the same 6
bytes lead to the same state as from the start state (proved over every pair of states by
tests/test_fastpaths.py, which fails for a model where this no longer holds)."""


class _WindowedIdentifier(LanguageIdentifier):  # type: ignore[misc]  # py3langid has no type hints
    """py3langid's identifier with its raw scores (``_raw_score``) computed by a compiled loop, not a
    Python one.

    py3langid walks its byte-n-gram automaton one byte at a time in Python (~100 µs for a 600-character
    sample: most of the skip path's language identification) and counts the features it meets in a
    ``Counter``. :func:`feedflow.core.kernels.automaton_features` reaches the same states (windowed:
    the automaton is synchronised after ``SYNC_BYTES`` bytes) and makes the same count (distinct
    features in order of first appearance, as the ``Counter`` holds them), compiled. The features are
    then scored by the same numpy expression over the same table, so the scores, and every language and
    probability, are bit-identical (tests/test_fastpaths.py). Relies on py3langid 0.4's layout (pinned
    in pyproject)."""

    __slots__ = ("_walk",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from feedflow.core.kernels import automaton_features  # numba: imported where it runs (workers)

        self._walk = (
            automaton_features,
            np.frombuffer(self.tk_nextmove, dtype=np.uint32),  # a view: 9.8M moves, 39 MB not copied
            np.asarray(self._rowbase, dtype=np.intp),
            np.asarray(self.tk_output, dtype=np.intp),
        )

    def _raw_score(self, text: bytes) -> npt.NDArray[np.float32]:
        features, moves, rows, outputs = self._walk
        found, counts = features(np.frombuffer(text, dtype=np.uint8), moves, rows, outputs, SYNC_BYTES)
        if not len(found):
            empty: npt.NDArray[np.float32] = super()._raw_score(b"")  # py3langid's no-feature scores
            return empty
        weights = np.log1p(counts.astype(np.float32))
        scores: npt.NDArray[np.float32] = weights @ self.nb_ptc[found] + self.nb_pc
        return scores


class LanguageDetector:
    """Detects with py3langid's model (one per process, see ``_identifier``)."""

    def __init__(self, config: LanguageConfig | None = None) -> None:
        self._config = config or LanguageConfig()
        self._identifier = _identifier()

    def detect(self, title: str | None, paragraphs: Sequence[str], hint: str | None = None) -> str | None:
        """ISO 639-1 code of the text, the hint as a tie-breaker, None for text with no letters."""
        budget = self._config.sample_chars
        parts: list[str] = []
        for text in (title or "", *paragraphs):
            if budget <= 0:
                break
            parts.append(text[:budget])
            budget -= len(parts[-1])
        sample = " ".join(parts)
        declared = primary_subtag(hint)
        if not any(ch.isalpha() for ch in sample):
            return declared
        lang, prob = self._identifier.classify(sample)
        if prob < self._config.min_confidence and declared:
            return declared
        return str(lang)
