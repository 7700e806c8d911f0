# Physics of LMs 3.1 (Allen-Zhu & Li) in miniature, included by the Makefile:
#
#   make reproduce-bios-qa PRESET=tiny        QA accuracy per augmentation variant (pretrain on the
#                                             variant's biographies, finetune on P_train QA, answer
#                                             P_test questions)
#   make reproduce-bios-probing PRESET=tiny   P-probes (per position) and Q-probes (the name) on
#                                             the pretrained models, beside the QA accuracy
#   make reproduce-celebrity PRESET=tiny      the minority's QA accuracy with and without
#                                             celebrities beside it (the paper's Figure 8)
#   make reproduce-bios-mixed PRESET=tiny     mixed training (biographies and P_train QA from
#                                             scratch) against pretrain + finetune (Figure 1)
#
# The preset is pipelines/presets/bios-$(PRESET).toml; intermediate files go under
# $(RESULTS)/work/bios-$(PRESET)/<variant>/. Every variant has the same people (the seed fixes
# them); only their biographies differ.

ifneq ($(filter reproduce-bios-% reproduce-celebrity,$(MAKECMDGOALS)),)
MAKEFLAGS += -j$(JOBS) --output-sync=line
BIOS_RUN_TRAIN := RAYON_NUM_THREADS=$(THREADS) $(BIN)/train
BW := $(RESULTS)/work/bios-$(PRESET)
BIOS_PRESET_FILE ?= pipelines/presets/bios-$(PRESET).toml

$(BW)/preset.mk: $(BIOS_PRESET_FILE) $(BIN)/preset
	@mkdir -p $(@D)
	$(BIN)/preset $< > $@.tmp && mv $@.tmp $@
include $(BW)/preset.mk
VARIANTS := $(subst $(comma),$(space),$(BIOS_VARIANTS))

$(BW)/%/bios.parquet $(BW)/%/people.parquet $(BW)/%/qa.parquet: $(BW)/preset.mk $(BIN)/gen-facts
	@mkdir -p $(BW)/$*
	$(BIN)/gen-facts bios -n $(BIOS_PEOPLE) --variant $* --seed $(BIOS_SEED) \
	  --validation-fraction $(BIOS_VALIDATION_FRACTION) -o $(BW)/$*/bios.parquet --people $(BW)/$*/people.parquet --qa $(BW)/$*/qa.parquet

# The celebrity experiment (the paper's Figure 8) as one more "variant": as many celebrities as
# people, with multi5+permute biographies and their QA trained on, beside the main group written
# single+permute1 and tested (an explicit rule, so it wins over the pattern above).
$(BW)/celebrity/bios.parquet $(BW)/celebrity/people.parquet $(BW)/celebrity/qa.parquet &: $(BW)/preset.mk $(BIN)/gen-facts
	@mkdir -p $(BW)/celebrity
	$(BIN)/gen-facts bios -n $(BIOS_PEOPLE) --variant single+permute1 --celebrities $(BIOS_PEOPLE) \
	  --celebrity-variant multi5+permute --seed $(BIOS_SEED) -o $(BW)/celebrity/bios.parquet \
	  --people $(BW)/celebrity/people.parquet --qa $(BW)/celebrity/qa.parquet

# Pretraining rows: the biographies pass after pass, each pass in a new order.
$(BW)/%/pretrain/shards/manifest.json: $(BW)/%/bios.parquet $(BIN)/inject
	rm -rf $(BW)/$*/pretrain
	$(BIN)/inject -c $< -o $(BW)/$*/pretrain --shuffle --seed $(BIOS_SEED) \
	  --vocab-size $(BIOS_PRETRAIN_VOCAB_SIZE) --seq-len $(BIOS_PRETRAIN_SEQ_LEN) \
	  --batch-size $(BIOS_PRETRAIN_BATCH_SIZE) --steps $(BIOS_PRETRAIN_STEPS)

$(BW)/%/base/done: $(BW)/%/pretrain/shards/manifest.json $(BIN)/train
	status=3; if [ -e $(BW)/$*/base/checkpoints/latest ]; then status=0; \
	  $(BIOS_RUN_TRAIN) --resume $(BW)/$*/base --device $(DEVICE) || status=$$?; \
	  [ $$status != 3 ] || echo '$(BW)/$*/base: its inputs changed; starting it afresh' >&2; fi; \
	if [ $$status = 3 ]; then \
	  rm -rf $(BW)/$*/base && $(BIOS_RUN_TRAIN) --shards $< --model $(BIOS_PRETRAIN_MODEL) --out $(BW)/$*/base \
	  --lr $(BIOS_PRETRAIN_LR) --warmup-steps $(BIOS_PRETRAIN_WARMUP_STEPS) --weight-decay 0.1 \
	  --seed $(BIOS_SEED) --device $(DEVICE); \
	else exit $$status; fi
	touch $@

# QA finetuning: P_train pairs only, loss on the answers, from the pretrained weights with a
# fresh optimizer, no warmup and cosine decay to 10 % (the paper's App. D). Full finetuning, or
# LoRA when the preset's bios_finetune.lora_rank / lora_embedding_rank are set (the paper's
# r on the query and value projections, r' on the embedding).
BIOS_FINETUNE_LORA := $(if $(BIOS_FINETUNE_LORA_RANK),--lora-rank $(BIOS_FINETUNE_LORA_RANK)) \
  $(if $(BIOS_FINETUNE_LORA_EMBEDDING_RANK),--lora-embedding-rank $(BIOS_FINETUNE_LORA_EMBEDDING_RANK))
$(BW)/%/qa-train/shards/manifest.json: $(BW)/%/qa.parquet $(BW)/%/pretrain/shards/manifest.json $(BIN)/inject
	rm -rf $(BW)/$*/qa-train
	$(BIN)/inject -c $(BW)/$*/bios.parquet -o $(BW)/$*/qa-train --tokenizer $(BW)/$*/pretrain/tokenizer.json \
	  --qa $< --qa-split train --seed $(BIOS_SEED) --seq-len $(BIOS_PRETRAIN_SEQ_LEN) \
	  --batch-size $(BIOS_FINETUNE_BATCH_SIZE) --steps $(BIOS_FINETUNE_STEPS)

$(BW)/%/finetune/done: $(BW)/%/qa-train/shards/manifest.json $(BW)/%/base/done $(BIN)/train
	rm -rf $(BW)/$*/finetune
	$(BIOS_RUN_TRAIN) --shards $< --init $(BW)/$*/base/checkpoints/step-$(call step6,$(BIOS_PRETRAIN_STEPS)) \
	  --reset-step --reset-optimizer --reset-schedule --lr $(BIOS_FINETUNE_LR) --warmup-steps 0 \
	  --schedule-steps $(BIOS_FINETUNE_STEPS) --weight-decay 0.01 $(BIOS_FINETUNE_LORA) \
	  --out $(BW)/$*/finetune --device $(DEVICE)
	touch $@

$(BW)/%/answers.parquet: $(BW)/%/finetune/done $(BW)/%/qa.parquet $(BIN)/probe
	$(BIN)/probe generate --checkpoint $(BW)/$*/finetune --tokenizer $(BW)/$*/pretrain/tokenizer.json \
	  --qa $(BW)/$*/qa.parquet --split test --max-new-tokens $(BIOS_GENERATE_MAX_NEW_TOKENS) \
	  --device $(DEVICE) -o $@ --table $(BW)/$*/answers.md

# Probes on the pretrained model's last layer: at the token before each attribute (P) and at the
# end of the name alone (Q). Each probe's ridge penalty is the one of bios_probe.ridge that scores
# best on the validation people; it is then refitted on all of P_train and scored on P_test.
$(BW)/%/p-probe/linear-probe.md: $(BW)/%/base/done $(BIN)/probe $(BIN)/fit
	$(BIN)/probe hidden --checkpoint $(BW)/$*/base --tokenizer $(BW)/$*/pretrain/tokenizer.json \
	  --bios $(BW)/$*/bios.parquet --layers last --device $(DEVICE) -o $(BW)/$*/hidden-p.parquet
	$(BIN)/fit linear-probe --hidden $(BW)/$*/hidden-p.parquet --people $(BW)/$*/people.parquet \
	  --ridge $(BIOS_PROBE_RIDGE) -o $(BW)/$*/p-probe

$(BW)/%/q-probe/linear-probe.md: $(BW)/%/base/done $(BIN)/probe $(BIN)/fit
	$(BIN)/probe hidden --checkpoint $(BW)/$*/base --tokenizer $(BW)/$*/pretrain/tokenizer.json \
	  --people $(BW)/$*/people.parquet --layers last --device $(DEVICE) -o $(BW)/$*/hidden-q.parquet
	$(BIN)/fit linear-probe --hidden $(BW)/$*/hidden-q.parquet --people $(BW)/$*/people.parquet \
	  --ridge $(BIOS_PROBE_RIDGE) -o $(BW)/$*/q-probe

$(RESULTS)/bios-qa/bios-qa.png: $(foreach v,$(VARIANTS),$(BW)/$(v)/answers.parquet) $(BIN)/plot
	$(BIN)/plot bios-qa --answers $(foreach v,$(VARIANTS),$(BW)/$(v)/answers.parquet) \
	  --variants $(BIOS_VARIANTS) -o $(RESULTS)/bios-qa/bios-qa

# Two figures (P-probes by position; Q-probes beside QA accuracy) and one Markdown file: per
# variant its P-probe and Q-probe tables, then the QA table to read the Q-probes against.
$(RESULTS)/bios-probing/probing.md: $(foreach v,$(VARIANTS),$(BW)/$(v)/p-probe/linear-probe.md $(BW)/$(v)/q-probe/linear-probe.md) $(RESULTS)/bios-qa/bios-qa.png
	$(BIN)/plot probe-positions --probes $(foreach v,$(VARIANTS),$(BW)/$(v)/p-probe/linear-probe.parquet) \
	  --variants $(BIOS_VARIANTS) -o $(RESULTS)/bios-probing/p-probes
	$(BIN)/plot q-probe-qa --probes $(foreach v,$(VARIANTS),$(BW)/$(v)/q-probe/linear-probe.parquet) \
	  --answers $(foreach v,$(VARIANTS),$(BW)/$(v)/answers.parquet) \
	  --variants $(BIOS_VARIANTS) -o $(RESULTS)/bios-probing/q-probe-qa
	{ for v in $(VARIANTS); do echo "# $$v: P-probing"; tail -n +2 $(BW)/$$v/p-probe/linear-probe.md; \
	  echo; echo "# $$v: Q-probing"; tail -n +2 $(BW)/$$v/q-probe/linear-probe.md; echo; done; \
	  cat $(RESULTS)/bios-qa/bios-qa.md; } > $@.tmp && mv $@.tmp $@

# Mixed training (the paper's Figure 1): from scratch on the biographies and P_train's QA, each
# row one or the other, --qa-share of the rows QA (the paper's QA_r counts tokens; here rows,
# whose QA part ends in unflagged padding), as many steps as pretraining.
$(BW)/%/mixed-shards/shards/manifest.json: $(BW)/%/qa.parquet $(BIN)/inject
	rm -rf $(BW)/$*/mixed-shards
	$(BIN)/inject -c $(BW)/$*/bios.parquet -o $(BW)/$*/mixed-shards --shuffle --seed $(BIOS_SEED) \
	  --qa $< --qa-split train --qa-share $(BIOS_MIXED_QA_SHARE) \
	  --vocab-size $(BIOS_PRETRAIN_VOCAB_SIZE) --seq-len $(BIOS_PRETRAIN_SEQ_LEN) \
	  --batch-size $(BIOS_PRETRAIN_BATCH_SIZE) --steps $(BIOS_PRETRAIN_STEPS)

$(BW)/%/mixed/done: $(BW)/%/mixed-shards/shards/manifest.json $(BIN)/train
	status=3; if [ -e $(BW)/$*/mixed/checkpoints/latest ]; then status=0; \
	  $(BIOS_RUN_TRAIN) --resume $(BW)/$*/mixed --device $(DEVICE) || status=$$?; \
	  [ $$status != 3 ] || echo '$(BW)/$*/mixed: its inputs changed; starting it afresh' >&2; fi; \
	if [ $$status = 3 ]; then \
	  rm -rf $(BW)/$*/mixed && $(BIOS_RUN_TRAIN) --shards $< --model $(BIOS_PRETRAIN_MODEL) --out $(BW)/$*/mixed \
	  --lr $(BIOS_PRETRAIN_LR) --warmup-steps $(BIOS_PRETRAIN_WARMUP_STEPS) --weight-decay 0.1 \
	  --seed $(BIOS_SEED) --device $(DEVICE); \
	else exit $$status; fi
	touch $@

$(BW)/%/mixed-answers.parquet: $(BW)/%/mixed/done $(BIN)/probe
	$(BIN)/probe generate --checkpoint $(BW)/$*/mixed --tokenizer $(BW)/$*/mixed-shards/tokenizer.json \
	  --qa $(BW)/$*/qa.parquet --split test --max-new-tokens $(BIOS_GENERATE_MAX_NEW_TOKENS) \
	  --device $(DEVICE) -o $@ --table $(BW)/$*/mixed-answers.md

MIXED_VARIANTS := $(subst $(comma),$(space),$(BIOS_MIXED_VARIANTS))
$(RESULTS)/bios-mixed/bios-mixed.png: $(foreach v,$(MIXED_VARIANTS),$(BW)/$(v)/answers.parquet $(BW)/$(v)/mixed-answers.parquet) $(BIN)/plot
	$(BIN)/plot bios-qa --answers $(foreach v,$(MIXED_VARIANTS),$(BW)/$(v)/answers.parquet $(BW)/$(v)/mixed-answers.parquet) \
	  --variants $(subst $(space),$(comma),$(foreach v,$(MIXED_VARIANTS),$(v)+finetuned $(v)+mixed)) \
	  -o $(RESULTS)/bios-mixed/bios-mixed

# Celebrity against the same minority biographies without celebrities (single+permute1).
$(RESULTS)/celebrity/celebrity.png: $(BW)/single+permute1/answers.parquet $(BW)/celebrity/answers.parquet $(BIN)/plot
	$(BIN)/plot bios-qa --answers $(BW)/single+permute1/answers.parquet $(BW)/celebrity/answers.parquet \
	  --variants single+permute1,single+permute1+celebrities -o $(RESULTS)/celebrity/celebrity

reproduce-bios-qa: $(RESULTS)/bios-qa/bios-qa.png
reproduce-celebrity: $(RESULTS)/celebrity/celebrity.png
reproduce-bios-mixed: $(RESULTS)/bios-mixed/bios-mixed.png
reproduce-bios-probing: $(RESULTS)/bios-probing/probing.md
endif
