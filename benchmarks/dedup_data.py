"""Real text for the dedup evaluation and benchmark, read from the shared evaluation data (never copied
into the repository): ``$FEEDFLOW_EVAL_DATA``, else ``<repo>/../shared/data``.

* ``topics/masakhanews_eng_{dev,test}.tsv`` — 1,420 BBC articles (2022) with their paragraphs, including
  BBC's own boilerplate (regional "Follow BBC … on Facebook" footers, "Please include a contact number…");
* ``article-extraction/ground-truth.json`` — 91 gold article bodies from many publishers;
* ``ag_news/test.csv`` — 7,600 AG News descriptions (a few repeated).

Also the controlled edits (with their ground truth) and the in-memory reference of the cross-article
dedup built from the same core functions as the Beam transforms (checked against a real pipeline run by
``dedup_eval.py``).
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from feedflow.core.articles import ArticleBuilder, BuildConfig
from feedflow.core.boilerplate import SAME_STORY, BoilerplateConfig, count_stories, evidence, mark, smallest
from feedflow.core.neardup import (
    Assignment,
    MinHasher,
    NearDupConfig,
    SigRecord,
    band_keys,
    bucket_pairs,
    cluster,
    lsh_bands,
    order_key,
    signature_digest,
    verify,
)
from feedflow.core.neardup import sign as sign_article
from feedflow.model import Article, RawArticle

REPO = Path(__file__).resolve().parents[1]
START = datetime(2024, 1, 1, tzinfo=UTC)


def eval_data_dir() -> Path:
    return Path(os.environ.get("FEEDFLOW_EVAL_DATA") or REPO.parent / "shared" / "data")


def require_eval_data() -> Path:
    """The shared data folder; exits 0 with a one-line reason when it is absent (a skip, not a failure)."""
    root = eval_data_dir()
    if not (root / "topics").is_dir():
        print(f"skipped: shared evaluation data not found at {root} (set FEEDFLOW_EVAL_DATA)")
        sys.exit(0)
    return root


# ----------------------------------------------------------------------------------------- corpora


@dataclass(frozen=True)
class Doc:
    """A real article: title and paragraphs."""

    doc_id: str
    title: str
    paragraphs: tuple[str, ...]
    category: str = ""


def masakhanews(root: Path) -> list[Doc]:
    csv.field_size_limit(1 << 30)
    docs = []
    for split in ("test", "dev"):
        with open(root / "topics" / f"masakhanews_eng_{split}.tsv", encoding="utf-8", newline="") as handle:
            for n, row in enumerate(csv.DictReader(handle, delimiter="\t")):
                paragraphs = tuple(p.strip() for p in row["text"].split("\n") if p.strip())
                if paragraphs:
                    docs.append(Doc(f"bbc-{split}-{n}", row["headline"], paragraphs, row["category"]))
    return docs


def article_extraction(root: Path) -> list[Doc]:
    with open(root / "article-extraction" / "ground-truth.json", encoding="utf-8") as handle:
        truth = json.load(handle)
    docs = []
    for key, item in sorted(truth.items()):
        paragraphs = tuple(p.strip() for p in re.split(r"\n\s*\n|\n", item["articleBody"]) if p.strip())
        if paragraphs:
            docs.append(Doc(f"ae-{key[:12]}", paragraphs[0][:80], paragraphs))
    return docs


def ag_news(root: Path) -> list[Doc]:
    with open(root / "ag_news" / "test.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [
        Doc(f"ag-{n}", row["title"], (row["description"].replace("\\", " ").replace("#36;", "$").strip(),))
        for n, row in enumerate(rows)
    ]


#: Hand labels for BBC boilerplate in MasakhaNEWS, written after reading every paragraph that repeats in
#: two or more articles: regional/programme "follow us" footers, reader call-to-actions and form notes,
#: promotions of other BBC programmes, related-link lines, bylines and series footers. Everything else
#: (shared facts and quotes of related stories) is content.
BBC_BOILERPLATE = [
    re.compile(p)
    for p in (
        r"^(Why not )?[Ff]ollow (BBC|us|Newsbeat)\b",
        r"^Find BBC News",
        r"^Follow [A-Z][\w' ]+ on Twitter",
        r"^You can follow [A-Z][\w ]+ on Twitter",
        r"[Ss]end (your )?story ideas",
        r"^Please include a contact number",
        r"^If you are reading this page and can't see the form",
        r"^Listen to Newsbeat",
        r"^You may also be interested in",
        r"^Watch (now on BBC iPlayer|this video quiz|Make Sense of)",
        r"^Watch: ",
        r"^(Live page|LIVE|Live): ",
        r"^What claims do you want BBC Reality Check",
        r"^See more at Click's website",
        r"^Sign up to My Sport",
        r"^Can't see this selector",
        r"^Read more (from the series|on how)",
        r"^You can read more about",
        r"^Check out our full rundown",
        r"haveyoursay@bbc\.co\.uk",
        r"^If you've been affected by",
        r"^Video by series producer",
        r"^Produced, filmed and edited by",
        r"^By [A-Z][a-z]+ [A-Z][a-z]+, ",
        r"^New Tech Economy is a series",
        r"^Who is Elon Musk\? Meet the meme-loving",
        r"^Why are UK energy prices so high\?$",
        r"^All clubs need a chair, secretary and treasurer",
        r"^Are you a Northern Ireland business owner",
        r"^Growing up, Zoe Thomas never thought",
    )
]


def is_labelled_boilerplate(paragraph: str) -> bool:
    return any(p.search(paragraph) for p in BBC_BOILERPLATE)


def boilerplate_pool(docs: Iterable[Doc]) -> list[str]:
    """Real BBC boilerplate paragraphs (distinct, long enough) for the 'boilerplate appended' edit."""
    seen: dict[str, None] = {}
    for doc in docs:
        for p in doc.paragraphs:
            if is_labelled_boilerplate(p) and len(p) >= 40:
                seen.setdefault(p, None)
    return sorted(seen)


# ----------------------------------------------------------------------------------- controlled edits

_SENTENCE = re.compile(r"[^.!?]+(?:[.!?]+[\"”’']?|$)")


def sentences(paragraph: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(paragraph) if s.strip()]


def drop_sentences(paragraphs: Sequence[str], n: int, rng: random.Random) -> list[str]:
    units = [(i, s) for i, p in enumerate(paragraphs) for s in sentences(p)]
    drop = set(rng.sample(range(len(units)), min(n, max(len(units) - 1, 0))))
    out: dict[int, list[str]] = defaultdict(list)
    for k, (i, s) in enumerate(units):
        if k not in drop:
            out[i].append(s)
    return [" ".join(out[i]) for i in range(len(paragraphs)) if out[i]]


def add_sentences(paragraphs: Sequence[str], donor: Doc, n: int, rng: random.Random) -> list[str]:
    pool = [s for p in donor.paragraphs for s in sentences(p) if len(s.split()) >= 6] or list(donor.paragraphs)
    out = list(paragraphs)
    for sentence in rng.sample(pool, min(n, len(pool))):
        at = rng.randrange(len(out))
        out[at] = f"{out[at]} {sentence}"
    return out


def rewrite_paragraphs(paragraphs: Sequence[str], donor: Doc, n: int, rng: random.Random) -> list[str]:
    """Replace ``n`` random paragraphs with paragraphs of another article."""
    out = list(paragraphs)
    donors = [p for p in donor.paragraphs if len(p.split()) >= 15] or list(donor.paragraphs)
    for i, j in enumerate(rng.sample(range(len(out)), min(n, len(out)))):
        out[j] = donors[i % len(donors)]
    return out


@dataclass(frozen=True)
class Variant:
    """An article of the evaluation corpus: its text, its ground-truth group and how it was made."""

    key: str
    title: str
    paragraphs: tuple[str, ...]
    group: str
    edit: str
    positive: bool  # a near-duplicate of its group's original (False for originals and negatives)
    day: int


#: Edit → (is it a near-duplicate of the original?). "half_rewritten" keeps half of the paragraphs and
#: takes the rest from another article: a different article that shares text, not a copy.
EDITS: dict[str, bool] = {
    "exact_copy": True,
    "drop_1_sentence": True,
    "drop_3_sentences": True,
    "add_2_sentences": True,
    "rewrite_1_paragraph": True,
    "boilerplate_appended": True,
    "light_mix": True,
    "rewrite_2_paragraphs": True,
    "half_rewritten": False,
}


def make_variants(bases: Sequence[Doc], donors: Sequence[Doc], pool: Sequence[str], seed: int) -> list[Variant]:
    """Originals (day 0) and their controlled edits (day 1), plus pairs of unrelated edited articles that
    share one quote sentence."""
    rng = random.Random(seed)
    out: list[Variant] = []

    def donor_for(base: Doc) -> Doc:  # a different article for each edit
        donor = donors[rng.randrange(len(donors))]
        while donor.doc_id == base.doc_id:
            donor = donors[rng.randrange(len(donors))]
        return donor

    for n, base in enumerate(bases):
        out.append(Variant(f"{base.doc_id}", base.title, base.paragraphs, base.doc_id, "original", False, 0))
        p = list(base.paragraphs)
        made: dict[str, list[str]] = {
            "exact_copy": p,
            "drop_1_sentence": drop_sentences(p, 1, rng),
            "drop_3_sentences": drop_sentences(p, 3, rng),
            "add_2_sentences": add_sentences(p, donor_for(base), 2, rng),
            "rewrite_1_paragraph": rewrite_paragraphs(p, donor_for(base), 1, rng),
            "boilerplate_appended": [*p, *rng.sample(list(pool), 2)],
            "light_mix": [*drop_sentences(rewrite_paragraphs(p, donor_for(base), 1, rng), 1, rng), rng.choice(pool)],
            "rewrite_2_paragraphs": rewrite_paragraphs(p, donor_for(base), 2, rng),
            "half_rewritten": rewrite_paragraphs(p, donor_for(base), len(p) // 2, rng),
        }
        for edit, paragraphs in made.items():
            group = base.doc_id if EDITS[edit] else f"{base.doc_id}~{edit}"
            out.append(Variant(f"{base.doc_id}:{edit}", base.title, tuple(paragraphs), group, edit, EDITS[edit], 1))
        if n % 2 == 1:  # a shared quote between this original and the previous one, each lightly edited
            quote = rng.choice([s for d in donors for s in sentences(d.paragraphs[0]) if len(s.split()) >= 12][:500])
            for other in (bases[n - 1], base):
                paragraphs = list(other.paragraphs)
                paragraphs.insert(len(paragraphs) // 2, f"“{quote}”")
                out.append(
                    Variant(
                        f"{other.doc_id}:shared_quote",
                        other.title,
                        tuple(paragraphs),
                        other.doc_id,
                        "shared_quote",
                        True,
                        1,
                    )
                )
    return out


# ----------------------------------------------------------------------------- records and reference


def raw_article(key: str, title: str, paragraphs: Sequence[str], source: str, published: datetime) -> RawArticle:
    return RawArticle(
        input="eval",
        locator=key,
        kind="json",
        url=f"https://{source}/{key.replace(':', '/').replace('~', '-')}",
        title=title,
        text="\n\n".join(paragraphs),
        published=published,
        source=source,
    )


def json_record(raw: RawArticle) -> dict[str, str]:
    assert raw.published is not None
    return {
        "url": raw.url or "",
        "title": raw.title or "",
        "text": raw.text or "",
        "source": raw.source or "",
        "published": raw.published.isoformat(),
    }


def build_articles(raws: Iterable[RawArticle]) -> list[Article]:
    builder = ArticleBuilder(BuildConfig(run_started=START))
    out = []
    for raw in raws:
        built = builder(raw)
        if isinstance(built, Article):
            out.append(built)
    return out


def published(day: int, n: int) -> datetime:
    return START + timedelta(days=day, seconds=n)


def boilerplate_reference(
    articles: Sequence[Article], config: BoilerplateConfig, same_at: float = SAME_STORY
) -> list[Article]:
    """What DropBoilerplate computes (one run, empty dataset), in memory."""
    groups: dict[tuple[str, int], list[tuple[str, tuple[int, ...]]]] = defaultdict(list)
    hasher = MinHasher()
    signed = [sign_article(article, hasher) for article in articles]
    for article in signed:
        for source_key, item in evidence(article, config):
            groups[source_key].append(item)
    hits: dict[str, set[int]] = defaultdict(set)
    for (_, key), items in groups.items():
        if count_stories(smallest([items], config.keep), config.min_articles, same_at) >= config.min_articles:
            for article_id, _ in items:
                hits[article_id].add(key)
    return [mark(a, hits[a.article_id], config) for a in signed]


def sign(articles: Sequence[Article], shingle_words: int = 5) -> list[Article]:
    """Articles signed afresh (``shingle_words`` other than the pipeline's 5 for the evaluation only)."""
    hasher = MinHasher(shingle_words)
    return [sign_article(replace(article, minhash=()), hasher) for article in articles]


def neardup_reference(signed: Sequence[Article], config: NearDupConfig) -> dict[str, Assignment]:
    """What MarkNearDuplicates computes (one run, empty dataset), in memory: article_id → assignment."""
    by_digest: dict[str, list[SigRecord]] = defaultdict(list)
    for a in signed:
        if a.minhash:
            by_digest[signature_digest(a.minhash)].append(
                SigRecord(a.article_id, order_key(a.article_id, a.published_at, new=True), a.minhash)
            )
    heads: list[SigRecord] = []
    members: dict[str, list[str]] = {}
    for records in by_digest.values():
        head, *others = sorted(records, key=lambda r: r.order)
        heads.append(head)
        members[head.article_id] = [o.article_id for o in others]
    bands, rows = lsh_bands(config.threshold)
    buckets: dict[int, list[tuple[int, int, int, str]]] = defaultdict(list)
    for record in heads:
        for key in band_keys(record.minhash, bands, rows):
            buckets[key].append(record.order)
    pairs = {pair for orders in buckets.values() for pair in bucket_pairs(orders, config.max_bucket)}
    by_node = {r.node: r for r in heads}
    edges = [e for later, earlier in pairs if (e := verify([by_node[later]], [by_node[earlier]], config.threshold))]
    assigned = {a.article_id: a for a in cluster(edges)}
    for head_id, member_ids in members.items():
        for member_id in member_ids:
            lead = assigned.get(head_id)
            assigned[member_id] = (
                Assignment(member_id, lead.duplicate_of, lead.similarity)
                if lead
                else Assignment(member_id, head_id, 1.0)
            )
    return assigned


def timed(function: Callable[[], object]) -> tuple[object, float]:
    import time

    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start
