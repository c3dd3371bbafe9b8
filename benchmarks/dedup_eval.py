"""Labelled evaluation of cross-article dedup on real text: `make eval-dedup` (or python benchmarks/dedup_eval.py).

Reads the shared evaluation data (``$FEEDFLOW_EVAL_DATA``, default ``<repo>/../shared/data``; exits 0
saying why when it is absent) and prints Markdown tables:

1. Near-duplicates vs the threshold — controlled edits of real articles (MasakhaNEWS BBC + the
   article-extraction gold bodies) with known ground truth, mixed with the rest of MasakhaNEWS as natural
   distractors: precision of the links made, recall per edit type. Also the true shingle Jaccard of each
   edit type, and the shingle size at the default threshold.
2. AG News: 7,600 real descriptions; exact repeats must be linked; every other link is listed.
3. Boilerplate vs min-articles — MasakhaNEWS as one source, with BBC's real boilerplate hand-labelled
   (``dedup_data.BBC_BOILERPLATE``) and revised copies of 60 stories added: precision/recall of removed
   paragraphs, with and without "copies count once".
4. The real pipeline (`feedflow run`) on the near-duplicate corpus at the defaults gives exactly the
   in-memory reference's links and boilerplate flags; and a run over news-feeds/ is summarised.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import statistics
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dedup_data as dd

from feedflow.core.boilerplate import BoilerplateConfig
from feedflow.core.dedup import normalize_for_dedup
from feedflow.core.neardup import MinHasher, NearDupConfig, candidate_probability, lsh_bands
from feedflow.model import Article, RawArticle

THRESHOLDS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def fmt(v: object) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


# -------------------------------------------------------------------------------- near-duplicates


def raw_articles(variants: Sequence[dd.Variant]) -> list[RawArticle]:
    """The variants as raw articles: BBC texts under bbc.co.uk, the others under one second source."""
    return [
        dd.raw_article(
            v.key,
            v.title,
            v.paragraphs,
            "bbc.co.uk" if v.key.startswith("bbc") else "ae.example",
            dd.published(v.day, n),
        )
        for n, v in enumerate(variants)
    ]


def neardup_corpus(root: Path, seed: int) -> tuple[list[dd.Variant], list[Article]]:
    bbc = dd.masakhanews(root)
    rng = random.Random(seed)
    shuffled = rng.sample(bbc, len(bbc))
    donors, rest = shuffled[:400], shuffled[400:]  # donors of edits never appear themselves
    eligible = [d for d in rest if len(d.paragraphs) >= 8 and sum(len(p.split()) for p in d.paragraphs) >= 200]
    bases = eligible[:300]
    others = [d for d in dd.article_extraction(root) if len(d.paragraphs) >= 8]
    pool = dd.boilerplate_pool(bbc)
    variants = dd.make_variants(bases, donors, pool, seed) + dd.make_variants(others, donors, pool, seed + 1)
    chosen = {b.doc_id for b in bases}
    variants += [
        dd.Variant(d.doc_id, d.title, d.paragraphs, d.doc_id, "distractor", False, 0)
        for d in rest
        if d.doc_id not in chosen
    ]
    return variants, dd.build_articles(raw_articles(variants))


def neardup_section(root: Path, seed: int) -> tuple[str, list[dd.Variant], list[Article]]:
    variants, articles = neardup_corpus(root, seed)
    by_id = {a.article_id: v for a, v in zip(articles, variants, strict=True)}
    cleaned = dd.boilerplate_reference(articles, BoilerplateConfig())
    signed = dd.sign(cleaned)
    out = [
        f"Corpus: {len(articles)} articles — {sum(v.edit == 'original' for v in variants)} originals, "
        f"{sum(v.positive for v in variants)} near-duplicate edits, "
        f"{sum(v.edit == 'half_rewritten' for v in variants)} half-rewritten (negatives), "
        f"{sum(v.edit == 'distractor' for v in variants)} other real BBC articles (distractors). Edits take "
        "sentences and paragraphs from 400 other BBC articles that are not in the corpus.",
        "",
    ]
    hasher = MinHasher(5)
    jaccard: dict[str, list[float]] = defaultdict(list)
    originals = {v.group: a for a, v in zip(cleaned, variants, strict=True) if v.edit == "original"}
    for article, variant in zip(cleaned, variants, strict=True):
        if variant.edit in ("original", "distractor"):
            continue
        base = originals[variant.group.split("~")[0]]
        a, b = set(hasher.shingles(article.body).tolist()), set(hasher.shingles(base.body).tolist())
        jaccard[variant.edit].append(len(a & b) / max(1, len(a | b)))
    out.append("True Jaccard (word 5-gram shingles) of each edit with its original:\n")
    out.append(
        table(
            ["edit", "near-dup?", "n", "mean", "5th pct", "min"],
            [
                (
                    e,
                    "yes" if dd.EDITS.get(e, True) else "no",
                    len(v),
                    statistics.mean(v),
                    sorted(v)[len(v) // 20],
                    min(v),
                )
                for e, v in sorted(jaccard.items())
            ],
        )
    )
    edits = sorted({v.edit for v in variants if v.positive})
    rows = []
    for threshold in THRESHOLDS:
        config = NearDupConfig(threshold=threshold)
        links = dd.neardup_reference(signed, config)
        correct = sum(1 for a in links.values() if by_id[a.article_id].group == by_id[a.duplicate_of].group)
        found: Counter[str] = Counter()
        for link in links.values():
            v = by_id[link.article_id]
            if v.positive and v.group == by_id[link.duplicate_of].group:
                found[v.edit] += 1
        total = Counter(v.edit for v in variants if v.positive)
        positives = sum(total.values())
        bands, rows_ = lsh_bands(threshold)
        rows.append(
            (
                threshold,
                f"{bands}×{rows_}",
                len(links),
                correct / max(1, len(links)),
                sum(found.values()) / positives,
                *(found[e] / total[e] for e in edits),
            )
        )
    out.append("\nLinks made vs threshold (precision: link in the right group; recall: edits linked):\n")
    out.append(table(["threshold", "bands×rows", "links", "precision", "recall", *edits], rows))
    shingle_rows = []
    for words in (3, 4, 5, 7):
        resigned = dd.sign(cleaned, words)
        links = dd.neardup_reference(resigned, NearDupConfig(threshold=0.8))
        correct = sum(1 for a in links.values() if by_id[a.article_id].group == by_id[a.duplicate_of].group)
        hit = sum(
            1
            for a in links.values()
            if by_id[a.article_id].positive and by_id[a.article_id].group == by_id[a.duplicate_of].group
        )
        shingle_rows.append((words, len(links), correct / max(1, len(links)), hit / sum(v.positive for v in variants)))
    out.append("\nShingle size at threshold 0.8:\n")
    out.append(table(["words per shingle", "links", "precision", "recall"], shingle_rows))
    bands, rows_ = lsh_bands(0.8)
    out.append(
        f"\nLSH at 0.8 = {bands} bands × {rows_} rows: P(candidate) = "
        + ", ".join(f"{candidate_probability(j, bands, rows_):.3f} at J={j}" for j in (0.9, 0.8, 0.7, 0.6, 0.5, 0.3))
    )
    return "\n".join(out), variants, articles


# ---------------------------------------------------------------------------------------- AG News


def ag_news_section(root: Path) -> str:
    docs = dd.ag_news(root)
    raws = [
        dd.raw_article(d.doc_id, d.title, d.paragraphs, "agnews.example", dd.published(0, n))
        for n, d in enumerate(docs)
    ]
    articles = dd.build_articles(raws)
    doc_of = {a.article_id: d for a, d in zip(articles, docs, strict=True)}
    signed = dd.sign(dd.boilerplate_reference(articles, BoilerplateConfig()))
    key = {a.article_id: normalize_for_dedup(" ".join(doc_of[a.article_id].paragraphs)) for a in articles}
    twins = Counter(key.values())
    with_twin = [i for i, k in key.items() if twins[k] > 1]
    rows, listed = [], []
    for threshold in (0.6, 0.7, 0.8, 0.9):
        links = dd.neardup_reference(signed, NearDupConfig(threshold=threshold))
        clustered = {i for link in links.values() for i in (link.article_id, link.duplicate_of)}
        other = [link for link in links.values() if key[link.article_id] != key[link.duplicate_of]]
        rows.append((threshold, len(links), sum(i in clustered for i in with_twin), len(other)))
        if threshold == NearDupConfig().threshold:
            listed = sorted(other, key=lambda link: -link.similarity)
    lines = [
        f"{len(articles)} descriptions; {len(with_twin)} have an identical (normalized) twin.\n",
        table(
            ["threshold", "links", "descriptions with a twin clustered", "links between different descriptions"], rows
        ),
        f"\nEvery link between different descriptions at the default {NearDupConfig().threshold} (to be judged by "
        "reading: same story, other dateline or credit?):\n",
        table(
            ["similarity", "description", "its representative"],
            [
                (
                    link.similarity,
                    " ".join(doc_of[link.article_id].paragraphs)[:100],
                    " ".join(doc_of[link.duplicate_of].paragraphs)[:100],
                )
                for link in listed
            ],
        ),
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ boilerplate


def boilerplate_section(root: Path, seed: int) -> str:
    bbc = dd.masakhanews(root)
    rng = random.Random(seed)
    copies: list[tuple[str, dd.Doc]] = []
    for doc in rng.sample([d for d in bbc if len(d.paragraphs) >= 6], 60):
        for k in range(2):
            donor = bbc[rng.randrange(len(bbc))]
            edited = dd.drop_sentences(dd.rewrite_paragraphs(doc.paragraphs, donor, 1, rng), 1, rng)
            copies.append(("copy", dd.Doc(f"{doc.doc_id}:copy{k}", doc.title, tuple(edited))))
    corpus = [("original", d) for d in bbc] + copies
    raws = [
        dd.raw_article(d.doc_id, d.title, d.paragraphs, "bbc.co.uk", dd.published(0, n))
        for n, (_, d) in enumerate(corpus)
    ]
    articles = dd.build_articles(raws)
    kind = {a.article_id: k for a, (k, _) in zip(articles, corpus, strict=True)}
    labelled = sum(
        1 for a in articles for p in a.paragraphs if p.duplicate_of is None and dd.is_labelled_boilerplate(p.text)
    )
    rows = []
    for k in (2, 3, 4, 5, 8):
        for rule, same_at in (
            ("same story ≥ 0.3", 0.3),
            ("same story ≥ 0.4 (default)", None),
            ("same story ≥ 0.5", 0.5),
            ("every article counts", 2.0),
        ):
            config = BoilerplateConfig(min_articles=k)
            marked = dd.boilerplate_reference(articles, config, *(() if same_at is None else (same_at,)))
            tp = fp = 0
            for article in marked:
                for p in article.paragraphs:
                    if p.boilerplate and p.duplicate_of is None:
                        if dd.is_labelled_boilerplate(p.text):
                            tp += 1
                        else:
                            fp += 1
            content_lost = sum(
                1
                for a in marked
                if kind[a.article_id] == "copy"
                for p in a.paragraphs
                if p.boilerplate and not dd.is_labelled_boilerplate(p.text)
            )
            rows.append((k, rule, tp + fp, tp / max(1, tp + fp), tp / max(1, labelled), fp, content_lost))
    head = (
        f"{len(articles)} articles of one source ({len(bbc)} real BBC articles + {len(copies)} revised copies of 60 "
        f"of them); {labelled} paragraphs hand-labelled boilerplate.\n"
    )
    return (
        head
        + "\n"
        + table(
            ["min articles", "counting", "removed", "precision", "recall", "content removed", "…of it in copies"], rows
        )
    )


# ------------------------------------------------------------------------------- the real pipeline


def pipeline_section(root: Path, variants: list[dd.Variant], articles: list[Article]) -> str:
    import duckdb

    from feedflow.cli import main

    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "corpus.jsonl"
        raws = raw_articles(variants)
        src.write_text("".join(json.dumps(dd.json_record(r)) + "\n" for r in raws), encoding="utf-8")
        out = Path(tmp) / "data"
        with contextlib.redirect_stdout(io.StringIO()):  # the run summaries
            (status, seconds) = dd.timed(
                lambda: main(["run", str(src), "--output", str(out), "--skip", "entities,topics"])
            )
        assert status == 0
        con = duckdb.connect()
        got = dict(
            con.sql(
                f"SELECT article_id, duplicate_of FROM read_parquet('{out}/articles/**/*.parquet') "
                "WHERE duplicate_of IS NOT NULL"
            ).fetchall()
        )
        flags = dict(
            ((i, p), b)
            for i, p, b in con.sql(
                f"SELECT article_id, position, boilerplate FROM read_parquet('{out}/paragraphs/**/*.parquet')"
            ).fetchall()
        )
        reference_marked = dd.boilerplate_reference(articles, BoilerplateConfig())
        reference = {
            a.article_id: a.duplicate_of
            for a in dd.neardup_reference(dd.sign(reference_marked), NearDupConfig()).values()
        }
        ref_flags = {(a.article_id, p.position): p.boilerplate for a in reference_marked for p in a.paragraphs}
        lines.append(
            f"`feedflow run` on the near-duplicate corpus ({len(raws)} articles, entities and topics skipped): "
            f"{seconds:.1f} s; links identical to the in-memory reference: {got == reference} ({len(got)} links); "
            f"boilerplate flags identical: {flags == ref_flags}."
        )
        feeds = Path(tmp) / "feeds"
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["run", str(root / "news-feeds"), "--output", str(feeds), "--skip", "entities,topics"]) == 0
        [manifest] = [json.loads(p.read_text()) for p in (feeds / "_runs").glob("*.json")]
        m = manifest["metrics"]
        lines.append(
            f"\n`feedflow run` over news-feeds/ ({manifest['counts']['articles']} articles): "
            f"{m.get('Boilerplate.paragraphs_removed', 0)} boilerplate paragraphs removed from "
            f"{m.get('Boilerplate.articles_changed', 0)} articles; {m.get('NearDup.duplicates', 0)} near-duplicates "
            f"in {m.get('NearDup.clusters', 0)} clusters."
        )
        removed = con.sql(
            f"SELECT a.source, p.text, count(*) n FROM read_parquet('{feeds}/paragraphs/**/*.parquet') p "
            f"JOIN read_parquet('{feeds}/articles/**/*.parquet') a USING (article_id, version) "
            "WHERE p.boilerplate GROUP BY ALL ORDER BY n DESC, 1, 2 LIMIT 12"
        ).fetchall()
        if removed:
            lines.append("\nBoilerplate removed (source, paragraph, articles):\n")
            lines.append(table(["source", "paragraph", "articles"], [(s, t[:100], n) for s, t, n in removed]))
        dups = con.sql(
            f"SELECT d.source, d.title, r.title, d.similarity FROM read_parquet('{feeds}/articles/**/*.parquet') d "
            f"JOIN read_parquet('{feeds}/articles/**/*.parquet') r ON d.duplicate_of = r.article_id "
            "ORDER BY 1, 2 LIMIT 15"
        ).fetchall()
        if dups:
            lines.append("\nNear-duplicates found (source, title, representative's title, similarity):\n")
            lines.append(
                table(
                    ["source", "title", "representative", "similarity"],
                    [(s, (a or "")[:60], (b or "")[:60], x) for s, a, b, x in dups],
                )
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-pipeline", action="store_true", help="only the in-memory evaluation")
    ns = parser.parse_args(argv)
    root = dd.require_eval_data()
    text, variants, articles = neardup_section(root, ns.seed)
    print("## Near-duplicate articles\n")
    print(text)
    print("\n## AG News descriptions\n")
    print(ag_news_section(root))
    print("\n## Boilerplate paragraphs\n")
    print(boilerplate_section(root, ns.seed))
    if not ns.skip_pipeline:
        print("\n## The Beam pipeline\n")
        print(pipeline_section(root, variants, articles))
    return 0


if __name__ == "__main__":
    sys.exit(main())
