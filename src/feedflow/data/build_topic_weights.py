"""Rebuild ``topic_weights.json`` (the tagger's learned topic words) from permissively licensed data.

Usage::

    python -m feedflow.data.build_topic_weights [--data DIR] [--out OUT.json] [--check]

``DIR`` defaults to ``$FEEDFLOW_EVAL_DATA``, else ``<repo>/../shared/data``. The training data is ONLY:

* the IPTC Media Topics vocabulary shipped in ``iptc_mediatopics.json`` (CC BY 4.0, IPTC): every
  active concept becomes one pseudo-document (its label, definition and match terms, plus the labels
  of its ancestors) labelled with its top-level topic;
* the HuffPost News Category v3 records in ``DIR/topics/huffpost_news_category_v3_subset_fredstock.jsonl``
  (CC BY 4.0 upstream, R. Misra): headline + short description + the words of the URL slug, labelled
  through ``HUFFPOST_TO_IPTC``; records whose ``is_heldout`` is true (1 in 5, by a hash of the link)
  are never trained on — they are the development split ``benchmarks/topics_dev.py`` reports.

AG News and MasakhaNEWS are evaluation data only and are never read here.

What is learned: single words that are concentrated in one top-level topic. For every word in at least
``MIN_DOCS`` training documents (vocabulary pseudo-documents and HuffPost records together), its
document rate per topic is computed (documents of topic t containing it / documents of topic t, so
the skewed HuffPost categories do not win by their size); the word is kept when one topic holds at
least ``MIN_SHARE`` of the summed rates (a majority: "concentrated in one topic") and at least
``MIN_TOPIC_DOCS`` of that topic's documents contain it (one document is an anecdote). Never learned:
words that already are match terms of the vocabulary, words the curated list (``iptc_curated.json``)
excludes or blocks as too generic ("trend", "game", "bar", "security"…), stop words, numbers and
words with an apostrophe. The output lists each word with its topic and share; the tagger counts a learned word like a
weak match term (``LEARNED_WEIGHT``) for that topic (see ``feedflow.core.topics``). ``MIN_DOCS``,
``MIN_TOPIC_DOCS`` and ``LEARNED_WEIGHT`` were chosen on the HuffPost held-out split
(``benchmarks/topics_dev.py``; a learned word may weigh at most as much as a weak vocabulary term,
0.5), never on evaluation data.
The output depends only on the inputs (sorted keys, no dates, no randomness): a rebuild is
byte-identical.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from feedflow.core.topics import (
    TOPIC_WEIGHTS_FORMAT,
    VOCABULARY_RESOURCE,
    IptcVocabulary,
    load_vocabulary,
    normalize_text,
)

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "topic_weights.json"
DEFAULT_CURATED = HERE / "iptc_curated.json"

#: A word must occur in at least this many training documents to be learned.
MIN_DOCS = 2
#: ... and one topic must hold at least this share of its (class-normalised) document rates ...
MIN_SHARE = 0.5
#: ... in at least this many of that topic's documents.
MIN_TOPIC_DOCS = 2

#: Function words and reporting verbs: never learned, whatever their counts.
STOP_WORDS = frozenset(
    """a about above after again against all also am an and any are as at be been before being below
    between both but by can could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me
    more most my myself no nor not now of off on once only or other our ours ourselves out over own
    same she should so some such than that the their theirs them themselves then there these they
    this those through to too under until up very was we were what when where which while who whom
    why will with would you your yours yourself yourselves s t said says say told according new one
    two three four five six seven eight nine ten first last next year years week weeks day days
    month months time times monday tuesday wednesday thursday friday saturday sunday today
    yesterday tomorrow may might must shall get got make made many much well still even back
    way like""".split()  # noqa: SIM905  (a word list reads best as one block)
)
_WORD = re.compile(r"[a-z][a-z0-9']*")

#: HuffPost category → IPTC top-level code. Categories with no clear IPTC top (U.S. NEWS mixes
#: everything; LATINO VOICES and WEDDINGS have a handful of records) are left out of training.
#: WORLD NEWS is politics: IPTC files international relations, diplomacy and foreign elections there.
HUFFPOST_TO_IPTC: dict[str, str] = {
    "POLITICS": "medtop:11000000",
    "WORLD NEWS": "medtop:11000000",
    "ENTERTAINMENT": "medtop:01000000",
    "COMEDY": "medtop:01000000",
    "MEDIA": "medtop:01000000",
    "CULTURE & ARTS": "medtop:01000000",
    "SPORTS": "medtop:15000000",
    "CRIME": "medtop:02000000",
    "STYLE & BEAUTY": "medtop:10000000",
    "HOME & LIVING": "medtop:10000000",
    "FOOD & DRINK": "medtop:10000000",
    "TRAVEL": "medtop:10000000",
    "WEIRD NEWS": "medtop:08000000",
    "BLACK VOICES": "medtop:14000000",
    "QUEER VOICES": "medtop:14000000",
    "WOMEN": "medtop:14000000",
    "PARENTING": "medtop:14000000",
    "IMPACT": "medtop:14000000",
    "ENVIRONMENT": "medtop:06000000",
    "WELLNESS": "medtop:07000000",
    "BUSINESS": "medtop:04000000",
    "MONEY": "medtop:04000000",
    "TECH": "medtop:13000000",
    "SCIENCE": "medtop:13000000",
    "RELIGION": "medtop:12000000",
    "EDUCATION": "medtop:05000000",
}

HUFFPOST_FILE = Path("topics") / "huffpost_news_category_v3_subset_fredstock.jsonl"


def is_heldout(record: dict[str, Any]) -> bool:
    """True for the 1 in 5 HuffPost records kept out of training (a stable hash of the link)."""
    digest = hashlib.blake2b(str(record.get("link", "")).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 5 == 0


def load_huffpost(path: Path) -> Iterator[dict[str, Any]]:
    """The HuffPost records of ``path`` (JSON Lines), in file order."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def words(text: str) -> list[str]:
    """The learnable words of ``text``: normalised like the tagger's text, possessive 's removed,
    stop words, one-letter words and words with an apostrophe left out."""
    out = []
    for word in _WORD.findall(normalize_text(text)):
        word = word.removesuffix("'s").rstrip("'")
        if len(word) > 1 and "'" not in word and word not in STOP_WORDS:
            out.append(word)
    return out


def huffpost_text(record: dict[str, Any]) -> str:
    """Headline, short description and the words of the link's slug (``/entry/covid-boosters_n_…``)."""
    slug = str(record.get("link", "")).rstrip("/").rsplit("/", 1)[-1].split("_")[0].replace("-", " ")
    return " ".join((str(record.get("headline", "")), str(record.get("short_description", "")), slug))


def training_documents(vocabulary: IptcVocabulary, huffpost: Path) -> Iterator[tuple[str, list[str]]]:
    """(top-level code, words) per training document: vocabulary concepts, then HuffPost's training split."""
    labels = {c.qcode: c.label for c in vocabulary.concepts}
    for concept in vocabulary.concepts:
        parts = [concept.label, concept.definition, *(t.text for t in concept.terms)]
        parts += [labels[b] for b in concept.broader]
        yield concept.top, words(" ".join(parts))
    for record in load_huffpost(huffpost):
        code = HUFFPOST_TO_IPTC.get(str(record.get("category")))
        if code is not None and not is_heldout(record):
            yield code, words(huffpost_text(record))


def learn(
    documents: Iterable[tuple[str, list[str]]],
    known_terms: frozenset[str],
    min_docs: int = MIN_DOCS,
    min_share: float = MIN_SHARE,
    min_topic_docs: int = MIN_TOPIC_DOCS,
) -> dict[str, tuple[str, float]]:
    """word → (top-level code, share) for the words concentrated in one topic (see the module docstring)."""
    doc_counts: dict[str, int] = {}
    word_docs: dict[str, dict[str, int]] = {}
    for code, doc_words in documents:
        doc_counts[code] = doc_counts.get(code, 0) + 1
        for word in set(doc_words):
            per_code = word_docs.setdefault(word, {})
            per_code[code] = per_code.get(code, 0) + 1
    learned: dict[str, tuple[str, float]] = {}
    for word, per_code in word_docs.items():
        if sum(per_code.values()) < min_docs or word in known_terms:
            continue
        rates = {code: per_code.get(code, 0) / n for code, n in doc_counts.items()}
        best = min(rates, key=lambda code: (-rates[code], code))
        share = rates[best] / sum(rates.values())
        if share >= min_share and per_code.get(best, 0) >= min_topic_docs:
            learned[word] = (best, round(share, 4))
    return learned


def never_learned(vocabulary: IptcVocabulary, curated_path: Path = DEFAULT_CURATED) -> frozenset[str]:
    """Words that are never learned: the vocabulary's terms and blocked phrases, and the words the
    curated list rules out as generic (its ``exclude`` map and the labels it gives no terms)."""
    curated = json.loads(curated_path.read_text(encoding="utf-8"))
    generic = {normalize_text(term) for term in curated.get("exclude", {})}
    generic |= {normalize_text(e["label"]) for e in curated.get("label_terms", {}).values() if not e["terms"]}
    terms = {t.text for c in vocabulary.concepts for t in c.terms}
    return frozenset(terms | set(vocabulary.blocked) | generic)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(data_dir: Path, vocabulary_path: Path | None = None) -> dict[str, Any]:
    vocabulary = load_vocabulary(None if vocabulary_path is None else str(vocabulary_path))
    huffpost = data_dir / HUFFPOST_FILE
    learned = learn(training_documents(vocabulary, huffpost), never_learned(vocabulary))
    vocab_file = vocabulary_path or HERE / VOCABULARY_RESOURCE
    return {
        "format": TOPIC_WEIGHTS_FORMAT,
        "about": [
            "Words learned by feedflow.data.build_topic_weights (read its docstring): each is concentrated",
            "in one IPTC top-level topic in the training data, which is ONLY the IPTC Media Topics",
            "vocabulary (CC BY 4.0, IPTC; iptc_mediatopics.json) and the HuffPost News Category v3 records",
            "(CC BY 4.0 upstream, Rishabh Misra; first 10,000 records, training split) with their",
            "categories mapped to IPTC codes (HUFFPOST_TO_IPTC there). See IPTC-NOTICE.txt.",
        ],
        "source": {
            "vocabulary": {"file": VOCABULARY_RESOURCE, "sha256": _sha256(vocab_file)},
            "curated": {"file": DEFAULT_CURATED.name, "sha256": _sha256(DEFAULT_CURATED)},
            "huffpost": {"file": HUFFPOST_FILE.name, "sha256": _sha256(huffpost)},
        },
        "rule": {"min_docs": MIN_DOCS, "min_share": MIN_SHARE, "min_topic_docs": MIN_TOPIC_DOCS},
        "huffpost_to_iptc": HUFFPOST_TO_IPTC,
        "terms": {word: [code, share] for word, (code, share) in sorted(learned.items())},
    }


def dump(data: dict[str, Any]) -> str:
    """One learned word per line: diffable."""
    head = {k: v for k, v in data.items() if k != "terms"}
    lines = [f"  {json.dumps(w)}: {json.dumps(v)}" for w, v in data["terms"].items()]
    body = json.dumps(head, ensure_ascii=False, indent=1)[:-2]
    return body + ',\n "terms": {\n' + ",\n".join(lines) + "\n }\n}\n"


def default_data_dir() -> Path:
    return Path(os.environ.get("FEEDFLOW_EVAL_DATA") or HERE.parents[2].parent / "shared" / "data")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="shared data folder (default $FEEDFLOW_EVAL_DATA)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    args = parser.parse_args(argv)
    data_dir = args.data or default_data_dir()
    if not (data_dir / HUFFPOST_FILE).is_file():
        print(f"error: {data_dir / HUFFPOST_FILE} not found (set --data or FEEDFLOW_EVAL_DATA)", file=sys.stderr)
        return 2
    data = build(data_dir)
    text = dump(data)
    if args.check:
        same = args.out.exists() and args.out.read_text(encoding="utf-8") == text
        print(f"{args.out}: {'up to date' if same else 'OUT OF DATE'}")
        return 0 if same else 1
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(data['terms'])} learned words, {len(text.encode())} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
