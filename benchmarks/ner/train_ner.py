"""Train feedflow's English news NER (`make train-ner`): reproducible, offline, CPU-only.

Steps, each logged:

1. Convert CoNLL-2003 ``eng.train`` (training) and ``eng.testa`` (model selection only) from
   ``FEEDFLOW_EVAL_DATA`` (default ``../shared/data``) to spaCy DocBin files in ``build/ner/``.
   The text is re-tokenised by spaCy's English tokenizer (as the pipeline's text is: CoNLL keeps
   "France-Presse" whole, spaCy does not), and CoNLL's IOB1 tags become entity spans over it; labels
   PER → PERSON, ORG, LOC, MISC. Each CoNLL document
   (``-DOCSTART-``) is cut into docs of at most ``--sentences`` sentences (a paragraph-sized unit, as
   the pipeline tags one paragraph at a time).
2. ``spacy train benchmarks/ner/config.cfg``: en_core_web_sm's ``ner`` component (its own tok2vec,
   pre-trained on OntoNotes) fine-tuned on eng.train, with case augmentation (10% of examples
   upper-cased, 5% lower-cased: CoNLL headlines are ALL CAPS and feeds are not), fixed seed 0.
   One run per seed (``--seeds``, default 0, 1 and 2), then the element-wise mean of their weights (a
   "model soup": runs fine-tuned from the same start can be averaged).
3. The best of the runs and their average (by entity F1 on eng.testa) keeps only the actions of the
   four output labels (:func:`keep_only_output_labels`) and is copied to ``--out`` (default
   ``src/feedflow/data/ner-en``), the pipeline folder feedflow loads by default, with a meta.json that
   records the data, labels and scores.

Nothing is downloaded: the base model is the pinned package from constraints.txt.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import spacy
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example

ROOT = Path(__file__).resolve().parents[2]
LABELS = {"PER": "PERSON", "ORG": "ORG", "LOC": "LOC", "MISC": "MISC"}
OUTPUT_LABELS = frozenset(LABELS.values())
log = logging.getLogger("train-ner")


@spacy.registry.augmenters("feedflow.case_variants.v1")
def case_variants(upper: float, lower: float):  # type: ignore[no-untyped-def]
    """Yield each example as is, or (with the given probabilities) wholly upper- or lower-cased."""

    def augment(nlp, example: Example) -> Iterator[Example]:  # type: ignore[no-untyped-def]
        draw = random.random()
        if draw >= upper + lower:
            yield example
            return
        change = str.upper if draw < upper else str.lower
        data = example.to_dict()
        doc = nlp.make_doc(change(example.text))
        data["token_annotation"]["ORTH"] = [change(t.text) for t in example.reference]
        yield example.from_dict(doc, data)

    return augment


def read_conll(path: Path) -> Iterator[list[list[tuple[str, str]]]]:
    """Yield documents as lists of sentences of (token, IOB tag); handles CRLF and IOB1/IOB2."""
    doc: list[list[tuple[str, str]]] = []
    sentence: list[tuple[str, str]] = []
    with path.open(encoding="utf-8") as fh:
        for raw in fh:
            line = raw.rstrip("\r\n")
            if line.startswith("-DOCSTART-"):
                if sentence:
                    doc.append(sentence)
                    sentence = []
                if doc:
                    yield doc
                doc = []
                continue
            if not line.strip():
                if sentence:
                    doc.append(sentence)
                    sentence = []
                continue
            parts = line.split()
            sentence.append((parts[0], parts[-1]))
    if sentence:
        doc.append(sentence)
    if doc:
        yield doc


def to_doc(nlp: spacy.Language, sentences: list[list[tuple[str, str]]]) -> Doc:
    """One Doc of consecutive sentences, re-tokenised by spaCy's tokenizer as the pipeline's text is.

    CoNLL keeps hyphenated words whole ("France-Presse"); spaCy splits them, so a model trained on
    CoNLL's tokens breaks "Agence France-Presse" at the hyphen. Entities (IOB1 or IOB2, never across
    sentences) become character spans over the space-joined text, expanded to spaCy's tokens.
    """
    words = [token for sentence in sentences for token, _ in sentence]
    tags = [tag for sentence in sentences for _, tag in sentence]
    starts, position = [], 0
    for word in words:
        starts.append(position)
        position += len(word) + 1
    doc = nlp.make_doc(" ".join(words))
    boundaries = _sentence_ends(sentences)
    token_spans: list[tuple[int, int, str]] = []
    begin: int | None = None
    label = ""
    for i, tag in enumerate(tags):
        prefix, _, kind = tag.partition("-")
        if begin is not None and (tag == "O" or prefix == "B" or kind != label or i in boundaries):
            token_spans.append((begin, i, label))
            begin = None
        if tag != "O" and begin is None:
            begin, label = i, kind
    if begin is not None:
        token_spans.append((begin, len(tags), label))
    spans: list[Span] = []
    for first, last, kind in token_spans:
        span = doc.char_span(
            starts[first], starts[last - 1] + len(words[last - 1]), label=LABELS[kind], alignment_mode="expand"
        )
        if span is not None and (not spans or span.start >= spans[-1].end):
            spans.append(span)
    doc.ents = spans
    return doc


def _sentence_ends(sentences: list[list[tuple[str, str]]]) -> set[int]:
    ends, total = set(), 0
    for sentence in sentences:
        total += len(sentence)
        ends.add(total)
    return ends


def convert(nlp: spacy.Language, source: Path, target: Path, per_doc: int) -> tuple[int, int, int]:
    bin_ = DocBin(store_user_data=False)
    docs = tokens = ents = 0
    for document in read_conll(source):
        for i in range(0, len(document), per_doc):
            doc = to_doc(nlp, document[i : i + per_doc])
            bin_.add(doc)
            docs += 1
            tokens += len(doc)
            ents += len(doc.ents)
    target.parent.mkdir(parents=True, exist_ok=True)
    bin_.to_disk(target)
    return docs, tokens, ents


def train_one(work: Path, seed: int, epochs: int | None) -> Path:
    """Train with one seed; return the folder of the best model on eng.testa."""
    from spacy.cli.train import train

    overrides: dict[str, object] = {
        "paths.train": str(work / "train.spacy"),
        "paths.dev": str(work / "dev.spacy"),
        "system.seed": seed,
    }
    if epochs:
        overrides["training.max_epochs"] = epochs
    started = time.monotonic()
    train(Path(__file__).with_name("config.cfg"), work / f"seed-{seed}", overrides=overrides)
    log.info("seed %d: training took %.0f s", seed, time.monotonic() - started)
    return work / f"seed-{seed}" / "model-best"


def average_weights(models: list[Path], target: Path) -> None:
    """A "model soup": the element-wise mean of the ner weights of runs fine-tuned from the same start.

    Runs that share their initial weights (here: en_core_web_sm's ner) stay in one basin, so their mean
    is a model too, usually a better one than each; architectures and labels must be identical.
    """
    nlps = [spacy.load(path) for path in models]
    walks = [list(nlp.get_pipe("ner").model.walk()) for nlp in nlps]
    if len({len(walk) for walk in walks}) != 1 or len({tuple(nlp.get_pipe("ner").labels) for nlp in nlps}) != 1:
        raise SystemExit("cannot average: the models differ in structure or labels")
    for nodes in zip(*walks, strict=True):
        first = nodes[0]
        for name in first.param_names:
            if all(node.has_param(name) for node in nodes):
                first.set_param(name, sum(node.get_param(name) for node in nodes) / len(nodes))
    if target.exists():
        shutil.rmtree(target)
    nlps[0].to_disk(target)


def keep_only_output_labels(model: Path, target: Path) -> None:
    """Drop the transition actions of labels feedflow does not output (OntoNotes' DATE, CARDINAL…).

    The sourced ner keeps all 18 OntoNotes labels (74 actions + MISC's); fine-tuning on CoNLL silences
    them, but every parsing step still scores and validates each action. Keeping PERSON/ORG/LOC/MISC
    (18 actions) leaves the predictions unchanged and makes tagging faster than the base model.
    """
    from spacy.ml.models.parser import _define_upper  # the layer spaCy itself builds when it resizes
    from spacy.pipeline._parser_internals.ner import BiluoPushDown

    nlp = spacy.load(model)
    ner = nlp.get_pipe("ner")
    old = ner.moves
    old_names = [old.get_class_name(i) for i in range(old.n_moves)]
    kept = {action: {label: n for label, n in labels.items() if label in OUTPUT_LABELS or not label}
            for action, labels in old.labels.items()}  # fmt: skip
    moves = BiluoPushDown(nlp.vocab.strings, kept)
    rows = [old_names.index(moves.get_class_name(i)) for i in range(moves.n_moves)]
    upper = ner.model.get_ref("upper")
    smaller = _define_upper(nO=len(rows), nI=upper.get_dim("nI"))
    smaller.set_param("W", upper.get_param("W")[rows].copy())
    smaller.set_param("b", upper.get_param("b")[rows].copy())
    ner.model._layers[-1] = smaller  # as spacy.ml.models.parser._resize_upper replaces it
    ner.model.set_ref("upper", smaller)
    ner.model.attrs["unseen_classes"] = set()
    if target.exists():
        shutil.rmtree(target)
    nlp.to_disk(target)
    moves.to_disk(target / "ner" / "moves", exclude=["strings"])  # ner.moves cannot be reassigned
    log.info("kept %d of %d actions (labels %s)", moves.n_moves, old.n_moves, sorted(OUTPUT_LABELS))


def dev_score(model: Path, dev: Path) -> float:
    """Entity F1 on the dev DocBin (spaCy's scorer: the figure `spacy train` selects with)."""
    nlp = spacy.load(model)
    examples = [Example(nlp.make_doc(doc.text), doc) for doc in DocBin().from_disk(dev).get_docs(nlp.vocab)]
    return float(nlp.evaluate(examples)["ents_f"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = os.environ.get("FEEDFLOW_EVAL_DATA", str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--data", default=default_data, help="folder holding conll2003/eng.train, eng.testa")
    parser.add_argument("--work", default=str(ROOT / "build" / "ner"), help="scratch folder")
    parser.add_argument("--out", default=str(ROOT / "src" / "feedflow" / "data" / "ner-en"))
    parser.add_argument("--sentences", type=int, default=8, help="sentences per training doc")
    parser.add_argument("--epochs", type=int, default=None, help="override training.max_epochs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="one run per seed, then averaged")
    parser.add_argument("--reuse", action="store_true", help="reuse finished runs found in --work")
    ns = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    conll = Path(ns.data) / "conll2003"
    if not (conll / "eng.train").is_file():
        log.error("no CoNLL-2003 data at %s (set FEEDFLOW_EVAL_DATA)", conll)
        return 2
    work = Path(ns.work)
    blank = spacy.blank("en")
    for name, file in (("train", "eng.train"), ("dev", "eng.testa")):
        docs, tokens, ents = convert(blank, conll / file, work / f"{name}.spacy", ns.sentences)
        log.info("%s: %s → %d docs, %d tokens, %d entities", name, file, docs, tokens, ents)

    runs = []
    for seed in ns.seeds:
        best = work / f"seed-{seed}" / "model-best"
        runs.append(best if ns.reuse and (best / "meta.json").is_file() else train_one(work, seed, ns.epochs))
    candidates = {f"seed {seed}": run for seed, run in zip(ns.seeds, runs, strict=True)}
    if len(runs) > 1:
        average_weights(runs, work / "averaged")
        candidates["average of seeds"] = work / "averaged"
    scores = {name: dev_score(path, work / "dev.spacy") for name, path in candidates.items()}
    for name, score in scores.items():
        log.info("eng.testa entity F1, %s: %.4f", name, score)
    chosen = max(scores, key=lambda name: scores[name])
    log.info("chosen: %s", chosen)
    best = work / "final"
    keep_only_output_labels(candidates[chosen], best)
    scores["final (output labels only)"] = dev_score(best, work / "dev.spacy")
    log.info("eng.testa entity F1, final: %.4f", scores["final (output labels only)"])

    meta = json.loads((best / "meta.json").read_text())
    meta.update(
        name="feedflow_ner_en",
        version="1.0.0",
        description="feedflow English news NER: en_core_web_sm's ner fine-tuned on CoNLL-2003 eng.train "
        f"(PERSON, ORG, LOC, MISC), {chosen} (seeds {ns.seeds}). Built by `make train-ner`.",
        license="MIT (base model en_core_web_sm, MIT); trained on CoNLL-2003 annotations",
        sources=[{"name": "en_core_web_sm 3.8.0 (ner component)", "license": "MIT"},
                 {"name": "CoNLL-2003 eng.train (Reuters RCV1 annotations)", "license": "research use"}],
        feedflow_selection={name: round(score, 4) for name, score in scores.items()},
    )  # fmt: skip
    (best / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    out = Path(ns.out)
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(best, out)
    log.info("model written to %s (eng.testa entity F1 %.4f)", out, scores["final (output labels only)"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
