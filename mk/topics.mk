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
