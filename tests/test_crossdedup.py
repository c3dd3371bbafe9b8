"""Cross-article dedup end to end: `feedflow run` (in-process FnApiRunner), read back with DuckDB.

Bodies are made of seeded random words, so unrelated articles share no 5-word shingle by chance and
every expected similarity is known from the construction.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from feedflow.cli import main
from feedflow.core.boilerplate import BoilerplateConfig, read_committed_evidence
from feedflow.core.dataset import read_known_versions
from feedflow.core.neardup import NearDupConfig, band_keys, lsh_bands, read_committed_signatures
from feedflow.query import run_query

pytestmark = pytest.mark.slow

_VOCABULARY = (
    "council budget harbour storm coast market shares election minister hospital patients court ruling school "
    "teachers energy prices river flood police inquiry festival music rail strike bank rates football league "
    "ships university research farmers harvest drought water supply bridge tunnel airport runway pilots union "
    "wages museum exhibition painting library archive village mayor residents housing rent tenants landlord "
    "factory workers jobs exports tariffs shipping port cargo fishing quota vessel science telescope planet "
    "orbit satellite launch rocket engineers climate carbon emissions forest wildfire rescue volunteers charity "
    "donations festival stage audience theatre actor director film premiere award novel author poetry garden"
)
WORDS = tuple(_VOCABULARY.split(" "))

FOOTER = (
    "Sign up for the Daily Example newsletter and follow Maria Gonzalez on social media for the best stories "
    "from Lisbon delivered to your inbox every morning."
)
BYLINE = "Daily Example staff"  # repeated too, but too short to be boilerplate evidence
QUOTE = (
    "“We will not rest until every family on this coast has a safe home and a fair chance to rebuild what the "
    "storm took from them,” the minister said."
)


def body(seed: int, paragraphs: int = 6, words: int = 40) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "." for _ in range(paragraphs)]


def record(url: str, title: str, paragraphs: list[str], published: str, source: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"url": url, "title": title, "text": "\n\n".join(paragraphs), "published": published}
    if source:
        item["source"] = source
    return item


def corpus() -> list[dict[str, Any]]:
    """Every case of the module in one run (they do not interact: distinct sources and bodies)."""
    items = [
        record(
            f"https://daily.example.com/story-{i}",
            f"Daily story {i}",
            [*body(100 + i), BYLINE, FOOTER],
            f"2024-03-0{i + 1}T08:00:00Z",
            "Daily Example",
        )
        for i in range(5)
    ]
    items.append(record("https://other.example.org/one", "Other paper", [*body(200), FOOTER], "2024-03-02T08:00:00Z"))
    same = body(300, paragraphs=8)
    items.append(record("https://wire-a.example.net/storm", "Storm (A)", same, "2024-03-05T09:00:00Z"))
    items.append(record("https://wire-b.example.net/storm-copy", "Storm (B)", same, "2024-03-05T10:00:00Z"))
    original = body(400, paragraphs=15)
    revised = [*original[:7], *body(401, paragraphs=1), *original[8:]]
    items.append(record("https://news.example.com/original", "Original", original, "2024-03-06T09:00:00Z"))
    items.append(record("https://mirror.example.info/revised", "Revised", revised, "2024-03-06T12:00:00Z"))
    items.append(record("https://q1.example.com/a", "Quote one", [*body(500), QUOTE], "2024-03-07T09:00:00Z"))
    items.append(record("https://q2.example.com/b", "Quote two", [*body(501), QUOTE], "2024-03-07T10:00:00Z"))
    return items


def write_jsonl(path: Path, items: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    return path


def rows(root: Path, sql: str) -> list[tuple[Any, ...]]:
    return run_query(str(root), sql)[1]


def by_title(root: Path) -> dict[str, dict[str, Any]]:
    columns, found = run_query(str(root), "SELECT * FROM articles")
    return {row[columns.index("title")]: dict(zip(columns, row, strict=True)) for row in found}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("crossdedup")
    source = write_jsonl(root / "in" / "corpus.jsonl", corpus())
    assert main(["run", str(source), "--output", str(root / "data")]) == 0
    return root / "data"


# ---------------------------------------------------------------------------------- boilerplate


def test_boilerplate_appended_to_five_articles_is_removed_from_all_and_marked(run_dir: Path) -> None:
    articles = rows(run_dir, "SELECT text, paragraph_count FROM articles WHERE source = 'Daily Example'")
    assert len(articles) == 5
    for text, paragraphs in articles:
        assert "Sign up for the Daily Example newsletter" not in text
        assert paragraphs == 7  # 6 body paragraphs + the short byline
    marked = rows(
        run_dir,
        "SELECT p.text, p.boilerplate FROM paragraphs p JOIN articles a USING (article_id, version) "
        "WHERE a.source = 'Daily Example' AND p.text LIKE 'Sign up%'",
    )
    assert marked == [(FOOTER, True)] * 5


def test_the_same_paragraph_once_in_another_source_is_kept(run_dir: Path) -> None:
    [(text,)] = rows(run_dir, "SELECT text FROM articles WHERE title = 'Other paper'")
    assert text.endswith(FOOTER)
    [(flag,)] = rows(run_dir, "SELECT boilerplate FROM paragraphs WHERE text LIKE 'Sign up%' AND NOT boilerplate")
    assert flag is False


def test_short_repeated_lines_are_no_evidence_and_stay(run_dir: Path) -> None:
    flags = rows(run_dir, f"SELECT boilerplate FROM paragraphs WHERE text = '{BYLINE}'")
    assert flags == [(None,)] * 5
    assert all(BYLINE in t for (t,) in rows(run_dir, "SELECT text FROM articles WHERE source = 'Daily Example'"))


def test_boilerplate_never_reaches_ner(run_dir: Path) -> None:
    daily = rows(
        run_dir,
        "SELECT e.entity FROM entities e JOIN articles a USING (article_id, version) WHERE a.source = 'Daily Example'",
    )
    other = rows(
        run_dir,
        "SELECT e.entity FROM entities e JOIN articles a USING (article_id, version) WHERE a.title = 'Other paper'",
    )
    assert ("Maria Gonzalez",) in other  # NER does find her where the footer is not boilerplate
    assert ("Maria Gonzalez",) not in daily and ("Lisbon",) not in daily


# ------------------------------------------------------------------------------ near-duplicates


def test_identical_article_under_two_urls_has_one_representative(run_dir: Path) -> None:
    articles = by_title(run_dir)
    first, second = articles["Storm (A)"], articles["Storm (B)"]
    assert first["duplicate_of"] is None and first["similarity"] is None
    assert second["duplicate_of"] == first["article_id"] and second["similarity"] == 1.0


def test_revised_copy_points_at_the_original(run_dir: Path) -> None:
    articles = by_title(run_dir)
    original, revised = articles["Original"], articles["Revised"]
    assert original["duplicate_of"] is None
    assert revised["duplicate_of"] == original["article_id"]
    assert 0.7 <= revised["similarity"] < 1.0


def test_unrelated_articles_sharing_a_quote_are_not_duplicates(run_dir: Path) -> None:
    articles = by_title(run_dir)
    assert articles["Quote one"]["duplicate_of"] is None and articles["Quote two"]["duplicate_of"] is None


def test_nothing_else_is_a_duplicate_and_every_body_has_a_signature(run_dir: Path) -> None:
    linked = rows(run_dir, "SELECT title FROM articles WHERE duplicate_of IS NOT NULL ORDER BY 1")
    assert linked == [("Revised",), ("Storm (B)",)]
    assert rows(run_dir, "SELECT DISTINCT len(minhash) FROM articles") == [(128,)]
    [manifest] = [json.loads(p.read_text()) for p in (run_dir / "_runs").glob("*.json")]
    metrics = manifest["metrics"]
    assert metrics["NearDup.duplicates"] == 2 and metrics["NearDup.clusters"] == 2
    assert metrics["NearDup.cluster_size.2"] == 2 and metrics["Boilerplate.paragraphs_removed"] == 5
    assert manifest["settings"]["near_dup_threshold"] == 0.7
    assert manifest["settings"]["boilerplate_min_articles"] == 3


# ---------------------------------------------------------------------------------- determinism

DECISIONS = {
    "articles": "SELECT article_id, text, word_count, paragraph_count, duplicate_of, similarity, minhash "
    "FROM articles ORDER BY ALL",
    "paragraphs": "SELECT article_id, position, key_hash, duplicate_of, boilerplate FROM paragraphs ORDER BY ALL",
}


def test_two_workers_and_shuffled_input_decide_the_same(run_dir: Path, tmp_path: Path) -> None:
    items = corpus()
    random.Random(3).shuffle(items)
    half = len(items) // 2
    write_jsonl(tmp_path / "in" / "b.jsonl", items[:half])  # two files, other order, other line numbers
    write_jsonl(tmp_path / "in" / "a.jsonl", items[half:])
    out = tmp_path / "data"
    assert main(["run", str(tmp_path / "in"), "--output", str(out), "--workers", "2", "--skip", "entities"]) == 0
    for table, sql in DECISIONS.items():
        assert rows(out, sql) == rows(run_dir, sql), table


def test_a_run_hands_articles_on_through_spill_files_and_leaves_none(run_dir: Path) -> None:
    """The batch job spills its articles where they wait for a lookup (ids, boilerplate, assignments)
    and reads every one back (the run committed, so its accounting held); the files go with the
    staging folder at commit."""
    (manifest,) = [json.loads(p.read_text("utf-8")) for p in (run_dir / "_runs").glob("*.json")]
    metrics = manifest["metrics"]
    assert metrics["Spill.files"] >= 3 and metrics["Spill.bytes"] > 0
    assert manifest["counts"]["articles"] == len(corpus())
    assert not list(run_dir.rglob("*.spill"))
    assert not list((run_dir / "_staging").iterdir())


# ------------------------------------------------------------------------------------ across runs


def test_a_later_run_links_to_and_counts_the_committed_dataset(tmp_path: Path) -> None:
    out = tmp_path / "data"
    footer = "Listen to the Harbour Gazette podcast every Friday for the week's news, interviews and local sport."
    original = body(600, paragraphs=12)
    first = [
        record("https://gazette.example.com/a", "Gazette A", [*body(601), footer], "2024-04-01T08:00:00Z"),
        record("https://gazette.example.com/b", "Gazette B", [*body(602), footer], "2024-04-02T08:00:00Z"),
        record("https://paper.example.com/original", "Original", original, "2024-04-03T08:00:00Z"),
    ]
    assert (
        main(
            ["run", str(write_jsonl(tmp_path / "run1.jsonl", first)), "--output", str(out), "--skip", "entities,topics"]
        )
        == 0
    )
    assert rows(out, "SELECT count(*) FROM paragraphs WHERE boilerplate") == [(0,)]  # 2 articles only
    before = by_title(out)
    second = [
        record("https://gazette.example.com/c", "Gazette C", [*body(603), footer], "2024-04-04T08:00:00Z"),
        record(
            "https://copies.example.com/x",
            "Copy",
            [*original[:5], *body(604, 1), *original[6:]],
            "2024-04-02T08:00:00Z",
        ),
    ]
    assert (
        main(
            [
                "run",
                str(write_jsonl(tmp_path / "run2.jsonl", second)),
                "--output",
                str(out),
                "--skip",
                "entities,topics",
            ]
        )
        == 0
    )
    after = by_title(out)
    # the copy is linked to the committed original, though published before it: committed roles are final
    assert after["Copy"]["duplicate_of"] == before["Original"]["article_id"]
    assert after["Copy"]["similarity"] >= 0.7
    # the footer's third article comes in the second run: it is boilerplate there, counted with history
    assert footer not in after["Gazette C"]["text"]
    assert rows(out, "SELECT count(*) FROM paragraphs WHERE boilerplate") == [(1,)]
    # committed rows are never rewritten
    for title in ("Gazette A", "Gazette B", "Original"):
        assert after[title] == before[title]


def test_three_revised_copies_in_one_source_keep_their_text(tmp_path: Path) -> None:
    """Copies of one story count once as boilerplate evidence: the story is not 'boilerplate'."""
    story = body(700, paragraphs=10)
    items = [
        record(
            f"https://same.example.com/v{i}",
            f"Version {i}",
            [*story[:i], *body(710 + i, 1), *story[i + 1 :]] if i else story,
            f"2024-05-0{i + 1}T08:00:00Z",
        )
        for i in range(3)
    ]
    out = tmp_path / "data"
    assert (
        main(["run", str(write_jsonl(tmp_path / "v.jsonl", items)), "--output", str(out), "--skip", "entities,topics"])
        == 0
    )
    assert rows(out, "SELECT count(*) FROM paragraphs WHERE boilerplate") == [(0,)]
    assert rows(out, "SELECT DISTINCT paragraph_count FROM articles") == [(10,)]
    articles = by_title(out)
    assert articles["Version 1"]["duplicate_of"] == articles["Version 0"]["article_id"]
    assert articles["Version 2"]["duplicate_of"] == articles["Version 0"]["article_id"]


def test_settings_turn_the_steps_off_and_are_validated(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "c.jsonl", corpus())
    out = tmp_path / "data"
    assert main(["run", str(source), "--output", str(out), "--skip", "entities,topics,boilerplate,near-dups"]) == 0
    assert rows(out, "SELECT count(*) FROM articles WHERE duplicate_of IS NOT NULL OR minhash IS NOT NULL") == [(0,)]
    assert rows(out, "SELECT count(*) FROM paragraphs WHERE boilerplate IS NOT NULL") == [(0,)]
    assert main(["run", str(source), "--output", str(out), "--near-dup-threshold", "0.3"]) == 2
    assert main(["run", str(source), "--output", str(out), "--boilerplate-min-articles", "1"]) == 2


def test_history_read_for_a_run_is_exactly_the_part_that_can_matter(run_dir: Path) -> None:
    """Given the keys of a run's new articles, the history readers return the unfiltered history
    restricted to those keys — nothing that could decide something is left out, the rest is."""
    files = sorted(str(p) for p in (run_dir / "articles").rglob("*.parquet"))
    bands, band_rows = lsh_bands(NearDupConfig().threshold)

    reps = [r for f in files for r in read_committed_signatures(f)]
    assert len(reps) >= 5
    target = reps[len(reps) // 2]
    wanted = np.array(sorted(band_keys(target.minhash, bands, band_rows)), dtype=np.int64)
    picked = [r for f in files for r in read_committed_signatures(f, wanted, bands, band_rows)]
    sharing = [r for r in reps if set(band_keys(r.minhash, bands, band_rows)) & set(wanted.tolist())]
    assert picked == sharing and target in picked and len(picked) < len(reps)
    assert [r for f in files for r in read_committed_signatures(f, np.array([], np.int64), bands, band_rows)] == []

    config = BoilerplateConfig()
    folders: dict[str, list[str]] = {}
    for f in files:
        folders.setdefault(str(Path(f).parent), []).append(f)
    full = [item for group in folders.values() for item in read_committed_evidence(group, config)]
    keys = sorted({key for (_, key), _ in full})
    assert len(keys) >= 4
    some = keys[::2]
    part = [item for group in folders.values() for item in read_committed_evidence(group, config, some)]
    assert part == [item for item in full if item[0][1] in set(some)] and 0 < len(part) < len(full)

    known = [k for f in files for k in read_known_versions(f)]
    ids = sorted({k.article_id for k in known})[:3]
    assert [k for f in files for k in read_known_versions(f, ids)] == [k for k in known if k.article_id in ids]
    assert len(ids) == 3 < len(known)


# ------------------------------------------------------------------ side-input lookups = joins


def _process(
    inputs: list[Path],
    existing: list[str],
    out: Path,
    *,
    narrow: bool,
    lookup: bool,
    config: BoilerplateConfig,
    spill_dir: str | None = None,
    topics: Any = None,
    entities: Any = None,
) -> dict[str, list[Any]]:
    """ProcessArticles over ``inputs`` against ``existing`` (committed articles files) in one in-process
    pipeline (tagging only with ``topics`` / ``entities`` configs); what comes out, summarised as sorted
    JSON-able rows."""
    import apache_beam as beam
    from apache_beam.runners.portability.fn_api_runner.fn_runner import FnApiRunner

    from feedflow.config import ReadConfig
    from feedflow.core.articles import BuildConfig
    from feedflow.transforms.stages import ProcessArticles, ReadArticles

    def article(a: Any) -> list[Any]:
        flags = [p.boilerplate for p in a.paragraphs]
        tags = [[t.code, t.score, list(t.evidence)] for t in a.topics]
        found = [[e.entity, e.label, e.mentions, list(e.surface_forms), e.first_offset] for e in a.entities]
        decided = [a.article_id, a.version, a.title, a.text, a.duplicate_of, a.similarity, list(a.minhash), flags]
        return [*decided, tags, found, a.entities_tagged]

    def dump(kind: str) -> Any:
        return lambda items: (out / f"{kind}.json").write_text(json.dumps(sorted(items)), encoding="utf-8")

    out.mkdir(parents=True)
    with beam.Pipeline(runner=FnApiRunner()) as pipeline:
        raws, _ = pipeline | "Inputs" >> beam.Create([str(p) for p in inputs]) | "Read" >> ReadArticles(ReadConfig())
        committed = pipeline | "Existing" >> beam.Create(existing)
        articles, rejects, skipped = (raws, committed) | ProcessArticles(
            BuildConfig(run_started=datetime(2024, 3, 10, tzinfo=UTC)),
            topics,
            entities,
            boilerplate=config,
            narrow_history=narrow,
            lookup=lookup,
            spill_dir=spill_dir,
        )
        _ = articles | "A" >> beam.Map(article) | "AL" >> beam.combiners.ToList() | "AW" >> beam.Map(dump("articles"))
        _ = (
            rejects
            | "R" >> beam.Map(lambda r: [r.input, r.locator, r.reason, r.detail])
            | "RL" >> beam.combiners.ToList()
            | "RW" >> beam.Map(dump("rejects"))
        )
        _ = skipped | "SL" >> beam.combiners.ToList() | "SW" >> beam.Map(dump("skipped"))
    return {kind: json.loads((out / f"{kind}.json").read_text("utf-8")) for kind in ("articles", "rejects", "skipped")}


def test_side_input_lookups_decide_exactly_as_the_joins(tmp_path: Path) -> None:
    """Batch runs look decisions up in side inputs (ids to decide, boilerplate hits, near-duplicate
    assignments, signatures of candidate pairs) instead of joining every article, with the articles
    waiting in spill files or not; streaming joins. All must give the same articles,
    rejects and skipped ids — with copies of one id in the run, ids already committed (same and changed
    content), boilerplate that only counts with the history, and near-duplicates old and new."""
    config = BoilerplateConfig(min_articles=3)
    items = corpus()
    first = write_jsonl(tmp_path / "first" / "a.jsonl", items[:3] + items[6:8])
    assert main(["run", str(first), "--output", str(tmp_path / "data")]) == 0
    from feedflow.core.dataset import Dataset
    from feedflow.transforms.runner import committed_history

    existing = committed_history(Dataset(tmp_path / "data"))
    assert existing
    changed = dict(items[0], text=items[0]["text"] + "\n\nA correction was added.")
    again = [
        items[1],  # committed, unchanged: skipped
        changed,  # committed, changed: a new version
        *items[3:6],  # two more footer articles: the footer is boilerplate only with the committed three
        items[8],
        items[8],  # the same record twice: one duplicate_article
        dict(items[9], title="Revised (copy)"),  # same id as the next: a copy in another file
        *items[9:],
    ]
    second = [
        write_jsonl(tmp_path / "second" / "b.jsonl", again[:6]),
        write_jsonl(tmp_path / "second" / "c.jsonl", again[6:]),
    ]
    spill = tmp_path / "spill"
    results = {
        (narrow, lookup, spilled): _process(
            second,
            existing,
            tmp_path / f"out-{narrow}-{lookup}-{spilled}",
            narrow=narrow,
            lookup=lookup,
            config=config,
            spill_dir=str(spill / f"{narrow}") if spilled else None,
        )
        for narrow in (True, False)
        for lookup in (True, False)
        for spilled in ((False, True) if lookup else (False,))
    }
    # With a spill folder the articles waited for each lookup in files there (RouteById, MarkBoilerplate,
    # ApplyAssignments: at least one file each), and came back to the same decisions.
    assert len(list((spill / "True").glob("*.spill"))) >= 3
    joined = results[(False, False, False)]
    assert len(joined["rejects"]) == 2 and {r[2] for r in joined["rejects"]} == {"duplicate_article"}
    assert len(joined["skipped"]) == 1
    assert any(a[1] == 2 for a in joined["articles"])  # the changed article's second version
    assert any(True in a[7] for a in joined["articles"])  # boilerplate found (with the history)
    assert any(a[4] is not None for a in joined["articles"])  # near-duplicates found
    for key, found in results.items():
        assert found == joined, key


def test_assignments_topics_and_entities_met_in_one_wait_decide_as_the_joins(tmp_path: Path) -> None:
    """With entities on, a batch run with spill files applies the near-duplicate assignments, the topics
    and the entities after ONE wait (a ChainFn over one spill of every article, where there were two:
    one before the assignments, one before the mentions). The articles come out as from the joins and
    as from lookups without spill files."""
    import apache_beam as beam
    from apache_beam.runners.portability.fn_api_runner.fn_runner import FnApiRunner

    from feedflow.config import NerConfig, TopicConfig
    from feedflow.core.articles import BuildConfig
    from feedflow.transforms.stages import ProcessArticles

    def steps(entities: NerConfig | None) -> set[str]:
        """The labels of ProcessArticles' steps with spill files (the graph only: not run)."""
        pipeline = beam.Pipeline(runner=FnApiRunner())
        raws, committed = pipeline | "Raws" >> beam.Create([]), pipeline | "Committed" >> beam.Create([])
        _ = (raws, committed) | ProcessArticles(
            BuildConfig(run_started=datetime(2024, 3, 10, tzinfo=UTC)), TopicConfig(), entities, spill_dir="unused"
        )
        return {t.unique_name.rsplit("/", 1)[-1] for t in pipeline.to_runner_api().components.transforms.values()}

    with_entities, without = steps(NerConfig()), steps(None)
    assert "AttachSpill" in with_entities and "ApplyAssignmentsSpill" not in with_entities
    assert "ApplyAssignmentsSpill" in without and "AttachSpill" not in without

    inputs = [write_jsonl(tmp_path / "in" / "a.jsonl", corpus())]
    settings: dict[str, Any] = {"narrow": True, "config": BoilerplateConfig(), "topics": TopicConfig()}
    settings["entities"] = NerConfig()
    joined = _process(inputs, [], tmp_path / "joined", lookup=False, **settings)
    looked_up = _process(inputs, [], tmp_path / "looked-up", lookup=True, **settings)
    spill = tmp_path / "spill"
    spilled = _process(inputs, [], tmp_path / "spilled", lookup=True, spill_dir=str(spill), **settings)
    articles = joined["articles"]
    assert any(a[4] is not None for a in articles)  # near-duplicates found
    assert any(a[8] for a in articles) and any(a[9] for a in articles)  # topics and entities found
    assert all(a[10] for a in articles)  # every article (all English) went through the model
    assert looked_up == joined and spilled == joined
    assert list(spill.glob("*.spill"))


def test_waiting_once_is_refused_where_there_is_nothing_to_wait_for_together() -> None:
    """The assignments are applied in the entities' wait only with near-duplicates on, lookups through
    spill files and entities on; any other combination is a programming error, said when the step is
    built (not an article silently left without its assignment)."""
    from feedflow.config import NerConfig
    from feedflow.transforms.dedup import CrossArticleDedup, MarkNearDuplicates
    from feedflow.transforms.stages import TagArticles, TagEntities

    with pytest.raises(ValueError, match="needs near_dup"):
        CrossArticleDedup(BoilerplateConfig(), None, spill_dir="spill", apply_later=True)
    with pytest.raises(ValueError, match="needs lookup and a spill_dir"):
        MarkNearDuplicates(NearDupConfig(), apply_later=True)
    with pytest.raises(ValueError, match="needs lookup and a spill_dir"):
        MarkNearDuplicates(NearDupConfig(), lookup=False, spill_dir="spill", apply_later=True)
    with pytest.raises(ValueError, match="needs entities and a spill_dir"):
        TagArticles(None, None, spill_dir="spill", assignments=True)
    with pytest.raises(ValueError, match="needs entities and a spill_dir"):
        TagArticles(None, NerConfig(), assignments=True)
    with pytest.raises(ValueError, match="needs a spill_dir"):
        TagEntities(NerConfig(), assignments=True)
    assert CrossArticleDedup(BoilerplateConfig(), NearDupConfig(), spill_dir="spill", apply_later=True)


def test_ids_to_decide_are_found_however_the_ids_are_split_between_bundles() -> None:
    """A second copy of an id, or a committed version of it, puts the id through ChooseOne's join,
    also when the copies are in different bundles (workers) whose accumulators are merged."""
    from feedflow.core.dataset import IdsToDecide
    from feedflow.transforms.base import AccumulateFn

    combine = AccumulateFn(IdsToDecide)
    elements = [("new", "a"), ("new", "b"), ("new", "c"), ("new", "a"), ("old", "d"), ("new", "d"), ("new", "e")]
    rng = random.Random(5)
    for _ in range(50):
        shuffled = rng.sample(elements, len(elements))
        parts = [combine.create_accumulator() for _ in range(rng.randint(1, 4))]
        for element in shuffled:
            part = rng.randrange(len(parts))
            parts[part] = combine.add_input(parts[part], element)
        merged = combine.merge_accumulators([combine.merge_accumulators([p]) for p in parts])
        assert combine.extract_output(merged) == {"a", "d"}
