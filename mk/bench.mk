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
## scaling). About an hour on 2 cores.
bench-large: $(STAMP_BENCH)
	$(BIN)/python benchmarks/bench.py --sizes 5000,20000,50000 --ner-max 20000 $(BENCH_ARGS)
