# feedflow — two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check
OUT    ?= data
STAMP_RUN  := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: run test lint typecheck clean distclean test-browser report-screenshot eval-dedup bench-dedup

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (feedflow needs Python 3.11 or 3.12; set PYTHON=...)"; exit 2; }
	$(PYTHON) -m venv $(VENV)

# The spaCy model is installed from constraints.txt with its sha256 checked, then the project.
$(STAMP_RUN): $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install -q --no-deps --require-hashes -r constraints.txt
	$(PIP) install -q -e .
	@touch $@

$(STAMP_TEST): $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install -q --no-deps --require-hashes -r constraints.txt
	$(PIP) install -q -e '.[test]'
	@touch $@ $(STAMP_RUN)

## make run: the batch pipeline over seeds/ into ./data, then an example query.
run: $(STAMP_RUN)
	$(BIN)/feedflow run seeds/harris_border.txt seeds/sample-feed.xml seeds/feeds.opml --output $(OUT)
	$(BIN)/feedflow query $(OUT) "SELECT entity, label, sum(mentions) AS mentions, count(*) AS articles FROM entities GROUP BY ALL ORDER BY mentions DESC, entity LIMIT 10"

## make test: lint, types, then the whole pytest suite.
test: $(STAMP_TEST) lint typecheck
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests: the suite is broken" >&2; exit 1; fi; exit $$rc

lint: $(STAMP_TEST)
	$(BIN)/ruff check src pipelines tests benchmarks

typecheck: $(STAMP_TEST)
	$(BIN)/mypy

# Headless Chromium from Debian (never a browser download): installed only when missing.
CHROMIUM ?= chromium
SUDO     ?= $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CHROMIUM_FLAGS := --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
                  --disable-component-update --disable-sync
# A mouse-like pointer for the screenshot: without one, plotly.js pins every chart's toolbar on screen.
SCREENSHOT_POINTER := --blink-settings=primaryHoverType=2,availableHoverTypes=2,primaryPointerType=4,availablePointerTypes=4
define need_chromium
	@command -v $(CHROMIUM) >/dev/null 2>&1 || { $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }
endef

## make test-browser: a report opened in headless Chromium (offline, file://); fails instead of skipping.
test-browser: $(STAMP_TEST)
	$(need_chromium)
	FEEDFLOW_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -m browser tests/test_report.py $(PYTEST_ARGS)

## make report-screenshot: the seed dataset, its report (build/report.html) and docs/report.png.
REPORT_DATA := build/report-seed
report-screenshot: $(STAMP_RUN)
	$(need_chromium)
	rm -rf $(REPORT_DATA) && mkdir -p build docs
	$(BIN)/feedflow run seeds/harris_border.txt seeds/sample-feed.xml seeds/feeds.opml --output $(REPORT_DATA)
	$(BIN)/feedflow report $(REPORT_DATA) --out build/report.html --since 2024-04-01 --until 2024-04-30
	profile=$$(mktemp -d) && trap 'rm -rf "$$profile"' EXIT && \
	$(CHROMIUM) $(CHROMIUM_FLAGS) --user-data-dir="$$profile" $(SCREENSHOT_POINTER) --hide-scrollbars --window-size=1280,2400 \
	  --virtual-time-budget=10000 --screenshot="$(CURDIR)/docs/report.png" "file://$(CURDIR)/build/report.html"

## make eval-dedup: precision/recall of boilerplate removal and near-duplicate detection on the shared
## data (FEEDFLOW_EVAL_DATA, default ../shared/data; skipped with a reason when absent).
eval-dedup: $(STAMP_RUN)
	$(BIN)/python benchmarks/dedup_eval.py $(EVAL_ARGS)

## make bench-dedup: 50k articles recombined from real text through the pipeline: time and peak RSS.
bench-dedup: $(STAMP_RUN)
	$(BIN)/python benchmarks/dedup_bench.py --baseline $(BENCH_ARGS)

clean:
	rm -rf $(OUT) .pytest_cache .mypy_cache .ruff_cache

distclean: clean
	rm -rf $(VENV)

# The quality gate (issue 6): every `feedflow eval` on the shared data against benchmarks/eval_floors.json.
.PHONY: eval

## make eval: NER (CoNLL-2003 eng.testa), topics (AG News, MasakhaNEWS en) and main-text extraction
## figures vs their floors, as a Markdown table (record in build/eval/eval-gate.json); fails when a
## figure is below its floor; "skipped" when the data (FEEDFLOW_EVAL_DATA, default ../shared/data) is absent.
eval: $(STAMP_RUN)
	$(BIN)/python benchmarks/eval_gate.py $(EVAL_GATE_ARGS)

.PHONY: train-ner

## make train-ner: fine-tune the English news NER on CoNLL-2003 eng.train (../shared/data or
## FEEDFLOW_EVAL_DATA) into src/feedflow/data/ner-en: seeds 0 and 1, then their average; about 30 minutes
## on 2 cores, CPU only. Log in build/ner/train.log.
train-ner: $(STAMP_RUN)
	@mkdir -p build/ner
	$(BIN)/python benchmarks/ner/train_ner.py $(TRAIN_ARGS) > build/ner/train.log 2>&1 || { tail -30 build/ner/train.log; exit 1; }
	@grep -E "entity F1|chosen|kept|written" build/ner/train.log

.PHONY: topics-dev topic-weights topic-weights-check

## make topics-dev: IPTC topic accuracy (top code vs gold: AG News, MasakhaNEWS en dev+test, HuffPost
## held-out) and the tagger's articles/s; reads ../shared/data or FEEDFLOW_EVAL_DATA (skips when absent).
topics-dev: $(STAMP_RUN)
	nice -n 10 $(BIN)/python benchmarks/topics_dev.py

## make topic-weights: rebuild src/feedflow/data/topic_weights.json (the learned topic words) from the
## shipped IPTC vocabulary and the HuffPost training split; topic-weights-check only compares.
topic-weights: $(STAMP_RUN)
	$(BIN)/python -m feedflow.data.build_topic_weights

topic-weights-check: $(STAMP_RUN)
	$(BIN)/python -m feedflow.data.build_topic_weights --check

# Performance benchmark (issue 5): benchmarks/bench.py over corpora built by benchmarks/corpus.py.
STAMP_BENCH := $(VENV)/.installed-bench
BENCH_SIZES ?= 1000,5000
BENCH_NER_MAX ?= 1000

.PHONY: bench bench-large

$(STAMP_BENCH): $(STAMP_RUN) pyproject.toml
	$(PIP) install -q -e '.[bench]'
	@touch $@

## make bench: feedflow run (all stages and --skip entities,topics; 1 and 2 workers), startup, per-stage
## time, peak RSS of the process tree and the raw spaCy nlp.pipe baseline, in one run; prints the table
## (record in build/bench/bench.json, bench.md). About 10 minutes on 2 cores. Sizes: BENCH_SIZES
## (all stages only up to BENCH_NER_MAX articles); anything else: BENCH_ARGS (see --help).
bench: $(STAMP_BENCH)
	$(BIN)/python benchmarks/bench.py --sizes $(BENCH_SIZES) --ner-max $(BENCH_NER_MAX) $(BENCH_ARGS)

## make bench-large: the issue's sizes: 5k and 50k without NER (memory scaling), all stages at 20k (workers
## scaling); each skip run three times, the least disturbed kept (see bench.py). About an hour on 2 cores.
bench-large: $(STAMP_BENCH)
	$(BIN)/python benchmarks/bench.py --sizes 5000,20000,50000 --ner-max 20000 --skip-repeats 3 $(BENCH_ARGS)

# Issue 7: hostile input and faults — long fuzzing campaign and the kill -9 harness.
.PHONY: fuzz fuzz-quick kill-harness

FUZZ_MINUTES ?= 15
KILLS        ?= 50

## make fuzz: hypothesis campaign over every reader and core step, inputs mutated from the shared
## corpora (feedparser-tests, news-feeds); prints executions and findings per target (FUZZ_MINUTES).
fuzz: $(STAMP_TEST)
	nice -n 10 $(BIN)/python benchmarks/fuzz.py --minutes $(FUZZ_MINUTES) $(FUZZ_ARGS)

## make fuzz-quick: the CI budget (about 100 examples per target) as pytest runs it.
fuzz-quick: $(STAMP_TEST)
	$(BIN)/python -m pytest tests/test_fuzz.py -q

## make kill-harness: kill -9 `feedflow run` at random moments KILLS times, each followed by a clean
## rerun; the dataset must equal an uninterrupted run's every time.
kill-harness: $(STAMP_RUN)
	nice -n 10 $(BIN)/python benchmarks/kill_harness.py --kills $(KILLS) $(KILL_ARGS)

# Packaging for remote Beam workers (issue 8): a wheelhouse of feedflow and every runtime dependency,
# the pinned spaCy model included, so a worker image or an air-gapped venv installs with --no-index.
WHEELHOUSE ?= build/wheelhouse

.PHONY: wheelhouse test-packaging

## make wheelhouse: feedflow's wheel + wheels of all its runtime dependencies into build/wheelhouse.
## The model comes first, hash-checked (constraints.txt); `pip wheel .` then finds it there.
wheelhouse: $(BIN)/python
	rm -rf $(WHEELHOUSE) && mkdir -p $(WHEELHOUSE)
	$(PIP) download -q --no-deps --require-hashes -r constraints.txt --dest $(WHEELHOUSE)
	$(PIP) wheel -q --wheel-dir $(WHEELHOUSE) --find-links $(WHEELHOUSE) .
	@ls $(WHEELHOUSE) | wc -l | xargs echo "wheelhouse: wheels in $(WHEELHOUSE):"

## make test-packaging: install feedflow from the wheelhouse into a clean venv (--no-index) and run
## `feedflow run` on seeds/ from it. Minutes, so not part of `make test` (which runs the fast checks).
test-packaging: $(STAMP_TEST) wheelhouse
	FEEDFLOW_WHEELHOUSE=$(WHEELHOUSE) FEEDFLOW_REQUIRE_WHEELHOUSE=1 \
	  $(BIN)/python -m pytest -m packaging tests/test_packaging.py $(PYTEST_ARGS)
