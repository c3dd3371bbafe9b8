"""`feedflow eval`: span/class/overlap metrics on hand-built cases, seqeval equivalence, formats, the CLI."""

from __future__ import annotations

import gzip
import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedflow.cli import main
from feedflow.core.evaluation import (
    CONLL_LABEL_MAP,
    EvalFormatError,
    Span,
    class_of_code,
    join_tokens,
    offset_map,
    overlap_counts,
    prf,
    read_agnews,
    read_conll,
    read_jsonl_topics,
    read_masakhanews,
    score_classes,
    score_spans,
    spans_from_tags,
    token_spans,
)

# --------------------------------------------------------------------------------------------------
# Spans and their scores


def test_iob1_and_iob2_give_the_same_spans() -> None:
    # "EU rejects German call ... ; Peter Blackburn ; two adjacent LOCs" in both encodings.
    iob1 = ["I-ORG", "O", "I-MISC", "O", "I-PER", "I-PER", "I-LOC", "B-LOC", "I-LOC", "I-ORG"]
    iob2 = ["B-ORG", "O", "B-MISC", "O", "B-PER", "I-PER", "B-LOC", "B-LOC", "I-LOC", "B-ORG"]
    expected = (Span("ORG", 0, 1), Span("MISC", 2, 3), Span("PER", 4, 6), Span("LOC", 6, 7),
                Span("LOC", 7, 9), Span("ORG", 9, 10))  # fmt: skip
    assert spans_from_tags(iob1) == expected
    assert spans_from_tags(iob2) == expected


def test_iobes_and_stray_tags_chunk_like_conlleval() -> None:
    assert spans_from_tags(["S-PER", "B-ORG", "E-ORG", "E-ORG", "I-LOC", "I-PER"]) == (
        Span("PER", 0, 1), Span("ORG", 1, 3), Span("ORG", 3, 4), Span("LOC", 4, 5), Span("PER", 5, 6),
    )  # fmt: skip
    with pytest.raises(EvalFormatError):
        spans_from_tags(["B-PER", "X-PER"])


def test_strict_span_scores_by_hand() -> None:
    gold = [[Span("PER", 0, 2), Span("LOC", 3, 4)], [Span("ORG", 0, 1)]]
    # PER exact (hit), LOC with a wrong boundary (miss), ORG as MISC (miss), one spurious LOC.
    predicted = [[Span("PER", 0, 2), Span("LOC", 3, 5)], [Span("MISC", 0, 1), Span("LOC", 2, 3)]]
    scores = score_spans(gold, predicted)
    assert (scores.micro.correct, scores.micro.predicted, scores.micro.support) == (1, 4, 3)
    assert scores.micro.precision == pytest.approx(0.25)
    assert scores.micro.recall == pytest.approx(1 / 3)
    assert scores.micro.f1 == pytest.approx(2 * 0.25 * (1 / 3) / (0.25 + 1 / 3))
    assert [s.label for s in scores.labels] == ["LOC", "MISC", "ORG", "PER"]
    assert scores.label("PER").f1 == 1.0
    assert (scores.label("LOC").precision, scores.label("LOC").recall) == (0.0, 0.0)
    assert scores.label("ORG").support == 1 and scores.label("ORG").predicted == 0
    assert scores.label("XYZ").f1 == 0.0
    # The same span in another sentence is not a hit.
    assert score_spans([[Span("PER", 0, 1)], []], [[], [Span("PER", 0, 1)]]).micro.correct == 0


def test_prf_never_divides_by_zero() -> None:
    assert prf(0, 0, 0) == (0.0, 0.0, 0.0)
    assert prf(0, 3, 0) == (0.0, 0.0, 0.0)
    assert prf(2, 4, 2) == pytest.approx((0.5, 1.0, 2 / 3))


TYPES = ("PER", "ORG", "LOC")
TAGS = ["O"] + [f"{p}-{t}" for p in "BIES" for t in TYPES]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(TAGS), max_size=12), min_size=1, max_size=6).flatmap(
        lambda gold: st.tuples(
            st.just(gold),
            st.tuples(*[st.lists(st.sampled_from(TAGS), min_size=len(s), max_size=len(s)) for s in gold]),
        )
    )
)
def test_span_scores_equal_seqeval(case: tuple[list[list[str]], tuple[list[str], ...]]) -> None:
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
    from seqeval.metrics.sequence_labeling import get_entities

    gold, pred_tuple = case
    pred = [list(s) for s in pred_tuple]
    for sentence in gold:
        assert [(s.label, s.start, s.end - 1) for s in spans_from_tags(sentence)] == get_entities(sentence)
    ours = score_spans([spans_from_tags(s) for s in gold], [spans_from_tags(s) for s in pred])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns (and answers 0) where a denominator is 0
        assert ours.micro.precision == pytest.approx(precision_score(gold, pred))
        assert ours.micro.recall == pytest.approx(recall_score(gold, pred))
        assert ours.micro.f1 == pytest.approx(f1_score(gold, pred))
        report = classification_report(gold, pred, output_dict=True)
    for score in ours.labels:
        theirs = report[score.label]
        assert (score.precision, score.recall, score.f1) == pytest.approx(
            (theirs["precision"], theirs["recall"], theirs["f1-score"])
        )
        assert score.support == theirs["support"]


def _iob1(spans: list[tuple[str, int, int]], length: int) -> list[str]:
    tags = ["O"] * length
    previous: tuple[str, int] | None = None  # (label, end) of the last chunk
    for label, start, end in spans:
        for i in range(start, end):
            tags[i] = f"I-{label}"
        if previous == (label, start):
            tags[start] = f"B-{label}"
        previous = (label, end)
    return tags


def _iob2(spans: list[tuple[str, int, int]], length: int) -> list[str]:
    tags = ["O"] * length
    for label, start, end in spans:
        tags[start:end] = [f"B-{label}"] + [f"I-{label}"] * (end - start - 1)
    return tags


@st.composite
def _span_layouts(draw: st.DrawFn) -> tuple[list[tuple[str, int, int]], int]:
    pieces = draw(st.lists(st.tuples(st.sampled_from([None, *TYPES]), st.integers(1, 3)), max_size=10))
    spans, position = [], 0
    for label, width in pieces:
        if label is not None:
            spans.append((label, position, position + width))
        position += width
    return spans, position


@given(_span_layouts())
def test_iob1_iob2_equivalence_on_any_layout(layout: tuple[list[tuple[str, int, int]], int]) -> None:
    spans, length = layout
    expected = tuple(Span(*s) for s in spans)
    assert spans_from_tags(_iob1(spans, length)) == expected
    assert spans_from_tags(_iob2(spans, length)) == expected


# --------------------------------------------------------------------------------------------------
# CoNLL reading and alignment

CONLL = (
    "-DOCSTART- -X- O O\r\n\r\n"
    "EU NNP I-NP I-ORG\r\nrejects VBZ I-VP O\r\nGerman JJ I-NP I-MISC\r\ncall NN I-NP O\r\n"
    "to TO I-VP O\r\nboycott VB I-VP O\r\nBritish JJ I-NP I-MISC\r\nlamb NN I-NP O\r\n. . O O\r\n\r\n"
    "Peter NNP I-NP I-PER\r\nBlackburn NNP I-NP I-PER\r\n\r\n"
    "-DOCSTART- -X- O O\r\n\r\n"
    "BRUSSELS NNP I-NP I-LOC\r\n1996-08-22 CD I-NP O\r\n\r\n"
    "the DT I-NP O\r\nWhite NNP I-NP I-LOC\r\nHouse NNP I-NP I-LOC\r\nsaid VBD I-VP O\r\n\r\n"
    "- : O O\r\nLehman NNP I-NP I-ORG\r\nsaid VBD I-VP O\r\n"
)


def test_read_conll_documents_sentences_and_tags() -> None:
    documents = read_conll(CONLL)
    assert [len(d.sentences) for d in documents] == [2, 3]
    first = documents[0].sentences[0]
    assert first.tokens[:3] == ("EU", "rejects", "German")
    assert first.spans == (Span("ORG", 0, 1), Span("MISC", 2, 3), Span("MISC", 6, 7))
    assert sum(len(s.spans) for d in documents for s in d.sentences) == 7


def test_read_conll_names_the_bad_line() -> None:
    with pytest.raises(EvalFormatError, match="line 3"):
        read_conll("EU I-ORG\nsaid O\nX Y-ORG\n")
    with pytest.raises(EvalFormatError, match="line 2"):
        read_conll("EU I-ORG\nlonely\n")


def test_cleaned_offsets_map_back_to_gold_tokens() -> None:
    text, offsets = join_tokens(["-", "Lehman", "said"])
    assert text == "- Lehman said" and offsets == ((0, 1), (2, 8), (9, 13))
    mapping = offset_map(text, "Lehman said")  # cleaning stripped the leading list marker
    assert mapping[0] == 2 and mapping[-1] == 12
    assert offset_map("abc", "abc") == [0, 1, 2]
    # A span inside a token covers that token; overlapping spans: the first found wins.
    assert token_spans(offsets, [("ORG", 3, 5)]) == (Span("ORG", 1, 2),)
    assert token_spans(offsets, [("ORG", 2, 13), ("PER", 9, 13)]) == (Span("ORG", 1, 3),)
    assert token_spans(offsets, [("ORG", 1, 2)]) == ()  # only the space between tokens


def test_label_mapping_is_the_documented_one() -> None:
    expected = {"PERSON": "PER", "ORG": "ORG", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC", "NORP": "MISC",
                "EVENT": "MISC", "PRODUCT": "MISC", "WORK_OF_ART": "MISC", "LAW": "MISC", "LANGUAGE": "MISC",
                "MISC": "MISC"}  # fmt: skip
    assert {k: CONLL_LABEL_MAP[k] for k in expected} == expected
    assert "DATE" not in CONLL_LABEL_MAP and "CARDINAL" not in CONLL_LABEL_MAP


# --------------------------------------------------------------------------------------------------
# Topics and extraction metrics


def test_class_scores_by_hand() -> None:
    pairs = [("A", "A"), ("A", "B"), ("A", "(none)"), ("B", "B"), ("B", "A")]
    scores = score_classes(pairs)
    assert (scores.total, scores.correct) == (5, 2)
    assert scores.accuracy == pytest.approx(0.4)
    a, b = scores.classes
    assert (a.label, a.precision, a.recall) == ("A", 0.5, pytest.approx(1 / 3))
    assert (b.label, b.precision, b.recall) == ("B", 0.5, 0.5)
    assert scores.macro_f1 == pytest.approx((0.4 + 0.5) / 2)
    assert scores.confusion == {"A": {"A": 1, "B": 1, "(none)": 1}, "B": {"B": 1, "A": 1}}


def test_code_to_class() -> None:
    from feedflow.core.evaluation import AGNEWS_IPTC, MASAKHANEWS_IPTC

    assert class_of_code("medtop:16000000", AGNEWS_IPTC) == "World"
    assert class_of_code("medtop:15000000", AGNEWS_IPTC) == "Sports"
    assert class_of_code("medtop:01000000", AGNEWS_IPTC) == "(other)"
    assert class_of_code(None, AGNEWS_IPTC) == "(none)"
    assert class_of_code("medtop:07000000", MASAKHANEWS_IPTC) == "health"
    assert class_of_code("medtop:07000000", None) == "medtop:07000000"


def test_topic_formats() -> None:
    ag = list(read_agnews('label,title,description\n3,Oil #36;50,"Prices rose.\\Stocks fell."\n'))
    assert ag[0].label == "Business" and ag[0].title == "Oil $50"
    assert ag[0].paragraphs == ("Prices rose.", "Stocks fell.")
    with pytest.raises(EvalFormatError, match="row 1"):
        list(read_agnews("7,Title,Text\n"))
    tsv = 'category\theadline\ttext\turl\nhealth\tFlu\t"Line one.\nLine two."\thttp://x\n'
    (item,) = read_masakhanews(tsv)
    assert (item.label, item.title, item.paragraphs) == ("health", "Flu", ("Line one.", "Line two."))
    with pytest.raises(EvalFormatError, match="category"):
        list(read_masakhanews("headline\ttext\nA\tB\n"))
    with pytest.raises(EvalFormatError, match="unknown category"):
        list(read_masakhanews("category\theadline\ttext\nfood\tA\tB\n"))
    (j,) = read_jsonl_topics('{"title": "T", "text": "x", "label": "15000000"}\n\n')
    assert j.label == "medtop:15000000"
    with pytest.raises(EvalFormatError, match="line 1"):
        list(read_jsonl_topics('{"title": "T"}\n'))


def test_overlap_counts_are_multisets_of_folded_words() -> None:
    assert overlap_counts("The cat, the hat.", "the cat sat") == (2, 4, 3)
    assert prf(*overlap_counts("", "gold words")) == (0.0, 0.0, 0.0)


# --------------------------------------------------------------------------------------------------
# The command, end to end on files written here


@pytest.fixture(scope="module")
def ruler_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A spaCy pipeline folder whose "ner" is a rule-based matcher: known, fixed predictions."""
    import spacy

    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler", name="ner")
    ruler.add_patterns([
        {"label": "ORG", "pattern": "EU"},
        {"label": "NORP", "pattern": "German"},
        {"label": "PRODUCT", "pattern": "lamb"},  # spurious MISC
        {"label": "PERSON", "pattern": "Peter Blackburn"},
        {"label": "ORG", "pattern": "BRUSSELS"},  # wrong label (gold LOC)
        {"label": "FAC", "pattern": [{"LOWER": "the"}, {"TEXT": "White"}, {"TEXT": "House"}]},  # "the" trimmed
        {"label": "ORG", "pattern": "Lehman"},  # after a list marker that cleaning strips
        {"label": "DATE", "pattern": "1996-08-22"},  # not a CoNLL entity: dropped
    ])  # fmt: skip
    path = tmp_path_factory.mktemp("model") / "ruler-en"
    nlp.to_disk(path)
    return path


def test_cli_eval_ner_json(tmp_path: Path, ruler_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conll = tmp_path / "tiny.conll"
    conll.write_text(CONLL, encoding="utf-8")
    assert main(["eval", "ner", str(conll), "--model", str(ruler_model), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # gold: EU, German, British, Peter Blackburn, BRUSSELS, White House, Lehman (7)
    # predicted: EU, German, lamb, Peter Blackburn, BRUSSELS (as ORG), White House, Lehman (7); 5 right
    micro = out["scores"]["micro"]
    assert (micro["correct"], micro["predicted"], micro["support"]) == (5, 7, 7)
    labels = {s["label"]: s for s in out["scores"]["labels"]}
    assert (labels["ORG"]["correct"], labels["ORG"]["predicted"], labels["ORG"]["support"]) == (2, 3, 2)
    assert (labels["LOC"]["correct"], labels["LOC"]["predicted"], labels["LOC"]["support"]) == (1, 1, 2)
    assert (labels["MISC"]["correct"], labels["MISC"]["predicted"]) == (1, 2)
    assert out["figures"]["micro_f1"] == pytest.approx(5 / 7)
    assert (out["sentences"], out["documents"], out["words"]) == (5, 2, 20)
    assert out["figures"]["words_per_s"] > 0


def test_cli_eval_ner_table_and_limit(tmp_path: Path, ruler_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conll = tmp_path / "tiny.conll"
    conll.write_text(CONLL, encoding="utf-8")
    assert main(["eval", "ner", str(conll), "--model", str(ruler_model), "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "2 sentences" in out and "words/s" in out
    micro = next(line for line in out.splitlines() if line.startswith("micro"))
    assert micro.split()[1:4] == ["0.7500", "0.7500", "0.7500"]  # EU, German, Peter Blackburn of 4


def test_cli_eval_errors(tmp_path: Path, ruler_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "ner", str(tmp_path / "missing.conll")]) == 2
    bad = tmp_path / "bad.conll"
    bad.write_text("EU Z-ORG\n", encoding="utf-8")
    assert main(["eval", "ner", str(bad), "--model", str(ruler_model)]) == 2
    assert "line 1" in capsys.readouterr().err
    good = tmp_path / "good.conll"
    good.write_text("EU I-ORG\n", encoding="utf-8")
    assert main(["eval", "ner", str(good), "--model", str(tmp_path / "no-model")]) == 2
    assert "not installed" in capsys.readouterr().err


SPORTS = ("Manchester United striker Marcus Rashford scored twice in the second half as his side beat Liverpool "
          "3-1 at Old Trafford, moving up in the Premier League table. The goalkeeper made three saves.")  # fmt: skip


def test_cli_eval_topics_jsonl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "labelled.jsonl"
    rows = [
        {"title": "United beat Liverpool", "text": SPORTS, "label": "15000000"},
        {"title": "United beat Liverpool", "text": SPORTS, "label": "medtop:04000000"},  # deliberately wrong
        {"title": "", "text": "Advertisement", "label": "15000000"},  # empty after cleaning: no topic
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    assert main(["eval", "topics", str(data), "--format", "jsonl", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rejected"] == 1
    assert out["scores"]["total"] == 3 and out["scores"]["correct"] == 1
    assert out["scores"]["confusion"]["medtop:15000000"] == {"medtop:15000000": 1, "(none)": 1}
    assert out["figures"]["accuracy"] == pytest.approx(1 / 3)


ARTICLE = [
    "The city council voted on Tuesday to approve a new budget for the coming year after months of debate.",
    "Council members said the plan would fund road repairs, new school buildings and longer library hours.",
    "Opponents argued that the budget relied on optimistic revenue forecasts and would raise property taxes.",
    "The mayor is expected to sign the budget next week, and the first projects could begin in the spring.",
]


def test_cli_eval_extract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "html").mkdir()
    body = "".join(f"<p>{p}</p>" for p in ARTICLE)
    page = (f"<html><head><title>Council approves budget</title></head><body><nav><a href='/'>Home</a>"
            f"<a href='/news'>News</a></nav><article><h1>Council approves budget</h1>{body}</article>"
            f"<footer>Copyright 2024 Example News. All rights reserved.</footer></body></html>")  # fmt: skip
    (tmp_path / "html" / "good.html.gz").write_bytes(gzip.compress(page.encode()))
    (tmp_path / "html" / "empty.html").write_text("<html><body><nav>Home</nav></body></html>", encoding="utf-8")
    truth = {"good": {"articleBody": "\n".join(ARTICLE), "url": "https://example.com/a"},
             "empty": {"articleBody": "Some gold text that the page does not have.", "url": "https://x/b"}}  # fmt: skip
    (tmp_path / "ground-truth.json").write_text(json.dumps(truth), encoding="utf-8")
    assert main(["eval", "extract", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    pages = {p["page"]: p for p in out["pages"]}
    assert out["rejected"] == 1 and pages["empty"]["f1"] == 0.0
    assert pages["good"]["recall"] == 1.0 and pages["good"]["precision"] > 0.9
    assert out["figures"]["mean_f1"] == pytest.approx((pages["good"]["f1"] + 0.0) / 2)


# --------------------------------------------------------------------------------------------------
# The shared data: the readers agree with the datasets' documented sizes


@pytest.mark.shared_data
def test_shared_conll_testa_reads_as_documented(eval_data: Path) -> None:
    documents = read_conll((eval_data / "conll2003" / "eng.testa").read_text(encoding="utf-8"))
    sentences = [s for d in documents for s in d.sentences]
    assert len(sentences) == 3250  # ../shared/data/README.md: 3,250 sentences, 5,942 entities
    assert sum(len(s.spans) for s in sentences) == 5942


@pytest.mark.shared_data
def test_shared_topic_sets_read_as_documented(eval_data: Path) -> None:
    from collections import Counter

    ag = Counter(t.label for t in read_agnews((eval_data / "ag_news" / "test.csv").read_text(encoding="utf-8")))
    assert ag == {"World": 1900, "Sports": 1900, "Business": 1900, "Sci/Tech": 1900}
    topics = eval_data / "topics"
    dev = list(read_masakhanews((topics / "masakhanews_eng_dev.tsv").read_text(encoding="utf-8")))
    test = list(read_masakhanews((topics / "masakhanews_eng_test.tsv").read_text(encoding="utf-8")))
    assert (len(dev), len(test)) == (472, 948)
    labels = (topics / "masakhanews_eng_labels.txt").read_text(encoding="utf-8").split()
    assert {t.label for t in dev + test} == set(labels)


# --------------------------------------------------------------------------------------------------
# The quality gate (benchmarks/eval_gate.py)


def _gate_module() -> Any:
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "eval_gate.py"
    spec = importlib.util.spec_from_file_location("eval_gate", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gate_skips_without_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FEEDFLOW_EVAL_DATA", str(tmp_path / "absent"))
    gate = _gate_module()
    assert gate.main(["--out", str(tmp_path / "gate.json")]) == 0
    assert f"skipped: no data at {tmp_path / 'absent'}" in capsys.readouterr().out
    assert not (tmp_path / "gate.json").exists()


def test_gate_fails_below_a_floor_and_writes_its_record(
    tmp_path: Path, ruler_model: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    (data / "conll2003").mkdir(parents=True)
    (data / "conll2003" / "eng.testa").write_text(CONLL, encoding="utf-8")
    monkeypatch.setenv("FEEDFLOW_EVAL_DATA", str(data))
    floors = tmp_path / "floors.json"
    reason = {"reason": "test"}
    floors.write_text(json.dumps({"floors": {"ner.micro_f1": {"floor": 0.7, **reason},
                                             "ner.ORG_f1": {"floor": 0.9, **reason}}}))  # fmt: skip
    out = tmp_path / "gate.json"
    gate = _gate_module()
    args = ["--only", "ner", "--ner-model", str(ruler_model), "--floors", str(floors), "--out", str(out)]
    assert gate.main(args) == 1
    table = capsys.readouterr().out
    assert "| ner.micro_f1 | 0.7143 | 0.7000 | ok |" in table  # 5 of 7 right
    assert "| ner.ORG_f1 | 0.8000 | 0.9000 | **BELOW FLOOR** |" in table  # P 2/3, R 2/2
    record = json.loads(out.read_text())
    assert record["passed"] is False
    assert {r["figure"]: r["ok"] for r in record["rows"]}["ner.ORG_f1"] is False
    floors.write_text(json.dumps({"floors": {"ner.micro_f1": {"floor": 0.7, **reason}}}))
    assert gate.main(args) == 0
    # An evaluation that cannot run (here: no article-extraction folder) fails the gate.
    assert gate.main([*args[2:], "--only", "ner,extract"]) == 1
    assert "extract" in json.loads(out.read_text())["evaluations"]["extract"]["error"]
