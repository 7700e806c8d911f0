# factlab's entry points. `make test` and `make reproduce-*` need only the Rust toolchain.
#
#   make reproduce-fig3                 Figure 3 with the tiny preset (CPU, minutes)
#   make reproduce-fig3 PRESET=smoke    the same chain in seconds (what the end-to-end test runs)
#   make reproduce-fig3 KNOWLEDGE=fictional_knowledge.json   the public Fictional Knowledge release
#   make reproduce-fig3 CORPUS=my-text.parquet               your corpus (any Parquet with `text`)
#   make reproduce-fig3 PRESET=name PRESET_FILE=path.toml    a preset file kept elsewhere
#   make reproduce-bios-qa PRESET=tiny       Physics of LMs 3.1: QA accuracy per augmentation
#   make reproduce-bios-probing PRESET=tiny  its P- and Q-probes (pipelines/bios.mk)
#   make reproduce-celebrity PRESET=tiny     celebrities lift an un-augmented minority
#   make reproduce-bios-mixed PRESET=tiny    mixed training against pretrain + finetune
#   make reproduce-icl-vs-finetune PRESET=tiny   Lampinen et al.: in context against finetuned
#                                            (pipelines/lampinen.mk; starts a served model)
#   make served-install / check-served       the local served model (pipelines/served.mk)
#
# Intermediate files live under $(RESULTS)/work/$(PRESET)/ and each is rebuilt only when what it
# is made from changed; figures go to $(RESULTS)/<target>/.

CARGO ?= cargo
PRESET ?= tiny
RESULTS ?= results
# Where the stage binaries are; `cargo build` puts them here, `cargo test` too: the debug folder
# of cargo's target folder, which is CARGO_TARGET_DIR, else CARGO_BUILD_TARGET_DIR, else target/
# (a relative one counts from this folder, where make runs cargo).
CARGO_TARGET_FOLDER := $(patsubst %/,%,$(or $(CARGO_TARGET_DIR),$(CARGO_BUILD_TARGET_DIR),target))
BIN ?= $(CARGO_TARGET_FOLDER)/debug
# `no` uses the binaries already in $(BIN) (the end-to-end test, which cargo has just built).
BUILD_BINARIES ?= yes
# Where `train` runs: cpu, cuda or cuda:N. cuda needs a train built with `--features cuda`
# (scripts/build-cuda.sh puts one in .gpu/: BIN=.gpu BUILD_BINARIES=no DEVICE=cuda). A resumed
# base run continues on DEVICE.
DEVICE ?= cpu
# On a machine with 4 or more cores, independent runs (the two base runs, then the four
# continuations) go side by side, JOBS at a time with THREADS threads each; on fewer cores one
# run at a time uses them all. Results are the same whatever the thread count.
CORES := $(shell nproc 2>/dev/null || echo 1)
JOBS ?= $(shell n=$(CORES); if [ $$n -lt 4 ]; then echo 1; elif [ $$n -lt 8 ]; then echo 2; else echo 4; fi)
ifeq ($(shell [ "$(JOBS)" -ge 1 ] 2>/dev/null && echo ok),)
$(error JOBS=$(JOBS): expected a whole number of runs at a time, at least 1)
endif
THREADS ?= $(shell echo $$(( $(CORES) / $(JOBS) > 0 ? $(CORES) / $(JOBS) : 1 )))
KNOWLEDGE ?=
CORPUS ?=

STAGES := gen-facts augment inject train probe fit plot preset
BINARIES := $(addprefix $(BIN)/,$(STAGES))

.SECONDARY:
.PHONY: build test lint check-python check-hf clean reproduce-fig2 reproduce-fig3 reproduce-fig4 reproduce-table2 reproduce-fig5 reproduce-mid reproduce-bios-qa reproduce-bios-probing reproduce-celebrity reproduce-bios-mixed reproduce-icl-vs-finetune FORCE

## build: every stage binary (dependencies optimised, see Cargo.toml's dev profile)
build:
	$(CARGO) build --workspace --bins

## test: the whole test suite, as CI runs it
test:
	$(CARGO) test --workspace

## lint: formatting and clippy, warnings as errors
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## check-python: generated Parquet files open in polars and pyarrow (installs both in .venv)
check-python: build
	python3 -m venv .venv
	.venv/bin/pip install --quiet polars pyarrow
	rm -rf target/check-python && mkdir -p target/check-python
	$(BIN)/gen-facts fictional -n 120 --seed 1 -o target/check-python/knowledge.parquet --probes target/check-python/probes.parquet
	$(BIN)/gen-facts background --documents 200 --seed 1 -o target/check-python/corpus.parquet
	.venv/bin/python scripts/check_parquet.py target/check-python

## check-hf: our checkpoints load in transformers with the same logits (installs torch and
## transformers into bench/.venv, about 5 GB)
check-hf:
	test -x bench/.venv/bin/python || python3 -m venv bench/.venv
	bench/.venv/bin/python -c "import torch, transformers, safetensors" 2>/dev/null || \
	  bench/.venv/bin/pip install --quiet torch transformers safetensors
	$(CARGO) test -p factlab-model --test integration -- --ignored hf_logits

clean:
	rm -rf $(RESULTS) target/check-python

# ----------------------------------------------------------------------------- binaries
# cargo decides what to rebuild; a binary it leaves alone keeps its time stamp, so the
# results made with it stay current.
ifeq ($(BUILD_BINARIES),yes)
$(BINARIES) &: FORCE
	$(CARGO) build --workspace --bins
endif
FORCE:

# ----------------------------------------------------------------------------- reproduce-*
step6 = $(shell printf '%06d' $(1))
comma := ,
space := $(subst ,, )

ifneq ($(filter-out reproduce-bios-% reproduce-celebrity reproduce-icl-%,$(filter reproduce-%,$(MAKECMDGOALS))),)
MAKEFLAGS += -j$(JOBS) --output-sync=line
RUN_TRAIN := RAYON_NUM_THREADS=$(THREADS) $(BIN)/train
W := $(RESULTS)/work/$(PRESET)
# A preset file elsewhere (scripts/sweep-fig3.sh writes variants) still names its work folder
# by PRESET.
PRESET_FILE ?= pipelines/presets/$(PRESET).toml

$(W)/preset.mk: $(PRESET_FILE) $(BIN)/preset
	@mkdir -p $(@D)
	$(BIN)/preset $< > $@.tmp && mv $@.tmp $@
include $(W)/preset.mk

# Runs of Figure 3: the small model from its early, mid and late checkpoints, and the large one
# from mid (a run is SIZE-STAGE).
RUNS := small-early small-mid small-late large-mid

ifeq ($(KNOWLEDGE),)
$(W)/knowledge.parquet $(W)/probes.parquet &: $(W)/preset.mk $(BIN)/gen-facts
	$(BIN)/gen-facts fictional -n $(KNOWLEDGE_PARAGRAPHS) --seed $(KNOWLEDGE_SEED) \
	  --min-sentences $(KNOWLEDGE_MIN_SENTENCES) --words $(KNOWLEDGE_WORDS) \
	  -o $(W)/knowledge.parquet --probes $(W)/probes.parquet
else
$(W)/knowledge.parquet $(W)/probes.parquet &: $(KNOWLEDGE) $(BIN)/gen-facts
	@mkdir -p $(W)
	$(BIN)/gen-facts import-fictional-knowledge $(KNOWLEDGE) -o $(W)/knowledge.parquet --probes $(W)/probes.parquet
endif

ifeq ($(CORPUS),)
CORPUS_FILE := $(W)/corpus.parquet
$(CORPUS_FILE): $(W)/preset.mk $(BIN)/gen-facts
	$(BIN)/gen-facts background --tokens $(CORPUS_TOKENS) --seed $(CORPUS_SEED) \
	  $(if $(CORPUS_GRAMMAR),--grammar $(CORPUS_GRAMMAR)) -o $@
else
CORPUS_FILE := $(CORPUS)
endif

# Base pretraining shards and the tokenizer (trained on the corpus and the knowledge texts).
$(W)/pretrain/shards/manifest.json: $(CORPUS_FILE) $(W)/knowledge.parquet $(BIN)/inject
	rm -rf $(W)/pretrain
	$(BIN)/inject -c $(CORPUS_FILE) -o $(W)/pretrain --vocab-size $(TOKENIZER_VOCAB_SIZE) \
	  --tokenizer-knowledge $(W)/knowledge.parquet --seq-len $(SHARDS_SEQ_LEN) \
	  --batch-size $(SHARDS_BATCH_SIZE) --steps $(SHARDS_BASE_STEPS)

# Continuation shards on corpus text the base run never saw, with the knowledge injected; one
# folder per batch size (Figure 5 compares two).
CONT := $(W)/continuation-b$(SHARDS_BATCH_SIZE)
$(W)/continuation-b%/shards/manifest.json: $(W)/pretrain/shards/manifest.json $(W)/knowledge.parquet $(SHARDS_SCHEDULE) $(BIN)/inject
	rm -rf $(W)/continuation-b$*
	$(BIN)/inject -c $(CORPUS_FILE) -o $(W)/continuation-b$* --after $(W)/pretrain \
	  --seq-len $(SHARDS_SEQ_LEN) --batch-size $* --steps $(SHARDS_CONTINUATION_STEPS) \
	  --inject $(W)/knowledge.parquet --schedule $(SHARDS_SCHEDULE) --interval $(SHARDS_INTERVAL) \
	  $(if $(SHARDS_MAX_PER_STEP),--max-per-step $(SHARDS_MAX_PER_STEP))

# Base models, with checkpoints at the early, mid and late stages (the large model is only needed
# at mid). An interrupted run resumes from its last checkpoint; when its shards changed since it
# started (train's exit status 3, and only then) it starts afresh.
$(W)/base-%/done: $(W)/pretrain/shards/manifest.json $(BIN)/train
	status=3; if [ -e $(W)/base-$*/checkpoints/latest ]; then status=0; \
	  $(RUN_TRAIN) --resume $(W)/base-$* --device $(DEVICE) || status=$$?; \
	  [ $$status != 3 ] || echo '$(W)/base-$*: its inputs changed; starting it afresh' >&2; fi; \
	if [ $$status = 3 ]; then \
	  rm -rf $(W)/base-$* && $(RUN_TRAIN) --shards $< --model $(MODELS_$(shell echo $* | tr a-z A-Z)) \
	  --out $(W)/base-$* --device $(DEVICE) --lr $(TRAIN_LR) --warmup-steps $(TRAIN_WARMUP_STEPS) \
	  --schedule-steps $(TRAIN_SCHEDULE_STEPS) --seed $(TRAIN_SEED) \
	  --save-at $(TRAIN_EARLY),$(TRAIN_MID),$(TRAIN_LATE) $(if $(filter large,$*),--steps $(TRAIN_MID)); \
	else exit $$status; fi
	touch $@

# Continued pretraining from one checkpoint with its optimizer state, the paper's main protocol:
# the checkpoint's LR held (TRAIN_CONTINUATION_LR = hold; `schedule` goes on along the base
# schedule), steps counted from t = 0, every probe scored at the eval steps and its foil at the
# foil steps.
.SECONDEXPANSION:
$(W)/runs/%/logprobs.parquet: $(CONT)/shards/manifest.json $(W)/probes.parquet $(BIN)/train \
    $(W)/base-$$(firstword $$(subst -, ,$$*))/done
	rm -rf $(W)/runs/$*
	$(RUN_TRAIN) --shards $< --init $(W)/base-$(firstword $(subst -, ,$*))/checkpoints/step-$(call step6,$(TRAIN_$(shell echo $(lastword $(subst -, ,$*)) | tr a-z A-Z))) \
	  --reset-step --continuation-lr $(TRAIN_CONTINUATION_LR) --out $(W)/runs/$* --run-id $* \
	  --probes $(W)/probes.parquet --eval-schedule '$(TRAIN_EVAL)' \
	  $(if $(TRAIN_FOIL_EVAL),--foil-schedule '$(TRAIN_FOIL_EVAL)') --seed $(TRAIN_SEED) --device $(DEVICE)

FIT := $(W)/fit/effectivity.parquet
$(FIT): $(foreach run,$(RUNS),$(W)/runs/$(run)/logprobs.parquet) $(BIN)/fit
	$(BIN)/fit --logprobs $(foreach run,$(RUNS),$(W)/runs/$(run)/logprobs.parquet) \
	  --injections $(CONT)/injections.parquet --manifest $(CONT)/shards/manifest.json \
	  --step-offset $(SHARDS_BASE_STEPS) --window $(FIT_WINDOW) --iqr-factor $(FIT_IQR_FACTOR) \
	  --bootstrap $(FIT_BOOTSTRAP) --seed $(FIT_SEED) -o $(W)/fit

$(RESULTS)/fig3/fig3.png: $(FIT) $(BIN)/plot
	$(BIN)/plot fig3 --effectivity $(W)/fit/effectivity.parquet --left small-early,small-mid,small-late \
	  --right small-mid,large-mid -o $(RESULTS)/fig3/fig3
	$(BIN)/plot findings --effectivity $(W)/fit/effectivity.parquet --decay $(W)/fit/decay.parquet \
	  --draws $(W)/fit/draws.parquet -o $(RESULTS)/fig3/findings.md

$(RESULTS)/fig2/fig2.png: $(FIT) $(BIN)/plot
	$(BIN)/plot fig2 --trajectory $(W)/fit/trajectory.parquet --injections $(CONT)/injections.parquet \
	  --step-offset $(SHARDS_BASE_STEPS) --run small-mid -o $(RESULTS)/fig2/fig2

$(RESULTS)/fig4/fig4.png: $(FIT) $(BIN)/plot
	$(BIN)/plot fig4 --retention $(W)/fit/retention.parquet --decay $(W)/fit/decay.parquet --run small-mid -o $(RESULTS)/fig4/fig4

# Figure 5: the mid checkpoint continued with the preset's batch and with a batch FIG5_FACTOR
# times larger, each with its checkpoint's LR held constant and a fresh optimizer (the paper's
# App. G protocol), fitted apart since their tokens per step differ.
# (Computed only once the preset's variables exist: the first parse runs before preset.mk is made.)
FIG5_BATCHES := $(if $(SHARDS_BATCH_SIZE),$(SHARDS_BATCH_SIZE) $(shell echo $$(( $(SHARDS_BATCH_SIZE) * $(FIG5_FACTOR) ))))
$(W)/fig5/batch-%/logprobs.parquet: $(W)/continuation-b%/shards/manifest.json $(W)/probes.parquet $(W)/base-small/done $(BIN)/train
	rm -rf $(W)/fig5/batch-$*
	$(RUN_TRAIN) --shards $< --init $(W)/base-small/checkpoints/step-$(call step6,$(TRAIN_MID)) \
	  --reset-step --continuation-lr hold --reset-optimizer --out $(W)/fig5/batch-$* --run-id batch-$* \
	  --probes $(W)/probes.parquet --eval-schedule '$(TRAIN_EVAL)' --seed $(TRAIN_SEED) --device $(DEVICE)

$(W)/fig5/fit-b%/decay.parquet: $(W)/fig5/batch-%/logprobs.parquet $(BIN)/fit
	$(BIN)/fit --logprobs $< --injections $(W)/continuation-b$*/injections.parquet \
	  --manifest $(W)/continuation-b$*/shards/manifest.json --step-offset $(SHARDS_BASE_STEPS) \
	  --window $(FIT_WINDOW) --iqr-factor $(FIT_IQR_FACTOR) --bootstrap $(FIT_BOOTSTRAP) \
	  --seed $(FIT_SEED) -o $(W)/fig5/fit-b$*

$(RESULTS)/fig5/fig5.png: $(foreach b,$(FIG5_BATCHES),$(W)/fig5/fit-b$(b)/decay.parquet) $(BIN)/plot
	$(BIN)/plot fig5 --retention $(foreach b,$(FIG5_BATCHES),$(W)/fig5/fit-b$(b)/retention.parquet) \
	  --decay $(foreach b,$(FIG5_BATCHES),$(W)/fig5/fit-b$(b)/decay.parquet) \
	  --runs $(subst $(space),$(comma),$(addprefix batch-,$(FIG5_BATCHES))) --scenario duplicate -o $(RESULTS)/fig5/fig5

# The small model's mid-checkpoint run alone, fitted (scripts/sweep-fig3.sh uses it for
# one-factor variants: the findings that compare kinds and scenarios at mid).
MID := $(W)/fit-mid/effectivity.parquet
$(MID): $(W)/runs/small-mid/logprobs.parquet $(BIN)/fit
	$(BIN)/fit --logprobs $< --injections $(CONT)/injections.parquet --manifest $(CONT)/shards/manifest.json \
	  --step-offset $(SHARDS_BASE_STEPS) --window $(FIT_WINDOW) --iqr-factor $(FIT_IQR_FACTOR) \
	  --bootstrap $(FIT_BOOTSTRAP) --seed $(FIT_SEED) -o $(W)/fit-mid

reproduce-mid: $(MID)
reproduce-fig3: $(RESULTS)/fig3/fig3.png
reproduce-fig2: $(RESULTS)/fig2/fig2.png
reproduce-fig4: $(RESULTS)/fig4/fig4.png
reproduce-fig5: $(RESULTS)/fig5/fig5.png
reproduce-table2: $(FIT)
	@sed -n '/^# Decay constants/,$$p' $(W)/fit/fit.md
endif

include pipelines/bios.mk
include pipelines/served.mk
include pipelines/lampinen.mk
