# Physics of LMs 3.1 targets of pipelines/bios.mk as Snakemake rules (included by the Snakefile):
#
#   snakemake -s pipelines/Snakefile -c2 results/bios-qa/bios-qa.png --config preset=tiny
#   snakemake -s pipelines/Snakefile -c2 results/bios-probing/probing.md --config preset=tiny
#   snakemake -s pipelines/Snakefile -c2 results/celebrity/celebrity.png --config preset=tiny
#   snakemake -s pipelines/Snakefile -c2 results/bios-mixed/bios-mixed.png --config preset=tiny
#
# The preset is pipelines/presets/bios-<preset>.toml (a preset without one defines no rules here).

import os

B_PRESET_FILE = f"pipelines/presets/bios-{PRESET}.toml"
if os.path.exists(B_PRESET_FILE):
    with open(B_PRESET_FILE, "rb") as f:
        B = tomllib.load(f)
    BW = f"{RESULTS}/work/bios-{PRESET}"
    BP, BF = B["bios_pretrain"], B["bios_finetune"]
    VARIANTS = B["bios"]["variants"]
    BIOS_SEED = B["bios"]["seed"]

    BIOS_CMD = (f"{BIN}/gen-facts bios -n {B['bios']['people']} --variant {{wildcards.variant}} "
                f"--validation-fraction {B['bios']['validation_fraction']} "
                f"--seed {BIOS_SEED} -o {{output.bios}} --people {{output.people}} --qa {{output.qa}}")
    BIOS_PRETRAIN_CMD = (f"rm -rf {BW}/{{wildcards.variant}}/pretrain && {BIN}/inject -c {{input}} "
                         f"-o {BW}/{{wildcards.variant}}/pretrain --shuffle --seed {BIOS_SEED} "
                         f"--vocab-size {BP['vocab_size']} --seq-len {BP['seq_len']} "
                         f"--batch-size {BP['batch_size']} --steps {BP['steps']}")
    # Resumes an interrupted run; train's exit status 3 (its shards changed since it started, and only
    # that) starts it afresh.
    BIOS_BASE_CMD = (f"status=3; if [ -e {BW}/{{wildcards.variant}}/base/checkpoints/latest ]; then status=0; "
                     f"{BIN}/train --resume {BW}/{{wildcards.variant}}/base || status=$?; "
                     f"[ $status != 3 ] || echo '{BW}/{{wildcards.variant}}/base: its inputs changed; starting it afresh' >&2; fi; "
                     f"if [ $status = 3 ]; then "
                     f"rm -rf {BW}/{{wildcards.variant}}/base && {BIN}/train --shards {{input}} "
                     f"--model {BP['model']} --out {BW}/{{wildcards.variant}}/base --lr {BP['lr']} "
                     f"--warmup-steps {BP['warmup_steps']} --weight-decay 0.1 --seed {BIOS_SEED}; "
                     f"else exit $status; fi")
    BIOS_QA_SHARDS_CMD = (f"rm -rf {BW}/{{wildcards.variant}}/qa-train && {BIN}/inject "
                          f"-c {BW}/{{wildcards.variant}}/bios.parquet -o {BW}/{{wildcards.variant}}/qa-train "
                          f"--tokenizer {BW}/{{wildcards.variant}}/pretrain/tokenizer.json --qa {{input.qa}} "
                          f"--qa-split train --seed {BIOS_SEED} --seq-len {BP['seq_len']} "
                          f"--batch-size {BF['batch_size']} --steps {BF['steps']}")
    # Full finetuning, or LoRA when the preset sets bios_finetune.lora_rank / lora_embedding_rank.
    BIOS_FINETUNE_LORA = " ".join(
        f"--{flag} {BF[key]}" for key, flag in [("lora_rank", "lora-rank"),
                                                ("lora_embedding_rank", "lora-embedding-rank")]
        if str(BF.get(key, "")) != "")
    BIOS_FINETUNE_CMD = (f"rm -rf {BW}/{{wildcards.variant}}/finetune && {BIN}/train --shards {{input.shards}} "
                         f"--init {BW}/{{wildcards.variant}}/base/checkpoints/step-{int(BP['steps']):06d} "
                         f"--reset-step --reset-optimizer --reset-schedule --lr {BF['lr']} --warmup-steps 0 "
                         f"--schedule-steps {BF['steps']} --weight-decay 0.01 {BIOS_FINETUNE_LORA} "
                         f"--out {BW}/{{wildcards.variant}}/finetune")
    BIOS_ANSWERS_CMD = (f"{BIN}/probe generate --checkpoint {BW}/{{wildcards.variant}}/finetune "
                        f"--tokenizer {BW}/{{wildcards.variant}}/pretrain/tokenizer.json --qa {{input.qa}} "
                        f"--split test --max-new-tokens {B['bios_generate']['max_new_tokens']} "
                        f"-o {{output.answers}} --table {{output.table}}")
    BIOS_PROBE_CMD = (f"{BIN}/probe hidden --checkpoint {BW}/{{wildcards.variant}}/base "
                      f"--tokenizer {BW}/{{wildcards.variant}}/pretrain/tokenizer.json {{params.input}} "
                      f"--layers last -o {BW}/{{wildcards.variant}}/hidden-{{wildcards.kind}}.parquet && "
                      f"{BIN}/fit linear-probe --hidden {BW}/{{wildcards.variant}}/hidden-{{wildcards.kind}}.parquet "
                      f"--people {BW}/{{wildcards.variant}}/people.parquet "
                      f"--ridge {','.join(str(r) for r in B['bios_probe']['ridge'])} "
                      f"-o {BW}/{{wildcards.variant}}/{{wildcards.kind}}-probe")
    BIOS_QA_FIGURE_CMD = (f"{BIN}/plot bios-qa --answers {{input}} --variants {','.join(VARIANTS)} "
                          f"-o {RESULTS}/bios-qa/bios-qa")
    BIOS_PROBING_CMD = (f"{BIN}/plot probe-positions --probes "
                        + " ".join(f"{BW}/{v}/p-probe/linear-probe.parquet" for v in VARIANTS)
                        + f" --variants {','.join(VARIANTS)} -o {RESULTS}/bios-probing/p-probes && "
                        + f"{BIN}/plot q-probe-qa --probes "
                        + " ".join(f"{BW}/{v}/q-probe/linear-probe.parquet" for v in VARIANTS)
                        + " --answers " + " ".join(f"{BW}/{v}/answers.parquet" for v in VARIANTS)
                        + f" --variants {','.join(VARIANTS)} -o {RESULTS}/bios-probing/q-probe-qa && "
                        "{{ for v in " + " ".join(VARIANTS) + "; do echo \"# $v: P-probing\"; "
                        f"tail -n +2 {BW}/$v/p-probe/linear-probe.md; echo; echo \"# $v: Q-probing\"; "
                        f"tail -n +2 {BW}/$v/q-probe/linear-probe.md; echo; done; "
                        f"cat {RESULTS}/bios-qa/bios-qa.md; }}}} > {{output}}")


    rule bios_data:
        output: bios=BW + "/{variant}/bios.parquet", people=BW + "/{variant}/people.parquet", qa=BW + "/{variant}/qa.parquet"
        shell: BIOS_CMD

    rule bios_pretrain_shards:
        input: BW + "/{variant}/bios.parquet"
        output: BW + "/{variant}/pretrain/shards/manifest.json"
        shell: BIOS_PRETRAIN_CMD

    rule bios_base:
        input: BW + "/{variant}/pretrain/shards/manifest.json"
        output: touch(BW + "/{variant}/base/done")
        shell: BIOS_BASE_CMD

    rule bios_qa_shards:
        input: qa=BW + "/{variant}/qa.parquet", pretrain=BW + "/{variant}/pretrain/shards/manifest.json"
        output: BW + "/{variant}/qa-train/shards/manifest.json"
        shell: BIOS_QA_SHARDS_CMD

    rule bios_finetune:
        input: shards=BW + "/{variant}/qa-train/shards/manifest.json", base=BW + "/{variant}/base/done"
        output: touch(BW + "/{variant}/finetune/done")
        shell: BIOS_FINETUNE_CMD

    rule bios_answers:
        input: finetune=BW + "/{variant}/finetune/done", qa=BW + "/{variant}/qa.parquet"
        output: answers=BW + "/{variant}/answers.parquet", table=BW + "/{variant}/answers.md"
        shell: BIOS_ANSWERS_CMD

    rule bios_linear_probe:
        input: BW + "/{variant}/base/done", BW + "/{variant}/bios.parquet", BW + "/{variant}/people.parquet"
        output: BW + "/{variant}/{kind}-probe/linear-probe.md"
        wildcard_constraints: kind="p|q"
        params: input=lambda w: (f"--bios {BW}/{w.variant}/bios.parquet" if w.kind == "p" else f"--people {BW}/{w.variant}/people.parquet")
        shell: BIOS_PROBE_CMD

    rule bios_qa_figure:
        input: expand(BW + "/{variant}/answers.parquet", variant=VARIANTS)
        output: RESULTS + "/bios-qa/bios-qa.png"
        shell: BIOS_QA_FIGURE_CMD

    rule bios_probing:
        input: expand(BW + "/{variant}/{kind}-probe/linear-probe.md", variant=VARIANTS, kind=["p", "q"]), RESULTS + "/bios-qa/bios-qa.png"
        output: RESULTS + "/bios-probing/probing.md"
        shell: BIOS_PROBING_CMD

    # The celebrity experiment (the paper's Figure 8): celebrities with multi5+permute biographies
    # and their QA trained on, beside the main group written single+permute1 and tested.
    CELEBRITY_CMD = (f"{BIN}/gen-facts bios -n {B['bios']['people']} --variant single+permute1 "
                     f"--celebrities {B['bios']['people']} --celebrity-variant multi5+permute --seed {BIOS_SEED} "
                     f"-o {{output.bios}} --people {{output.people}} --qa {{output.qa}}")
    CELEBRITY_FIGURE_CMD = (f"{BIN}/plot bios-qa --answers {{input}} "
                            f"--variants single+permute1,single+permute1+celebrities -o {RESULTS}/celebrity/celebrity")

    rule bios_celebrity_data:
        output: bios=BW + "/celebrity/bios.parquet", people=BW + "/celebrity/people.parquet", qa=BW + "/celebrity/qa.parquet"
        shell: CELEBRITY_CMD

    ruleorder: bios_celebrity_data > bios_data

    rule celebrity_figure:
        input: BW + "/single+permute1/answers.parquet", BW + "/celebrity/answers.parquet"
        output: RESULTS + "/celebrity/celebrity.png"
        shell: CELEBRITY_FIGURE_CMD

    # Mixed training (the paper's Figure 1): from scratch on biography rows and P_train QA rows.
    MIXED_VARIANTS = B["bios_mixed"]["variants"]
    MIXED_SHARDS_CMD = (f"rm -rf {BW}/{{wildcards.variant}}/mixed-shards && {BIN}/inject "
                        f"-c {BW}/{{wildcards.variant}}/bios.parquet -o {BW}/{{wildcards.variant}}/mixed-shards "
                        f"--shuffle --seed {BIOS_SEED} --qa {{input}} --qa-split train "
                        f"--qa-share {B['bios_mixed']['qa_share']} --vocab-size {BP['vocab_size']} "
                        f"--seq-len {BP['seq_len']} --batch-size {BP['batch_size']} --steps {BP['steps']}")
    MIXED_TRAIN_CMD = BIOS_BASE_CMD.replace("/base", "/mixed")
    MIXED_ANSWERS_CMD = (f"{BIN}/probe generate --checkpoint {BW}/{{wildcards.variant}}/mixed "
                         f"--tokenizer {BW}/{{wildcards.variant}}/mixed-shards/tokenizer.json "
                         f"--qa {BW}/{{wildcards.variant}}/qa.parquet --split test "
                         f"--max-new-tokens {B['bios_generate']['max_new_tokens']} "
                         f"-o {{output.answers}} --table {{output.table}}")
    MIXED_FIGURE_CMD = (f"{BIN}/plot bios-qa --answers {{input}} --variants "
                        + ",".join(f"{v}+finetuned,{v}+mixed" for v in MIXED_VARIANTS)
                        + f" -o {RESULTS}/bios-mixed/bios-mixed")

    rule bios_mixed_shards:
        input: BW + "/{variant}/qa.parquet"
        output: BW + "/{variant}/mixed-shards/shards/manifest.json"
        shell: MIXED_SHARDS_CMD

    rule bios_mixed_train:
        input: BW + "/{variant}/mixed-shards/shards/manifest.json"
        output: touch(BW + "/{variant}/mixed/done")
        shell: MIXED_TRAIN_CMD

    rule bios_mixed_answers:
        input: BW + "/{variant}/mixed/done"
        output: answers=BW + "/{variant}/mixed-answers.parquet", table=BW + "/{variant}/mixed-answers.md"
        shell: MIXED_ANSWERS_CMD

    rule bios_mixed_figure:
        input: [f for v in MIXED_VARIANTS for f in (f"{BW}/{v}/answers.parquet", f"{BW}/{v}/mixed-answers.parquet")]
        output: RESULTS + "/bios-mixed/bios-mixed.png"
        shell: MIXED_FIGURE_CMD
