# The quality gate (issue 6): every `feedflow eval` on the shared data against benchmarks/eval_floors.json.
.PHONY: eval

## make eval: NER (CoNLL-2003 eng.testa), topics (AG News, MasakhaNEWS en) and main-text extraction
## figures vs their floors, as a Markdown table (record in build/eval/eval-gate.json); fails when a
## figure is below its floor; "skipped" when the data (FEEDFLOW_EVAL_DATA, default ../shared/data) is absent.
eval: $(STAMP_RUN)
	$(BIN)/python benchmarks/eval_gate.py $(EVAL_GATE_ARGS)
