# Lampinen et al. 2025 in miniature, included by the Makefile:
#
#   make reproduce-icl-vs-finetune PRESET=tiny   multiple-choice accuracy per test split of the
#                                                nonsense-word datasets (reversals, syllogisms,
#                                                semantic structure) for each condition
#
# Conditions (bars of the figure):
#   pretrained       our model after pretraining on the background corpus, never shown the facts
#   finetuned        the same model finetuned on the training documents
#   augmented-reworded  finetuned on the documents plus `augment --backend rules --wording
#                    disjoint`: reversals and two-hop inferences derived from the facts, stated
#                    only in relations.toml's `reworded` templates, which no test uses (what a
#                    perfect augmenter teaches when the model must still generalise the wording)
#   augmented-rules  the same oracle with `--wording test`: the derived facts in the tests' own
#                    templates, so the right options appear verbatim in the training data (a
#                    recall upper bound, not a measure of inference)
#   augmented        finetuned on the documents plus what the served model inferred from them
#                    (`augment --backend served`)
#   icl              the served model with the documents in its prompt
#   icl-unexposed    the served model with no documents (the contamination check)
# The last three need a served model: the preset's `served = true` starts the project's own
# (pipelines/served.mk: SmolLM2-135M-Instruct under llama.cpp, installed by `make
# served-install`) for the preset's served datasets and stops it afterwards; ENDPOINT=http://host:port/ MODEL=name uses yours
# instead (vLLM, llama.cpp's server, Ollama), started and stopped by you.
#
# The preset is pipelines/presets/lampinen-$(PRESET).toml; intermediate files go under
# $(RESULTS)/work/lampinen-$(PRESET)/.

ENDPOINT ?=
MODEL ?= smollm2-135m-instruct

# LAMPINEN_ACTIVE: set for the inner make that runs while the served model is up.
ifneq ($(filter reproduce-icl-%,$(MAKECMDGOALS))$(LAMPINEN_ACTIVE),)
MAKEFLAGS += -j$(JOBS) --output-sync=line
LW := $(RESULTS)/work/lampinen-$(PRESET)
LAMPINEN_PRESET_FILE ?= pipelines/presets/lampinen-$(PRESET).toml
L_RUN_TRAIN := RAYON_NUM_THREADS=$(THREADS) $(BIN)/train

$(LW)/preset.mk: $(LAMPINEN_PRESET_FILE) $(BIN)/preset
	@mkdir -p $(@D)
	$(BIN)/preset $< > $@.tmp && mv $@.tmp $@
include $(LW)/preset.mk

DATASETS := $(subst $(comma),$(space),$(LAMPINEN_DATASETS))
SERVED_ENDPOINT := $(if $(ENDPOINT),$(ENDPOINT),http://$(SERVED_HOST):$(SERVED_PORT))
SERVED_FLAGS = --endpoint $(SERVED_ENDPOINT) --model $(MODEL)
# The served model's conditions run on the datasets the preset names: its augmentation
# (`augmented`) on served_augment_datasets, answering in context (`icl`, `icl-unexposed`) on
# icl_datasets. On 2 cores llama-cpp-python's server takes about a second to rewrite a sentence
# and about 50 ms per token to echo a prompt's log-probabilities.
served_list = $(if $(filter true,$(LAMPINEN_SERVED)),$(subst $(comma),$(space),$(1)))
conditions_of = $(strip pretrained finetuned augmented-reworded augmented-rules \
  $(if $(filter $(1),$(call served_list,$(LAMPINEN_SERVED_AUGMENT_DATASETS))),augmented) \
  $(if $(filter $(1),$(call served_list,$(LAMPINEN_ICL_DATASETS))),icl icl-unexposed))

# ------------------------------------------------------------------------------ datasets
$(LW)/reversals/knowledge.parquet $(LW)/reversals/options.parquet &: $(LW)/preset.mk $(BIN)/gen-facts
	@mkdir -p $(LW)/reversals
	$(BIN)/gen-facts reversals -n $(LAMPINEN_REVERSALS_FACTS) --copies $(LAMPINEN_REVERSALS_COPIES) \
	  --seed $(LAMPINEN_SEED) -o $(LW)/reversals/knowledge.parquet --options $(LW)/reversals/options.parquet

$(LW)/syllogisms/knowledge.parquet $(LW)/syllogisms/options.parquet &: $(LW)/preset.mk $(BIN)/gen-facts
	@mkdir -p $(LW)/syllogisms
	$(BIN)/gen-facts syllogisms -n $(LAMPINEN_SYLLOGISMS_PAIRS) --seed $(LAMPINEN_SEED) \
	  -o $(LW)/syllogisms/knowledge.parquet --options $(LW)/syllogisms/options.parquet

$(LW)/semantic/knowledge.parquet $(LW)/semantic/options.parquet &: $(LW)/preset.mk $(BIN)/gen-facts
	@mkdir -p $(LW)/semantic
	$(BIN)/gen-facts semantic -n $(LAMPINEN_SEMANTIC_DOCUMENTS) --holdouts $(LAMPINEN_SEMANTIC_HOLDOUTS) \
	  --seed $(LAMPINEN_SEED) -o $(LW)/semantic/knowledge.parquet --options $(LW)/semantic/options.parquet

# ------------------------------------------------------------------------------ the base model
# Pretrained on the background corpus; its tokenizer also sees the training documents, so the
# nonsense words are not split into bytes.
$(LW)/corpus.parquet: $(LW)/preset.mk $(BIN)/gen-facts
	$(BIN)/gen-facts background --tokens $(LAMPINEN_BASE_CORPUS_TOKENS) --seed $(LAMPINEN_SEED) -o $@

$(LW)/pretrain/shards/manifest.json: $(LW)/corpus.parquet $(foreach d,$(DATASETS),$(LW)/$(d)/knowledge.parquet) $(BIN)/inject
	rm -rf $(LW)/pretrain
	$(BIN)/inject -c $< -o $(LW)/pretrain --vocab-size $(LAMPINEN_BASE_VOCAB_SIZE) \
	  $(foreach d,$(DATASETS),--tokenizer-knowledge $(LW)/$(d)/knowledge.parquet) \
	  --seq-len $(LAMPINEN_BASE_SEQ_LEN) --batch-size $(LAMPINEN_BASE_BATCH_SIZE) --steps $(LAMPINEN_BASE_STEPS)

# An interrupted pretraining resumes from its last checkpoint; when its shards changed since it
# started (train's exit status 3, and only then) it starts afresh.
$(LW)/base/done: $(LW)/pretrain/shards/manifest.json $(BIN)/train
	status=3; if [ -e $(LW)/base/checkpoints/latest ]; then status=0; \
	  $(L_RUN_TRAIN) --resume $(LW)/base --device $(DEVICE) || status=$$?; \
	  [ $$status != 3 ] || echo '$(LW)/base: its inputs changed; starting it afresh' >&2; fi; \
	if [ $$status = 3 ]; then \
	  rm -rf $(LW)/base && $(L_RUN_TRAIN) --shards $< --model $(LAMPINEN_BASE_MODEL) --out $(LW)/base \
	  --lr $(LAMPINEN_BASE_LR) --warmup-steps $(LAMPINEN_BASE_WARMUP_STEPS) --seed $(LAMPINEN_SEED) \
	  --device $(DEVICE); \
	else exit $$status; fi
	touch $@

L_BASE_CHECKPOINT = $(LW)/base/checkpoints/step-$(call step6,$(LAMPINEN_BASE_STEPS))
L_TOKENIZER = $(LW)/pretrain/tokenizer.json

# ------------------------------------------------------------------------------ augmentation
# Semantic documents are split into sentences for augmented finetuning (the paper's §3);
# plain finetuning keeps them whole, as the paper's baseline does.
split_of = $(if $(filter semantic,$(1)),$(LAMPINEN_AUGMENT_SEMANTIC_SPLIT),none)

# The rules oracle in two wordings: CONDITION, --wording.
define L_RULES_ORACLE
$(LW)/%/$(1).parquet: $(LW)/%/knowledge.parquet $(BIN)/augment
	$(BIN)/augment -i $$< -o $$@ --backend rules --wording $(2) \
	  --strategy $(LAMPINEN_AUGMENT_RULES_STRATEGIES) --split $$(call split_of,$$*) --seed $(LAMPINEN_SEED)
endef
$(eval $(call L_RULES_ORACLE,augmented-reworded,disjoint))
$(eval $(call L_RULES_ORACLE,augmented-rules,test))

$(LW)/%/augmented.parquet: $(LW)/%/knowledge.parquet $(BIN)/augment
	$(BIN)/augment -i $< -o $@ --backend served --strategy $(LAMPINEN_AUGMENT_SERVED_STRATEGIES) \
	  --split $(call split_of,$*) --seed $(LAMPINEN_SEED) $(SERVED_FLAGS) \
	  --max-tokens $(LAMPINEN_AUGMENT_MAX_TOKENS) --context-tokens $(LAMPINEN_AUGMENT_CONTEXT_TOKENS) \
	  --concurrency 1 --cache $(LW)/$*/augment-requests.jsonl

# ------------------------------------------------------------------------------ finetuning
# Training text of each finetuned condition: the documents alone, or with augmentations.
finetune_text = $(if $(filter finetuned,$(2)),$(LW)/$(1)/knowledge.parquet,$(LW)/$(1)/$(2).parquet)

.SECONDEXPANSION:
$(LW)/%/shards/manifest.json: $$(call finetune_text,$$(firstword $$(subst /, ,$$*)),$$(lastword $$(subst /, ,$$*))) $(LW)/pretrain/shards/manifest.json $(BIN)/inject
	rm -rf $(LW)/$*
	$(BIN)/inject -c $< -o $(LW)/$* --tokenizer $(L_TOKENIZER) --shuffle --seed $(LAMPINEN_SEED) \
	  --seq-len $(LAMPINEN_FINETUNE_SEQ_LEN) --batch-size $(LAMPINEN_FINETUNE_BATCH_SIZE) \
	  --steps $(LAMPINEN_FINETUNE_STEPS)

$(LW)/%/run/done: $(LW)/%/shards/manifest.json $(LW)/base/done $(BIN)/train
	rm -rf $(LW)/$*/run
	$(L_RUN_TRAIN) --shards $< --init $(L_BASE_CHECKPOINT) --reset-step --reset-optimizer --reset-schedule \
	  --lr $(LAMPINEN_FINETUNE_LR) --warmup-steps 0 --schedule-steps $(LAMPINEN_FINETUNE_STEPS) \
	  --weight-decay 0.01 --seed $(LAMPINEN_SEED) --out $(LW)/$*/run --device $(DEVICE)
	touch $@

# ------------------------------------------------------------------------------ scoring
# Each condition's scores are DATASET/CONDITION/scores.parquet. (Make prefers the pattern with
# the shorter stem, so the named conditions below win over the finetuned ones' pattern.)
$(LW)/%/pretrained/scores.parquet: $(LW)/%/options.parquet $(LW)/base/done $(BIN)/probe
	$(BIN)/probe -q score --checkpoint $(L_BASE_CHECKPOINT) --tokenizer $(L_TOKENIZER) \
	  --options $< --device $(DEVICE) -o $@

$(LW)/%/scores.parquet: $(LW)/$$(firstword $$(subst /, ,$$*))/options.parquet $(LW)/%/run/done $(BIN)/probe
	$(BIN)/probe -q score --checkpoint $(LW)/$*/run --tokenizer $(L_TOKENIZER) \
	  --options $< --device $(DEVICE) -o $@

$(LW)/%/icl/scores.parquet: $(LW)/%/options.parquet $(LW)/%/knowledge.parquet $(BIN)/probe
	$(BIN)/probe -q score-in-context $(SERVED_FLAGS) --bos-prefix '$(LAMPINEN_SERVED_BOS_PREFIX)' \
	  --options $< --context $(LW)/$*/knowledge.parquet --context-tokens $(LAMPINEN_ICL_CONTEXT_TOKENS) \
	  --questions-per-split $(LAMPINEN_ICL_QUESTIONS_PER_SPLIT) --seed $(LAMPINEN_SEED) \
	  --concurrency 1 --cache $(LW)/$*/icl-requests.jsonl -o $@

$(LW)/%/icl-unexposed/scores.parquet: $(LW)/%/options.parquet $(BIN)/probe
	$(BIN)/probe -q score-in-context $(SERVED_FLAGS) --bos-prefix '$(LAMPINEN_SERVED_BOS_PREFIX)' \
	  --options $< --questions-per-split $(LAMPINEN_ICL_QUESTIONS_PER_SPLIT) --seed $(LAMPINEN_SEED) \
	  --concurrency 1 --cache $(LW)/$*/icl-unexposed-requests.jsonl -o $@

$(LW)/%/choice-accuracy.parquet: $$(foreach c,$$(call conditions_of,$$*),$(LW)/$$*/$$(c)/scores.parquet) $(BIN)/fit
	$(BIN)/fit choice-accuracy --scores $(foreach c,$(call conditions_of,$*),$(LW)/$*/$(c)/scores.parquet) \
	  --conditions $(subst $(space),$(comma),$(call conditions_of,$*)) -o $(LW)/$*

$(RESULTS)/icl-vs-finetune/icl-vs-finetune.png: $(foreach d,$(DATASETS),$(LW)/$(d)/choice-accuracy.parquet) $(BIN)/plot
	$(BIN)/plot icl-vs-finetune --accuracy $(foreach d,$(DATASETS),$(LW)/$(d)/choice-accuracy.parquet) \
	  --datasets $(LAMPINEN_DATASETS) -o $(RESULTS)/icl-vs-finetune/icl-vs-finetune

# The served model runs only while this target needs it: started before and stopped after, even
# when a step fails or the run is interrupted, unless it was already running (then it is left as
# it was). With ENDPOINT given, the server is yours to run.
ifeq ($(LAMPINEN_SERVED)$(ENDPOINT),true)
reproduce-icl-vs-finetune: $(BINARIES) $(SERVED_STAMP)
	@started=no; \
	if ! $(SERVED_ENV) scripts/served.sh status >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory served-start || exit 1; started=yes; fi; \
	stop() { if [ $$started = yes ]; then $(MAKE) --no-print-directory served-stop; fi; }; \
	trap 'stop; exit 130' INT TERM; \
	$(MAKE) --no-print-directory LAMPINEN_ACTIVE=1 $(RESULTS)/icl-vs-finetune/icl-vs-finetune.png; \
	status=$$?; stop; exit $$status
else
reproduce-icl-vs-finetune: $(RESULTS)/icl-vs-finetune/icl-vs-finetune.png
endif
endif
