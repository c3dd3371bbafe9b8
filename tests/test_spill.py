"""Spill files (feedflow.core.spill) and the Beam steps that hand records through them
(feedflow.transforms.base: SpillFn, FromSpillFn, spill_before)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedflow.core.spill import SpillError, SpillFile, SpillWriter, read_spill


def _spill(directory: Path, frames: list[bytes]) -> SpillFile | None:
    writer = SpillWriter(str(directory))
    for frame in frames:
        writer.add(frame)
    return writer.close()


@settings(max_examples=60, deadline=None)
@given(frames=st.lists(st.binary(max_size=300), min_size=1, max_size=40))
def test_frames_come_back_as_written_in_order(tmp_path_factory: pytest.TempPathFactory, frames: list[bytes]) -> None:
    directory = tmp_path_factory.mktemp("spill")
    spilled = _spill(directory, frames)
    assert spilled is not None and spilled.frames == len(frames)
    assert Path(spilled.path).parent == directory
    assert list(read_spill(spilled)) == frames


def test_a_writer_given_nothing_makes_no_file(tmp_path: Path) -> None:
    assert _spill(tmp_path / "spill", []) is None
    assert not (tmp_path / "spill").exists()


def test_each_writer_writes_its_own_file(tmp_path: Path) -> None:
    a, b = _spill(tmp_path, [b"a"]), _spill(tmp_path, [b"b"])
    assert a is not None and b is not None and a.path != b.path
    assert list(read_spill(a)) == [b"a"] and list(read_spill(b)) == [b"b"]


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda data: data[:-3], "cut short"),  # the last frame loses its end
        (lambda data: data[: len(data) // 2 - 1], "ends after|cut short"),  # whole frames lost
        (lambda data: data + b"\x00", "more than"),  # something appended
    ],
)
def test_a_damaged_file_is_an_error_never_fewer_records(tmp_path: Path, damage: Any, message: str) -> None:
    spilled = _spill(tmp_path, [b"first frame", b"second frame"])
    assert spilled is not None
    path = Path(spilled.path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(SpillError, match=message):
        list(read_spill(spilled))


def test_a_missing_file_or_a_wrong_count_is_an_error(tmp_path: Path) -> None:
    spilled = _spill(tmp_path, [b"x", b"y"])
    assert spilled is not None
    with pytest.raises(SpillError, match="more than its 1 frames"):
        list(read_spill(SpillFile(spilled.path, 1)))
    with pytest.raises(SpillError, match="ends after 2 of 3"):
        list(read_spill(SpillFile(spilled.path, 3)))
    Path(spilled.path).unlink()
    with pytest.raises(SpillError, match="cannot be read"):
        list(read_spill(spilled))


# ---------------------------------------------------------------------------------- Beam steps


def _run(parts: list[list[int]], spill_dir: Path | None, out: Path) -> dict[str, Any]:
    """Numbers of ``parts`` (one PCollection each) through a DoFn with a side input and a tagged output,
    via spill_before; what comes out, and the run's Spill counters."""
    import apache_beam as beam
    from apache_beam import pvalue
    from apache_beam.runners.portability.fn_api_runner.fn_runner import FnApiRunner

    from feedflow.transforms.base import feedflow_counters, spill_before

    class LabelFn(beam.DoFn):
        """n → (n, label) with the labels as a side input; n divisible by 3 → the tagged output."""

        def __init__(self) -> None:
            self.started = 0

        def start_bundle(self) -> None:
            self.started += 1

        def process(self, n: int, labels: dict[int, str]) -> Any:
            assert self.started, "start_bundle was not passed on"
            if n % 3 == 0:
                yield pvalue.TaggedOutput("threes", n)
            else:
                yield n, labels.get(n, "-")

    def dump(name: str) -> Any:
        return lambda items: (out / f"{name}.json").write_text(json.dumps(sorted(items)), encoding="utf-8")

    out.mkdir(parents=True)
    pipeline = beam.Pipeline(runner=FnApiRunner())
    pcolls = [pipeline | f"Part{n}" >> beam.Create(part) for n, part in enumerate(parts)]
    labels = pipeline | "Labels" >> beam.Create([(1, "one"), (2, "two")])
    source, fn = spill_before(pcolls, "Label", str(spill_dir) if spill_dir else None, LabelFn())
    result = source | "Label" >> beam.ParDo(fn, pvalue.AsDict(labels)).with_outputs("threes", main="main")
    _ = result["main"] | "MainList" >> beam.combiners.ToList() | "MainOut" >> beam.Map(dump("main"))
    _ = result["threes"] | "ThreesList" >> beam.combiners.ToList() | "ThreesOut" >> beam.Map(dump("threes"))
    run = pipeline.run()
    run.wait_until_finish()
    found = {name: json.loads((out / f"{name}.json").read_text("utf-8")) for name in ("main", "threes")}
    found["counters"] = feedflow_counters(run)
    return found


def test_records_handed_through_spill_files_meet_the_step_as_without_them(tmp_path: Path) -> None:
    parts = [list(range(0, 50)), list(range(50, 80))]
    direct = _run(parts, None, tmp_path / "direct")
    spilled = _run(parts, tmp_path / "spill", tmp_path / "spilled")
    assert direct["main"] == [[n, {1: "one", 2: "two"}.get(n, "-")] for n in range(80) if n % 3]
    assert direct["threes"] == list(range(0, 80, 3))
    assert spilled["main"] == direct["main"] and spilled["threes"] == direct["threes"]
    # Each part was spilled where it was made: one file per part (one bundle each here), none without.
    files = sorted(tmp_path.joinpath("spill").glob("*.spill"))
    assert len(files) == 2 and spilled["counters"]["Spill.files"] == 2
    assert "Spill.files" not in direct["counters"]


def test_verify_reads_paired_signatures_from_spill_files_as_from_the_pairs(tmp_path: Path) -> None:
    """Near-duplicate verification's side input as spill files of ``(node, signature bytes)`` (batch)
    decides every candidate pair as the pairs themselves do; a signature in any of the files is found."""
    from feedflow.core.neardup import MinHasher, SigRecord, order_key, to_stored
    from feedflow.transforms.dedup import VerifyPairFn
    from feedflow.transforms.pickling import to_blob

    hasher = MinHasher()
    words = [
        "council",
        "budget",
        "vote",
        "year",
        "city",
        "mayor",
        "school",
        "road",
        "water",
        "park",
        "tax",
        "plan",
        "rail",
        "bus",
        "fire",
        "police",
    ]
    story = [" ".join(words[n:] + words[:n]) + "." for n in range(10)]  # digits would all fold to "0"
    bodies = {"a": story, "b": [*story[:-1], "A closing line of its own."], "c": ["Nothing alike at all here."] * 4}
    records = []
    for article_id, body in bodies.items():
        signature = hasher.signature(body)
        assert signature is not None
        records.append(SigRecord(article_id, order_key(article_id, None, new=True), to_stored(signature)))
    pairs = [(record.node, to_blob(record)) for record in records]
    files = [_spill(tmp_path, [to_blob(p) for p in pairs[:2]]), _spill(tmp_path, [to_blob(p) for p in pairs[2:]])]
    a, b, c = (record.node for record in records)
    candidates = [(b, a), (c, a), (c, b)]

    def edges(fn: VerifyPairFn, side: Any) -> list[Any]:
        found = [edge for pair in candidates for edge in fn.process(pair, side)]
        fn.finish_bundle()
        return found

    direct = edges(VerifyPairFn(0.7), pairs)
    assert [(edge.later[3], edge.earlier[3]) for edge in direct] == [("b", "a")]
    assert edges(VerifyPairFn(0.7, spilled=True), files) == direct


def test_attach_reads_mentions_from_spill_files(tmp_path: Path) -> None:
    """Entities attached from a side input of spill files of batches of ``(article_id, mentions)``: an article's
    mentions may be split across files, one with none is tagged with none, and an article in another
    language passes untagged."""
    import datetime

    from feedflow.config import NerConfig
    from feedflow.model import Article, Paragraph
    from feedflow.transforms.pickling import to_blob
    from feedflow.transforms.stages import MentionsFromSideInputFn

    def article(article_id: str, language: str) -> Article:
        return Article(
            article_id=article_id, input="in", locator="line 1", kind="json", url=f"https://x.example/{article_id}",
            source="x.example", feed_url=None, title="T", authors=(), published_at=None,
            fetched_at=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC), summary=None,
            paragraphs=(Paragraph(0, "Joe Biden met Angela Merkel in Berlin. Biden spoke.", 9, None, False),),
            content_hash="h", language=language,
        )  # fmt: skip

    pairs = [
        ("a", (("Joe Biden", "PERSON", 0), ("Angela Merkel", "PERSON", 14))),
        ("b", (("Berlin", "LOC", 31),)),
        ("a", (("Berlin", "LOC", 31), ("Biden", "PERSON", 39))),  # a's second piece, in the other file
    ]
    # TagPiecesFn's batches: a list of pairs per frame
    files = [_spill(tmp_path, [to_blob(pairs[:1]), to_blob(pairs[1:2])]), _spill(tmp_path, [to_blob(pairs[2:])])]
    fn = MentionsFromSideInputFn(NerConfig())
    found = [out for a in ("a", "b", "c") for out in fn.process(article(a, "en"), files)]
    found += list(fn.process(article("d", "de"), files))
    fn.finish_bundle()
    assert [(e.entity, e.label, e.mentions, e.first_offset) for e in found[0].entities] == [
        ("Joe Biden", "PERSON", 2, 0),
        ("Angela Merkel", "PERSON", 1, 14),
        ("Berlin", "LOC", 1, 31),
    ]
    assert [e.entity for e in found[1].entities] == ["Berlin"] and found[2].entities == ()
    assert [a.entities_tagged for a in found] == [True, True, True, False]


def test_chained_steps_wait_together_and_each_meets_its_own_side_input(tmp_path: Path) -> None:
    """ChainFn: each main output of a step is the next step's element, a tagged output leaves at once,
    and each step gets the side inputs it names; through spill files (one wait for both steps) as
    without them."""
    import apache_beam as beam
    from apache_beam import pvalue
    from apache_beam.runners.portability.fn_api_runner.fn_runner import FnApiRunner

    from feedflow.transforms.base import ChainFn, spill_before

    class ScaleFn(beam.DoFn):
        """n → n × factor[n % 2], and n itself to ``odd`` when odd."""

        def process(self, n: int, factors: dict[int, int]) -> Any:
            if n % 2:
                yield pvalue.TaggedOutput("odd", n)
            yield n * factors[n % 2]

    class LabelFn(beam.DoFn):
        """n → (n, label) for each label in the list, or none."""

        def process(self, n: int, labels: list[str]) -> Any:
            for label in labels:
                yield n, label

    def run(spill_dir: Path | None, out: Path) -> dict[str, Any]:
        out.mkdir(parents=True)
        pipeline = beam.Pipeline(runner=FnApiRunner())
        parts = [pipeline | f"Part{n}" >> beam.Create(part) for n, part in enumerate([[1, 2, 3], [4, 5]])]
        factors = pipeline | "Factors" >> beam.Create([(0, 10), (1, 100)])
        labels = pipeline | "Labels" >> beam.Create(["a", "b"])
        chain = ChainFn([(ScaleFn(), ("factors",)), (LabelFn(), ("labels",))])
        source, fn = spill_before(parts, "Chain", str(spill_dir) if spill_dir else None, chain)
        result = source | "Chain" >> beam.ParDo(
            fn, factors=pvalue.AsDict(factors), labels=pvalue.AsList(labels)
        ).with_outputs("odd", main="main")
        for name in ("main", "odd"):
            _ = (
                result[name]
                | f"{name}List" >> beam.combiners.ToList()
                | f"{name}Out" >> beam.Map(lambda items, name=name: (out / name).write_text(json.dumps(sorted(items))))
            )
        pipeline.run().wait_until_finish()
        return {name: json.loads((out / name).read_text()) for name in ("main", "odd")}

    direct = run(None, tmp_path / "direct")
    assert direct == {
        "main": sorted([n * (100 if n % 2 else 10), label] for n in range(1, 6) for label in "ab"),
        "odd": [1, 3, 5],
    }
    assert run(tmp_path / "spill", tmp_path / "spilled") == direct
    assert len(list((tmp_path / "spill").glob("*.spill"))) == 2  # one wait: one file per part


def test_a_chain_refuses_no_steps_and_a_step_that_emits_when_its_bundle_ends() -> None:
    import apache_beam as beam

    from feedflow.transforms.base import ChainFn

    class AtTheEndFn(beam.DoFn):
        def process(self, n: int) -> Any:
            yield n

        def finish_bundle(self) -> Any:
            yield "late"

    with pytest.raises(ValueError, match="at least one step"):
        ChainFn([])
    chain = ChainFn([(beam.DoFn(), ()), (AtTheEndFn(), ())])
    chain.start_bundle()
    with pytest.raises(TypeError, match="AtTheEndFn emits from finish_bundle"):
        list(chain.finish_bundle())
