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
