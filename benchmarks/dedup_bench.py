"""Cross-article dedup at scale: `make bench-dedup` (or python benchmarks/dedup_bench.py --articles 50000).

Not part of the test suite. Builds a corpus by recombining real sentences (MasakhaNEWS BBC articles and
the article-extraction gold bodies, from the shared evaluation data; exits 0 saying why when absent):
every "new" article is 6–24 real sentences drawn from the whole pool, grouped into paragraphs; 40
sources each append two of BBC's real boilerplate paragraphs to most of their articles; 8% of the
articles are exact copies of an earlier one under another URL, 12% are edited copies (a sentence
dropped, a sentence added, a paragraph replaced). Then, each in its own process (peak RSS measured):

1. `feedflow run --skip entities,topics` over all of it, with and without the cross-article dedup
   (`--skip …,boilerplate,near-dups`): wall time and peak RSS; planted copies found;
2. a second run of ``--second`` more articles (with copies of first-run articles) into the same
   dataset: the committed history is read back and joined;
3. per-article cost of the MinHash signature next to spaCy NER on the same real articles.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dedup_data as dd

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Planted:
    url: str
    of: str  # url of the article it copies
    kind: str  # exact | edited


def sentence_pool(root: Path) -> tuple[list[str], list[str], list[dd.Doc]]:
    bbc = dd.masakhanews(root)
    docs = bbc + dd.article_extraction(root)
    pool = [s for d in docs for p in d.paragraphs if not dd.is_labelled_boilerplate(p) for s in dd.sentences(p)]
    pool = [s for s in pool if len(s.split()) >= 6]
    return pool, dd.boilerplate_pool(bbc), docs


def generate(
    n: int,
    pool: list[str],
    boilerplate: list[str],
    seed: int,
    start_day: int,
    prefix: str,
    earlier: list[dict[str, str]],
) -> tuple[list[dict[str, str]], list[Planted]]:
    rng = random.Random(seed)
    sources = [f"source-{k:02d}.example" for k in range(40)]
    footers = {s: rng.sample(boilerplate, 2) for s in sources}
    items: list[dict[str, str]] = []
    planted: list[Planted] = []
    for i in range(n):
        source = rng.choice(sources)
        when = dd.published(start_day + i * 60 // max(n, 1), i).isoformat()
        url = f"https://{source}/{prefix}/{i}"
        r = rng.random()
        previous = items + earlier
        if r < 0.20 and previous:
            original = rng.choice(previous)
            paragraphs = original["text"].split("\n\n")
            if r < 0.08:
                kind = "exact"
            else:
                kind = "edited"
                edit = rng.randrange(3)
                if edit == 0:
                    paragraphs = dd.drop_sentences(paragraphs, 1, rng)
                elif edit == 1:
                    donor = dd.Doc("donor", "", (" ".join(rng.sample(pool, 3)),))
                    paragraphs = dd.add_sentences(paragraphs, donor, 1, rng)
                else:
                    donor = dd.Doc("donor", "", tuple(" ".join(rng.sample(pool, 3)) for _ in range(2)))
                    paragraphs = dd.rewrite_paragraphs(paragraphs, donor, 1, rng)
            planted.append(Planted(url, original["url"], kind))
            items.append({**original, "url": url, "published": when, "title": original["title"] + " (copy)"})
            items[-1]["text"] = "\n\n".join(paragraphs)
            continue
        sentences = rng.sample(pool, rng.randint(6, 24))
        paragraphs = [" ".join(sentences[k : k + 3]) for k in range(0, len(sentences), 3)]
        if rng.random() < 0.8:
            paragraphs += footers[source]
        items.append(
            {
                "url": url,
                "title": sentences[0][:80],
                "text": "\n\n".join(paragraphs),
                "published": when,
                "source": source,
            }
        )
    return items, planted


def write_jsonl(folder: Path, items: list[dict[str, str]], per_file: int = 5000) -> float:
    """JSON Lines files of ``per_file`` articles (one file stays under the 50 MB input limit); MiB written."""
    folder.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(items), per_file):
        with open(folder / f"part-{start // per_file:04d}.jsonl", "w", encoding="utf-8") as handle:
            for item in items[start : start + per_file]:
                handle.write(json.dumps(item) + "\n")
    return sum(f.stat().st_size for f in folder.iterdir()) / 2**20


_RUNNER = """
import json, resource, sys, time
from feedflow.cli import main
start = time.perf_counter()
status = main(sys.argv[1:])
seconds = time.perf_counter() - start
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"status": status, "seconds": seconds, "peak_rss_mib": max(own, children) / 1024}))
"""


def run_feedflow(args: list[str]) -> dict[str, float]:
    """`feedflow` in a fresh process; its wall time and peak RSS (the process or its largest worker)."""
    done = subprocess.run(
        [sys.executable, "-c", _RUNNER, *args], capture_output=True, text=True, check=False, env=os.environ.copy()
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    result: dict[str, float] = json.loads(lines[-1]) if lines else {}
    if done.returncode != 0 or result.get("status") != 0:
        raise SystemExit(f"feedflow {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}")
    return result


def found(out: Path, planted: list[Planted]) -> str:
    """Planted copies in the same cluster as the article they copy, per kind; and all links made."""
    import duckdb

    con = duckdb.connect()
    rows = con.sql(
        f"SELECT a.url, a.duplicate_of, r.url FROM read_parquet('{out}/articles/**/*.parquet') a "
        f"LEFT JOIN read_parquet('{out}/articles/**/*.parquet') r ON a.duplicate_of = r.article_id"
    ).fetchall()
    rep_of = {url: (rep_url or url) for url, _, rep_url in rows}
    links = sum(1 for _, dup, _ in rows if dup)

    def root(url: str) -> str:
        return str(rep_of.get(url, url))

    parts = []
    for kind in ("exact", "edited"):
        mine = [p for p in planted if p.kind == kind]
        hit = sum(1 for p in mine if root(p.url) in (root(p.of), p.of))
        parts.append(f"{hit}/{len(mine)} {kind} copies linked")
    return "; ".join(parts) + f"; {links} links in all"


def per_article_costs(docs: list[dd.Doc], sample: int) -> tuple[float, float, float]:
    """Milliseconds per article: MinHash signature, spaCy NER (the pipeline's model), words per article."""
    from feedflow.config import NerConfig
    from feedflow.core.entities import EntityTagger
    from feedflow.core.neardup import MinHasher

    bodies = [list(d.paragraphs) for d in docs[:sample]]
    hasher = MinHasher()
    start = time.perf_counter()
    for body in bodies:
        hasher.signature(body)
    minhash = (time.perf_counter() - start) / len(bodies) * 1000
    tagger = EntityTagger(NerConfig())
    tagger.tag_many(bodies[:5])  # warm up
    start = time.perf_counter()
    tagger.tag_many(bodies)
    ner = (time.perf_counter() - start) / len(bodies) * 1000
    return minhash, ner, sum(len(" ".join(b).split()) for b in bodies) / len(bodies)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=50_000)
    parser.add_argument("--second", type=int, default=5_000, help="articles of the second run (0: none)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--baseline", action="store_true", help="also time the run without cross-article dedup")
    parser.add_argument("--ner-sample", type=int, default=300, help="articles for the NER/MinHash comparison")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR (kept) instead of a temporary folder")
    ns = parser.parse_args(argv)
    root = dd.require_eval_data()
    pool, boilerplate, docs = sentence_pool(root)
    first, planted = generate(ns.articles, pool, boilerplate, ns.seed, 0, "r1", [])
    second, planted2 = generate(ns.second, pool, boilerplate, ns.seed + 1, 61, "r2", first) if ns.second else ([], [])
    print(
        f"corpus: {len(first)} articles ({sum(p.kind == 'exact' for p in planted)} exact copies, "
        f"{sum(p.kind == 'edited' for p in planted)} edited copies) from {len(pool)} real sentences; "
        f"second run: {len(second)} ({len(planted2)} copies, many of first-run articles)"
    )
    workers = ["--workers", str(ns.workers)]
    with contextlib.nullcontext(ns.keep) if ns.keep else tempfile.TemporaryDirectory() as tmp:
        Path(tmp).mkdir(parents=True, exist_ok=True)
        inputs = Path(tmp) / "first"
        print(f"input: {write_jsonl(inputs, first):.0f} MiB JSON Lines")
        rows = []
        if ns.baseline:
            base = run_feedflow(
                [
                    "run",
                    str(inputs),
                    "--output",
                    f"{tmp}/base",
                    "--skip",
                    "entities,topics,boilerplate,near-dups",
                    *workers,
                ]
            )
            rows.append(("run 1 without cross-article dedup", len(first), base, ""))
        out = Path(tmp) / "data"
        result = run_feedflow(["run", str(inputs), "--output", str(out), "--skip", "entities,topics", *workers])
        rows.append(
            (
                "run 1 with cross-article dedup",
                len(first),
                result,
                found(out, planted),
            )
        )
        if second:
            write_jsonl(Path(tmp) / "second", second)
            result2 = run_feedflow(
                ["run", f"{tmp}/second", "--output", str(out), "--skip", "entities,topics", *workers]
            )
            rows.append(("run 2 (history of run 1 read back)", len(second), result2, found(out, planted2)))
        [manifest] = [json.loads(p.read_text()) for p in sorted((out / "_runs").glob("*.json"))[:1]]
        metrics = manifest["metrics"]
    print("\n| run | articles | wall s | articles/s | peak RSS MiB | dedup |")
    print("|---|---|---|---|---|---|")
    for name, n, r, note in rows:
        print(f"| {name} | {n} | {r['seconds']:.0f} | {n / r['seconds']:.0f} | {r['peak_rss_mib']:.0f} | {note} |")
    print(
        "\nrun 1 counters: "
        + ", ".join(f"{k} {v}" for k, v in sorted(metrics.items()) if k.startswith(("NearDup.", "Boilerplate.")))
    )
    minhash, ner, words = per_article_costs(docs, ns.ner_sample)
    print(
        f"\nper article ({ns.ner_sample} real BBC articles, {words:.0f} words on average): MinHash signature "
        f"{minhash:.2f} ms, spaCy NER {ner:.1f} ms ({ner / minhash:.0f}× the signature)"
    )
    print(f"(this process: peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
