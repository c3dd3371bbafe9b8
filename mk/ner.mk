.PHONY: train-ner

## make train-ner: fine-tune the English news NER on CoNLL-2003 eng.train (../shared/data or
## FEEDFLOW_EVAL_DATA) into src/feedflow/data/ner-en; log in build/ner/train.log. CPU only, fixed seed.
train-ner: $(STAMP_RUN)
	@mkdir -p build/ner
	$(BIN)/python benchmarks/ner/train_ner.py $(TRAIN_ARGS) 2>&1 | tee build/ner/train.log
