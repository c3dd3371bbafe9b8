"""Rebuild ``iptc_mediatopics.json`` (the tagger's vocabulary) from the official IPTC Media Topics export.

Usage::

    python -m feedflow.data.build_iptc SOURCE.json [--rules RULES.jsonl] [--curated CURATED.json]
                                       [--out OUT.json] [--check]

``SOURCE.json`` is IPTC's ``cptall-en-US`` export (``iptc_mediatopic_cptall-en-US_2023-03-31.json``,
CC BY 4.0, http://cv.iptc.org/newscodes/mediatopic/); ``RULES.jsonl`` IPTC's English example keyword
rules (iptc/extra-examples, MIT); ``CURATED.json`` defaults to ``iptc_curated.json`` next to this file
(feedflow's own, hand-written) and ``OUT.json`` to ``iptc_mediatopics.json`` next to it. ``--check``
writes nothing and exits 1 when the output differs from the file already there. The output depends
only on the three inputs (no dates, no randomness), so a rebuild is byte-identical.

What goes into the output, per active (non-retired) concept:

* ``qcode``, ``label`` (en-US prefLabel), ``definition``, ``level`` (1 = one of the 17 top-level
  topics), ``broader`` (the ancestor chain, parent first, top-level last) and ``top``;
* ``terms``: ``[term, weight, source]`` triples the tagger matches, lower-case, hyphens as spaces:

  - ``"l"`` from the concept's own label: the label without its parenthesised qualifier, split on
    ``,``/``and``/``or`` ("robbery and theft" → "robbery and theft", "robbery", "theft"), unless the
    curated file's ``label_terms`` gives the label's terms explicitly (for labels such a split
    breaks: "air and space accident and incident", "rock and roll music" …);
  - ``"r"`` from IPTC's keyword rules for the concept: the quoted words and phrases of the rule's
    positive clauses (``not``, proximity and regexp clauses are skipped; of an ``and`` only its first
    operand is used; words from ``or/count>=N`` clauses, which IPTC only trusts in numbers, weigh 0.5);
  - ``"c"`` curated synonyms (``synonyms`` weigh 1.0, ``weak`` 0.5) from ``iptc_curated.json``;

  label terms (and rule terms from stemming/wildcard clauses) also get their last word's regular
  plural or singular; every term gets its British spelling ("labor" → "labour"). Curated terms are
  otherwise used exactly as written. Label and rule terms listed in the curated ``exclude`` map
  (generic words measured to hurt, each with its reason) are dropped, and a term claimed by several
  concepts stays only with the claimants of the highest-priority source (curated > the concept whose
  whole label it is > label split > rule).

The output's ``blocked`` list holds the curated ``block`` phrases ("west bank", "told reporters"):
the tagger matches them like terms and then ignores them, so their words count for nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from feedflow.core.topics import VOCABULARY_FORMAT, normalize_text

HERE = Path(__file__).resolve().parent
DEFAULT_CURATED = HERE / "iptc_curated.json"
DEFAULT_OUT = HERE / "iptc_mediatopics.json"
FORMAT = VOCABULARY_FORMAT

# Source priority of a term claim (higher wins when several concepts claim the same term).
PRIO_RULE, PRIO_SPLIT, PRIO_LABEL, PRIO_CURATED = 1, 2, 3, 4
SOURCE_CODE = {PRIO_RULE: "r", PRIO_SPLIT: "l", PRIO_LABEL: "l", PRIO_CURATED: "c"}

# Words never singularised (their "singular" is another word) or pluralised.
NO_SINGULAR = frozenset(
    """news series species aids darts billiards boules diabetes arms means goods sales rights olympics
    paralympics measles rabies herpes mumps headquarters glasses clothes royalties spirits wales
    athletics gymnastics politics economics physics ethics genetics mathematics statistics
    earnings savings proceedings lens bus gas bias chaos securities miniseries""".split()  # noqa: SIM905
)
NO_PLURAL = frozenset(
    """news aids hiv esg r&b chess golf rugby cricket soccer tennis children women people referenda
    police""".split()  # noqa: SIM905
)
# Plurals the suffix rules get wrong.
IRREGULAR_SINGULAR = {"movies": "movie", "foodies": "foodie", "midwives": "midwife", "wives": "wife"}

# US → British spellings, applied word by word to every term (both forms are matched).
BRITISH = {
    "labor": "labour",
    "defense": "defence",
    "theater": "theatre",
    "organization": "organisation",
    "organizations": "organisations",
    "organized": "organised",
    "jewelry": "jewellery",
    "behavior": "behaviour",
    "center": "centre",
    "archeology": "archaeology",
    "pediatrics": "paediatrics",
    "program": "programme",
    "programs": "programmes",
    "standardized": "standardised",
    "synchronized": "synchronised",
    "nationalization": "nationalisation",
    "privatization": "privatisation",
    "recapitalization": "recapitalisation",
    "canonization": "canonisation",
    "gasoline": "petrol",
    "favorite": "favourite",
}

_TERM_OK = re.compile(r"^[a-z0-9][a-z0-9 '&.,/]*[a-z0-9.]$|^[a-z0-9]$")


def normalize(text: str) -> str:
    """The text form terms are stored in: exactly what the tagger does to the text it scans."""
    return normalize_text(text)


def pluralize(word: str) -> str | None:
    if word in NO_PLURAL or not word.isalpha() or word.endswith(("s", "ed", "ly")) or len(word) < 3:
        return None
    if word.endswith("man") and not word.endswith("human"):
        return word[:-3] + "men"
    if word.endswith("y") and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("ch", "sh", "x", "z")):
        return word + "es"
    return word + "s"


def singularize(word: str) -> str | None:
    if word in IRREGULAR_SINGULAR:
        return IRREGULAR_SINGULAR[word]
    if word in NO_SINGULAR or not word.isalpha() or len(word) < 5:
        return None
    if word.endswith("men") and word != "men":
        return word[:-3] + "man"
    if not word.endswith("s") or word.endswith(("ss", "us", "is", "ics", "as", "os", "ous")):
        return None
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes", "zes")):
        return word[:-2]
    return word[:-1]


def variants(term: str) -> list[str]:
    """``term`` with its last word's regular plural/singular, and British spellings of all of that."""
    words = term.split(" ")
    forms = [term]
    for other in (pluralize(words[-1]), singularize(words[-1])):
        if other:
            forms.append(" ".join([*words[:-1], other]))
    return list(dict.fromkeys([*forms, *(british(f) for f in forms)]))


def british(term: str) -> str:
    return " ".join(BRITISH.get(w, w) for w in term.split(" "))


def split_label(label: str) -> tuple[str, list[str]]:
    """The label without its qualifier, and its parts: "trial (court)" → ("trial", ["trial"])."""
    base = re.sub(r"\s*\([^)]*\)\s*$", "", label).strip().rstrip(":").strip()
    base_norm = normalize(base)
    parts = [normalize(p) for p in re.split(r",\s*|\s+and\s+|\s+or\s+", base)]
    return base_norm, [base_norm, *[p for p in parts if p and p != base_norm]]


# --- IPTC rule queries ---------------------------------------------------------------------------

_TOKEN = re.compile(r'\(|\)|"(?:[^"\\]|\\.)*"|[^\s()"]+')


def _parse(query: str) -> list[Any]:
    query = re.sub(r"//.*?//", " ", query)
    stack: list[list[Any]] = [[]]
    for tok in _TOKEN.findall(query):
        if tok == "(":
            stack.append([])
        elif tok == ")":
            node = stack.pop()
            stack[-1].append(node)
        else:
            stack[-1].append(tok)
    while len(stack) > 1:  # unbalanced: close what is open
        node = stack.pop()
        stack[-1].append(node)
    return stack[0]


def _leaf_terms(node: list[Any]) -> list[tuple[str, bool]]:
    """The terms of a field clause, each with whether to inflect it (stemming clause or ``word*``)."""
    words = [t for t in node if isinstance(t, str)]
    strings = [w[1:-1] for w in words if w.startswith('"')]
    ops = [w for w in words if not w.startswith('"')]
    op = ops[1] if len(ops) > 1 else (ops[0] if ops and ops[0] in ("=", "any") else "adj")
    if "regexp" in op or "literal" in op:
        return []
    out: list[tuple[str, bool]] = []
    for s in strings:
        pieces = s.split() if op.startswith("any") else [s]
        for piece in pieces:
            wildcard = piece.endswith("*")
            piece = piece.rstrip("*")
            if "*" in piece or "\\" in piece:
                continue
            term = normalize(piece)
            if len(term) >= 3 and _TERM_OK.match(term):
                out.append((term, wildcard or "stemming" in op))
    return out


def rule_terms(query: str) -> Iterator[tuple[str, float, bool]]:
    """Positive terms of an IPTC rule query: (term, 1.0 or 0.5 inside ``or/count``, inflect?)."""

    def walk(node: Any, weight: float) -> Iterator[tuple[str, float, bool]]:
        if not isinstance(node, list) or not node:
            return
        head = node[0]
        if isinstance(head, list):  # the query's outer list
            for child in node:
                yield from walk(child, weight)
            return
        if all(not isinstance(t, list) for t in node):
            for term, inflect in _leaf_terms(node):
                yield term, weight, inflect
            return
        children = [c for c in node[1:] if isinstance(c, list)]
        if head == "or":
            for child in children:
                yield from walk(child, weight)
        elif head.startswith("or/count"):
            for child in children:
                yield from walk(child, 0.5)
        elif head == "and":
            positive = [c for c in children if not (c and c[0] == "not")]
            if positive:
                yield from walk(positive[0], weight)
        # not, prox/…: skipped

    yield from walk(_parse(query), 1.0)


# --- build -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Claim:
    qcode: str
    weight: float
    prio: int


def _uri_to_qcode(uri: str) -> str:
    return "medtop:" + uri.rstrip("/").rsplit("/", 1)[1]


def _load_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def build(source: Path, rules: Path | None, curated_path: Path) -> dict[str, Any]:
    raw = source.read_bytes()
    doc = json.loads(raw)
    curated = _load_json(curated_path)
    concepts = {c["qcode"]: c for c in doc["conceptSet"]}
    active = {q: c for q, c in concepts.items() if "retired" not in c}

    def chain(c: dict[str, Any]) -> list[str]:
        out: list[str] = []
        while c.get("broader"):
            parent = _uri_to_qcode(c["broader"][0])
            out.append(parent)
            c = concepts[parent]
        return out

    def label_of(q: str) -> str:
        return str(concepts[q]["prefLabel"].get("en-US", ""))

    def check_entry(section: str, qcode: str, entry: dict[str, Any]) -> None:
        if qcode not in active:
            raise SystemExit(f"{curated_path.name}: {section}: {qcode} is not an active concept")
        if entry.get("label") != label_of(qcode):
            raise SystemExit(
                f"{curated_path.name}: {section}: {qcode} is {label_of(qcode)!r}, not {entry.get('label')!r}"
            )

    exclude = {normalize(t) for t in curated["exclude"]}
    claims: dict[str, list[_Claim]] = {}

    def claim(term: str, qcode: str, weight: float, prio: int, inflect: bool = True) -> None:
        term = normalize(term)
        forms = variants(term) if inflect else [term, british(term)]
        for form in dict.fromkeys(forms):
            if form in exclude and prio != PRIO_CURATED:
                continue
            if not _TERM_OK.match(form):
                raise SystemExit(f"unmatchable term {form!r} for {qcode}")
            claims.setdefault(form, []).append(_Claim(qcode, weight, prio))

    for qcode in active:
        label = label_of(qcode)
        if not label:
            continue
        override = curated["label_terms"].get(qcode)
        if override is not None:
            check_entry("label_terms", qcode, override)
            for i, term in enumerate(override["terms"]):
                claim(term, qcode, 1.0, PRIO_LABEL if i == 0 and normalize(term) == normalize(label) else PRIO_SPLIT)
            continue
        base, parts = split_label(label)
        for term in parts:
            claim(term, qcode, 1.0, PRIO_LABEL if term == base else PRIO_SPLIT)

    rule_sources: list[str] = []
    if rules is not None:
        rule_sources.append(rules.name)
        for line in rules.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            rule = json.loads(line)
            qcode = rule["topicId"]
            if qcode not in active:
                continue
            for term, weight, inflect in rule_terms(rule["query"]):
                claim(term, qcode, weight, PRIO_RULE, inflect)

    for section, weight in (("synonyms", 1.0), ("weak", 0.5)):
        for qcode, entry in curated[section].items():
            check_entry(section, qcode, entry)
            for term in entry["terms"]:
                claim(term, qcode, weight, PRIO_CURATED, inflect=False)

    # Resolve: keep the claims of the highest priority; one claim per concept (its highest weight).
    terms_of: dict[str, list[tuple[str, float, str]]] = {q: [] for q in active}
    for term, cl in sorted(claims.items()):
        best = max(c.prio for c in cl)
        by_concept: dict[str, float] = {}
        for c in cl:
            if c.prio == best:
                by_concept[c.qcode] = max(by_concept.get(c.qcode, 0.0), c.weight)
        for qcode, weight in sorted(by_concept.items()):
            terms_of[qcode].append((term, weight, SOURCE_CODE[best]))

    blocked = sorted({normalize(t) for t in curated.get("block", [])})
    for term in blocked:
        if not _TERM_OK.match(term) or term in claims:
            raise SystemExit(f"{curated_path.name}: block: {term!r} is not a matchable phrase, or is a term")

    out_concepts = []
    for qcode in sorted(active):
        c = active[qcode]
        anc = chain(c)
        out_concepts.append(
            {
                "qcode": qcode,
                "label": label_of(qcode),
                "definition": str(c["definition"].get("en-US", "")),
                "level": len(anc) + 1,
                "broader": anc,
                "top": anc[-1] if anc else qcode,
                "terms": [list(t) for t in terms_of[qcode]],
            }
        )
    return {
        "format": FORMAT,
        "about": (
            "Derived from the IPTC Media Topics vocabulary (c) IPTC, https://iptc.org, CC BY 4.0 "
            "(see IPTC-NOTICE.txt): active concepts only, en-US labels and definitions, ancestor chains, "
            "and the match terms feedflow's topic tagger uses (sources: l = label, r = IPTC keyword "
            "rule, c = feedflow's curated synonyms in iptc_curated.json). Generated by "
            "feedflow/data/build_iptc.py; do not edit by hand."
        ),
        "source": {
            "file": source.name,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "uri": doc.get("uri", ""),
            "dateReleased": doc.get("dateReleased", ""),
            "copyrightHolder": doc.get("copyrightHolder", ""),
            "licenceLink": doc.get("licenceLink", ""),
            "rules": rule_sources,
        },
        "blocked": blocked,
        "concepts": out_concepts,
    }


def dump(data: dict[str, Any]) -> str:
    """One concept per line: diffable, and compact enough to ship."""
    head = {k: v for k, v in data.items() if k != "concepts"}
    lines = [json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in data["concepts"]]
    body = json.dumps(head, ensure_ascii=False, indent=1)[:-2]
    return body + ',\n "concepts": [\n' + ",\n".join(lines) + "\n ]\n}\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="iptc_mediatopic_cptall-en-US_*.json")
    parser.add_argument("--rules", type=Path, default=None, help="iptc_extra_rules_english.jsonl")
    parser.add_argument("--curated", type=Path, default=DEFAULT_CURATED)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    args = parser.parse_args(argv)
    text = dump(build(args.source, args.rules, args.curated))
    if args.check:
        same = args.out.exists() and args.out.read_text(encoding="utf-8") == text
        print(f"{args.out}: {'up to date' if same else 'OUT OF DATE'}")
        return 0 if same else 1
    args.out.write_text(text, encoding="utf-8")
    n = text.count('"qcode"')
    print(f"wrote {args.out} ({n} concepts, {len(text.encode())} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
