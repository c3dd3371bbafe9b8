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
