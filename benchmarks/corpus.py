"""Deterministic benchmark corpus: N news articles of realistic length and structure, from real text.

``python benchmarks/corpus.py --articles 5000 --out build/bench/corpus-5000`` (bench.py calls
:func:`build` directly).

Text comes from the shared evaluation data (``$FEEDFLOW_EVAL_DATA``, else ``<repo>/../shared/data``;
never copied into the repository), read with the loaders of :mod:`dedup_data`:

* MasakhaNEWS (1,420 BBC articles) and the article-extraction gold bodies: real multi-paragraph news;
* CoNLL-2003 ``eng.train``: 946 Reuters documents (detokenized, one sentence a line → paragraphs);
* ``news-feeds/``: feed entries, read and cleaned with feedflow's own readers;
* AG News descriptions: single-paragraph wire stories (sentences only).

When the shared data is absent the corpus falls back to the project's ``seeds/`` (a few articles and
feeds): the same structure, far less variety (the benchmark says which one it used).

Articles: the real documents first, each once, in a seeded order; then recombined articles that copy
the paragraph and sentence structure (paragraph count, sentences per paragraph) of a random real
document, filled with real sentences drawn from the whole pool. On top, with controlled shares:

* ``dup_paragraphs``: articles that repeat one of their paragraphs later on (a pull quote, a caption);
* ``boilerplate``: articles that end with one or two of their source's footer paragraphs (40 sources,
  footers from BBC's real boilerplate; each source has its own pair);
* ``near_dups``: copies of an earlier article under another URL: half exact, half edited (a sentence
  dropped, two added, or a paragraph replaced) — the edits of :mod:`dedup_data`.

Written as JSON Lines (``jsonl/part-NNNN.jsonl``, ``per_file`` articles each) and as RSS 2.0 feeds
(``feeds/<source>-NNN.xml``, the body as ``content:encoded`` HTML), plus ``corpus.json`` with the counts.
"""

from __future__ import annotations

import argparse
import html
import json
import random
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dedup_data as dd

REPO = Path(__file__).resolve().parents[1]
SOURCES = 40

#: Footers for the fallback corpus (no shared data): the kind of per-source boilerplate news sites add.
FALLBACK_FOOTERS = (
    "Follow our coverage of the region on Facebook, on X and on Instagram, and send your story ideas to us.",
    "Sign up for our morning briefing to get the most important stories of the day delivered to your inbox.",
    "Have you been affected by the issues raised in this story? Get in touch with our newsroom by email.",
    "Our journalism is funded by readers like you. Support independent reporting with a monthly donation.",
    "Download our free app to get breaking news alerts and live coverage wherever you are in the world.",
    "This article was amended after publication to correct the spelling of a name and a date in the text.",
)


@dataclass(frozen=True)
class Shares:
    """Controlled shares of the corpus (fractions of all articles)."""

    dup_paragraphs: float = 0.15
    boilerplate: float = 0.7
    near_dups: float = 0.10


@dataclass(frozen=True)
class Corpus:
    items: list[dict[str, str]]
    origin: str  # "shared data at …" or "seeds/ fallback"
    real_docs: int
    sentences: int
    counts: dict[str, int]


# --------------------------------------------------------------------------------------- real text

_CONLL_FIXES = (
    (re.compile(r" ([.,:;!?%)\]}])"), r"\1"),
    (re.compile(r"([(\[{$]) "), r"\1"),
    (re.compile(r" (n't|'s|'re|'ve|'ll|'d|'m)\b"), r"\1"),
    (re.compile(r'" (.*?) "'), r'"\1"'),
)


def detokenize(tokens: Sequence[str]) -> str:
    text = " ".join(tokens)
    for pattern, repl in _CONLL_FIXES:
        text = pattern.sub(repl, text)
    return text


def conll_documents(root: Path) -> list[dd.Doc]:
    """CoNLL-2003 train documents: first sentence = headline, the dateline and the rest = paragraphs
    (Reuters wire copy puts one or two sentences in a paragraph: two sentences are joined)."""
    docs: list[dd.Doc] = []
    sentences: list[str] = []
    tokens: list[str] = []

    def close_document() -> None:
        if len(sentences) >= 3:
            body = sentences[1:]
            paragraphs = tuple(" ".join(body[k : k + 2]) for k in range(0, len(body), 2))
            docs.append(dd.Doc(f"conll-{len(docs)}", sentences[0], paragraphs))
        sentences.clear()

    with open(root / "conll2003" / "eng.train", encoding="utf-8") as handle:
        for line in handle:
            parts = line.split()
            if not parts:
                if tokens:
                    sentences.append(detokenize(tokens))
                    tokens = []
                continue
            if parts[0] == "-DOCSTART-":
                close_document()
                continue
            tokens.append(parts[0])
    if tokens:
        sentences.append(detokenize(tokens))
    close_document()
    return docs


def feed_documents(folder: Path) -> list[dd.Doc]:
    """Entries of every feed file under ``folder``, read and cleaned by feedflow itself."""
    from datetime import UTC, datetime

    from feedflow.config import ReadConfig
    from feedflow.core.articles import ArticleBuilder, BuildConfig
    from feedflow.core.readers import read_input
    from feedflow.model import InputRef, RawArticle

    builder = ArticleBuilder(BuildConfig(run_started=datetime(2024, 1, 1, tzinfo=UTC)))
    docs = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in {".xml", ".rss", ".atom"}):
        for record in read_input(InputRef(str(path)), ReadConfig()):
            if isinstance(record, RawArticle):
                paragraphs = tuple(builder.body_paragraphs(record))
                if paragraphs and sum(len(p.split()) for p in paragraphs) >= 20:
                    docs.append(dd.Doc(f"feed-{len(docs)}", record.title or paragraphs[0][:80], paragraphs))
    return docs


def real_text(root: Path | None) -> tuple[list[dd.Doc], list[str], list[str], str]:
    """(documents, extra sentences, footers, origin): the shared data, else the seeds/ fallback."""
    if root is not None and (root / "topics").is_dir():
        bbc = dd.masakhanews(root)
        docs = [
            dd.Doc(d.doc_id, d.title, tuple(p for p in d.paragraphs if not dd.is_labelled_boilerplate(p))) for d in bbc
        ]
        docs += dd.article_extraction(root) + conll_documents(root) + feed_documents(root / "news-feeds")
        extra = [s for d in dd.ag_news(root) for p in d.paragraphs for s in dd.sentences(p)]
        footers = dd.boilerplate_pool(bbc)
        return [d for d in docs if d.paragraphs], extra, footers, f"shared data at {root}"
    seeds = REPO / "seeds"
    docs = feed_documents(seeds)
    text = (seeds / "harris_border.txt").read_text(encoding="utf-8").split("\n\n")
    docs.append(dd.Doc("seed-harris", text[0].strip(), tuple(p.strip() for p in text[1:] if p.strip())))
    return docs, [], list(FALLBACK_FOOTERS), "seeds/ fallback (shared data absent)"


# ------------------------------------------------------------------------------------------ corpus


def build(n: int, seed: int = 7, root: Path | None = None, shares: Shares = Shares()) -> Corpus:
    """N articles as JSON records (url, title, text, source, published), deterministic for ``seed``."""
    root = root if root is not None else dd.eval_data_dir()
    docs, extra, footer_pool, origin = real_text(root)
    rng = random.Random(seed)
    order = list(docs)
    rng.shuffle(order)
    pool = sorted({s for d in docs for p in d.paragraphs for s in dd.sentences(p) if len(s.split()) >= 4} | set(extra))
    rng.shuffle(pool)
    sources = [f"news-{k:02d}.example" for k in range(SOURCES)]
    footers = {s: rng.sample(footer_pool, min(2, len(footer_pool))) for s in sources}
    counts = dict.fromkeys(("real", "recombined", "exact_copies", "edited_copies", "dup_paragraph", "boilerplate"), 0)
    items: list[dict[str, str]] = []
    cursor = 0

    def recombined() -> tuple[str, list[str]]:
        nonlocal cursor
        shape = docs[rng.randrange(len(docs))]
        paragraphs = []
        for p in shape.paragraphs:
            k = max(1, len(dd.sentences(p)))
            paragraphs.append(" ".join(pool[(cursor + j) % len(pool)] for j in range(k)))
            cursor += k
        return paragraphs[0][:90], paragraphs

    for i in range(n):
        source = sources[rng.randrange(SOURCES)]
        url = f"https://{source}/{seed}/{i}"
        when = dd.published(i * 60 // max(n, 1), i).isoformat()
        r = rng.random()
        if r < shares.near_dups and items:
            original = items[rng.randrange(len(items))]
            paragraphs = original["text"].split("\n\n")
            if r < shares.near_dups / 2:
                counts["exact_copies"] += 1
            else:
                counts["edited_copies"] += 1
                donor = dd.Doc("donor", "", tuple(" ".join(rng.sample(pool, 3)) for _ in range(2)))
                edit = rng.randrange(3)
                if edit == 0:
                    paragraphs = dd.drop_sentences(paragraphs, 1, rng)
                elif edit == 1:
                    paragraphs = dd.add_sentences(paragraphs, donor, 2, rng)
                else:
                    paragraphs = dd.rewrite_paragraphs(paragraphs, donor, 1, rng)
            items.append({**original, "url": url, "published": when, "text": "\n\n".join(paragraphs)})
            continue
        if i < len(order):
            counts["real"] += 1
            title, paragraphs = order[i].title, list(order[i].paragraphs)
        else:
            counts["recombined"] += 1
            title, paragraphs = recombined()
        if len(paragraphs) > 2 and rng.random() < shares.dup_paragraphs:
            counts["dup_paragraph"] += 1
            paragraphs.insert(rng.randrange(2, len(paragraphs) + 1), paragraphs[rng.randrange(len(paragraphs) - 1)])
        if footers[source] and rng.random() < shares.boilerplate:
            counts["boilerplate"] += 1
            paragraphs += footers[source][: rng.randint(1, 2)]
        items.append({"url": url, "title": title, "text": "\n\n".join(paragraphs), "source": source, "published": when})
    return Corpus(items, origin, len(docs), len(pool), counts)


# ------------------------------------------------------------------------------------------ output


def write_jsonl(folder: Path, items: Sequence[dict[str, str]], per_file: int = 1000) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for start in range(0, len(items), per_file):
        path = folder / f"part-{start // per_file:04d}.jsonl"
        with open(path, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(item, ensure_ascii=False) + "\n" for item in items[start : start + per_file])
        paths.append(path)
    return paths


def _rss_items(items: Sequence[dict[str, str]]) -> Iterator[str]:
    from datetime import datetime
    from email.utils import format_datetime

    for item in items:
        body = "".join(f"<p>{html.escape(p)}</p>" for p in item["text"].split("\n\n"))
        yield (
            f"<item><title>{html.escape(item['title'])}</title><link>{html.escape(item['url'])}</link>"
            f"<guid>{html.escape(item['url'])}</guid>"
            f"<pubDate>{format_datetime(datetime.fromisoformat(item['published']))}</pubDate>"
            f"<content:encoded><![CDATA[{body}]]></content:encoded></item>\n"
        )


def write_feeds(folder: Path, items: Sequence[dict[str, str]], per_file: int = 500) -> list[Path]:
    """RSS 2.0 files, one series per source (each at most ``per_file`` items)."""
    folder.mkdir(parents=True, exist_ok=True)
    by_source: dict[str, list[dict[str, str]]] = {}
    for item in items:
        by_source.setdefault(item["url"].split("/")[2], []).append(item)
    paths = []
    for source, mine in sorted(by_source.items()):
        for start in range(0, len(mine), per_file):
            path = folder / f"{source}-{start // per_file:03d}.xml"
            path.write_text(
                '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
                'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
                f"<title>{source}</title><link>https://{source}/</link><language>en</language>\n"
                + "".join(_rss_items(mine[start : start + per_file]))
                + "</channel></rss>\n",
                encoding="utf-8",
            )
            paths.append(path)
    return paths


def write(corpus: Corpus, out: Path, feeds: bool = True) -> dict[str, object]:
    """JSONL (and feed) files of the corpus under ``out`` and a ``corpus.json`` summary; the summary."""
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "jsonl", corpus.items)
    if feeds:
        write_feeds(out / "feeds", corpus.items)
    words = sum(len(item["text"].split()) for item in corpus.items)
    summary: dict[str, object] = {
        "articles": len(corpus.items),
        "words": words,
        "paragraphs": sum(item["text"].count("\n\n") + 1 for item in corpus.items),
        "origin": corpus.origin,
        "real_documents": corpus.real_docs,
        "sentence_pool": corpus.sentences,
        **corpus.counts,
    }
    (out / "corpus.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--no-feeds", action="store_true", help="JSON Lines only")
    for name, value in asdict(Shares()).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=value, help=f"share (default {value})")
    ns = parser.parse_args(argv)
    shares = Shares(ns.dup_paragraphs, ns.boilerplate, ns.near_dups)
    summary = write(build(ns.articles, ns.seed, shares=shares), ns.out, feeds=not ns.no_feeds)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
