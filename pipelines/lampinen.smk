# Lampinen et al. 2025 in miniature: the targets of pipelines/lampinen.mk as Snakemake rules
# (included by the Snakefile). Run from the repository root after `make build`:
#
#   snakemake -s pipelines/Snakefile -c2 results/icl-vs-finetune/icl-vs-finetune.png --config preset=tiny
#   snakemake -s pipelines/Snakefile -c2 results/icl-vs-finetune/icl-vs-finetune.png --config preset=smoke
#   snakemake -s pipelines/Snakefile -c2 results/icl-vs-finetune/icl-vs-finetune.png \
#       --config preset=tiny endpoint=http://host:8000/ model=my-model
#
# The preset is pipelines/presets/lampinen-<preset>.toml (a preset without one defines no rules
# here); intermediate files go under <results>/work/lampinen-<preset>/. Conditions are those of
# lampinen.mk: pretrained, finetuned, augmented-reworded (the rules oracle in words no test uses)
# and augmented-rules (the same in the tests' own wording: a recall bound) on every dataset;
# augmented, icl and
# icl-unexposed (the served model's) only on the preset's `served_augment_datasets` and
# `icl_datasets`, and only when it says
# `served = true`.
#
# The served model: with `served = true` and no endpoint= given, the project's own
# (pipelines/served.mk, `make served-install` once) is started by `make served-start` before the
# first job and stopped by `make served-stop` after the last, failed or not; only when jobs that
# need it are to run, and it is stopped only if this run started it (one already running is left
# as it was). Give endpoint=URL model=NAME to use a server you run yourself (vLLM, llama.cpp's
# server, Ollama), as ENDPOINT=/MODEL= do for make. Other keys: served_port= (SERVED_PORT of
# served.mk, 8731), device= (DEVICE, cpu), threads= (train's threads per run; by default split
# over -c as the Makefile splits its cores over JOBS). On a cluster (--executor) the server
# started here runs beside Snakemake, on 127.0.0.1: give the jobs an endpoint= they can reach.

import atexit
import os
import re
import subprocess
from decimal import Decimal

L_PRESET_FILE = f"pipelines/presets/lampinen-{PRESET}.toml"


def make_value(value):
    """A preset value as the `preset` binary writes it for make (lists joined by commas, floats
    as Rust prints them), so the command lines are the Makefile's."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = format(Decimal(repr(value)), "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, list):
        return ",".join(make_value(v) for v in value)
    return str(value)


if os.path.exists(L_PRESET_FILE):
    with open(L_PRESET_FILE, "rb") as f:
        L = {section: {key: make_value(value) for key, value in table.items()}
             for section, table in tomllib.load(f).items()}
    LW = f"{RESULTS}/work/lampinen-{PRESET}"
    LL, LB, LA, LF = L["lampinen"], L["lampinen_base"], L["lampinen_augment"], L["lampinen_finetune"]
    L_SEED = LL["seed"]
    L_DATASETS = LL["datasets"].split(",")
    L_SERVED = LL["served"] == "true"
    L_AUGMENT_DATASETS = LL["served_augment_datasets"].split(",") if L_SERVED else []
    L_ICL_DATASETS = LL["icl_datasets"].split(",") if L_SERVED else []
    L_DEVICE = config.get("device", "cpu")
    # The Makefile's JOBS runs at a time with THREADS threads each: all cores under 4, half under
    # 8, a quarter from 8.
    L_CORES = workflow.cores or 1
    L_THREADS = int(config.get("threads") or max(1, L_CORES // (1 if L_CORES < 4 else 2 if L_CORES < 8 else 4)))
    L_ENDPOINT = config.get("endpoint", "")
    L_MODEL = config.get("model", "smollm2-135m-instruct")
    L_SERVED_PORT = str(config.get("served_port", os.environ.get("SERVED_PORT", "8731")))
    L_SERVED_FLAGS = f"--endpoint {L_ENDPOINT or 'http://127.0.0.1:' + L_SERVED_PORT} --model {L_MODEL}"
    L_BOS_PREFIX = LL["served_bos_prefix"].replace("{", "{{").replace("}", "}}")
    L_BASE_CHECKPOINT = f"{LW}/base/checkpoints/step-{int(LB['steps']):06d}"
    L_TOKENIZER = f"{LW}/pretrain/tokenizer.json"
    L_RUN_TRAIN = f"RAYON_NUM_THREADS={{threads}} {BIN}/train"
    L_DATASET_RE = "|".join(re.escape(d) for d in L_DATASETS)


    def lampinen_conditions(dataset):
        return (["pretrained", "finetuned", "augmented-reworded", "augmented-rules"]
                + (["augmented"] if dataset in L_AUGMENT_DATASETS else [])
                + (["icl", "icl-unexposed"] if dataset in L_ICL_DATASETS else []))


    def lampinen_split(dataset):
        # Semantic documents are split into sentences for augmented finetuning (the paper's §3).
        return LA["semantic_split"] if dataset == "semantic" else "none"


    def lampinen_finetune_text(w):
        # Training text of each finetuned condition: the documents alone, or with augmentations.
        name = "knowledge" if w.condition == "finetuned" else w.condition
        return f"{LW}/{w.dataset}/{name}.parquet"


    L_REVERSALS_CMD = (f"{BIN}/gen-facts reversals -n {LL['reversals_facts']} --copies {LL['reversals_copies']} "
                       f"--seed {L_SEED} -o {LW}/reversals/knowledge.parquet --options {LW}/reversals/options.parquet")
    L_SYLLOGISMS_CMD = (f"{BIN}/gen-facts syllogisms -n {LL['syllogisms_pairs']} --seed {L_SEED} "
                        f"-o {LW}/syllogisms/knowledge.parquet --options {LW}/syllogisms/options.parquet")
    L_SEMANTIC_CMD = (f"{BIN}/gen-facts semantic -n {LL['semantic_documents']} --holdouts {LL['semantic_holdouts']} "
                      f"--seed {L_SEED} -o {LW}/semantic/knowledge.parquet --options {LW}/semantic/options.parquet")
    L_CORPUS_CMD = f"{BIN}/gen-facts background --tokens {LB['corpus_tokens']} --seed {L_SEED} -o {{output}}"
    L_PRETRAIN_CMD = (f"rm -rf {LW}/pretrain && {BIN}/inject -c {LW}/corpus.parquet -o {LW}/pretrain "
                      f"--vocab-size {LB['vocab_size']} "
                      + " ".join(f"--tokenizer-knowledge {LW}/{d}/knowledge.parquet" for d in L_DATASETS)
                      + f" --seq-len {LB['seq_len']} --batch-size {LB['batch_size']} --steps {LB['steps']}")
    # Resumes an interrupted base run; train's exit status 3 (its shards changed since it started,
    # and only that) starts it afresh.
    L_BASE_CMD = (f"status=3; if [ -e {LW}/base/checkpoints/latest ]; then status=0; "
                  f"{L_RUN_TRAIN} --resume {LW}/base --device {L_DEVICE} || status=$?; "
                  f"[ $status != 3 ] || echo '{LW}/base: its inputs changed; starting it afresh' >&2; fi; "
                  f"if [ $status = 3 ]; then "
                  f"rm -rf {LW}/base && {L_RUN_TRAIN} --shards {{input}} --model {LB['model']} --out {LW}/base "
                  f"--lr {LB['lr']} --warmup-steps {LB['warmup_steps']} --seed {L_SEED} --device {L_DEVICE}; "
                  f"else exit $status; fi")
    # The rules oracle's wording per condition: only templates no test uses, or the tests' own.
    L_ORACLE_WORDING = {"augmented-reworded": "disjoint", "augmented-rules": "test"}
    L_AUGMENT_RULES_CMD = (f"{BIN}/augment -i {{input}} -o {{output}} --backend rules "
                           f"--wording {{params.wording}} --strategy {LA['rules_strategies']} --split {{params.split}} --seed {L_SEED}")
    L_AUGMENT_SERVED_CMD = (f"{BIN}/augment -i {{input}} -o {{output}} --backend served "
                            f"--strategy {LA['served_strategies']} --split {{params.split}} --seed {L_SEED} "
                            f"{L_SERVED_FLAGS} --max-tokens {LA['max_tokens']} --context-tokens {LA['context_tokens']} "
                            f"--concurrency 1 --cache {LW}/{{wildcards.dataset}}/augment-requests.jsonl")
    L_FINETUNE_SHARDS_CMD = (f"rm -rf {LW}/{{wildcards.dataset}}/{{wildcards.condition}} && {BIN}/inject "
                             f"-c {{input.text}} -o {LW}/{{wildcards.dataset}}/{{wildcards.condition}} "
                             f"--tokenizer {L_TOKENIZER} --shuffle --seed {L_SEED} --seq-len {LF['seq_len']} "
                             f"--batch-size {LF['batch_size']} --steps {LF['steps']}")
    L_FINETUNE_CMD = (f"rm -rf {LW}/{{wildcards.dataset}}/{{wildcards.condition}}/run && {L_RUN_TRAIN} "
                      f"--shards {{input.shards}} --init {L_BASE_CHECKPOINT} --reset-step --reset-optimizer --reset-schedule "
                      f"--lr {LF['lr']} --warmup-steps 0 --schedule-steps {LF['steps']} --weight-decay 0.01 "
                      f"--seed {L_SEED} --out {LW}/{{wildcards.dataset}}/{{wildcards.condition}}/run --device {L_DEVICE}")
    L_SCORE_PRETRAINED_CMD = (f"{BIN}/probe -q score --checkpoint {L_BASE_CHECKPOINT} --tokenizer {L_TOKENIZER} "
                              f"--options {{input.options}} --device {L_DEVICE} -o {{output}}")
    L_SCORE_FINETUNED_CMD = (f"{BIN}/probe -q score --checkpoint {LW}/{{wildcards.dataset}}/{{wildcards.condition}}/run "
                             f"--tokenizer {L_TOKENIZER} --options {{input.options}} --device {L_DEVICE} -o {{output}}")
    L_ICL_CMD = (f"{BIN}/probe -q score-in-context {L_SERVED_FLAGS} --bos-prefix '{L_BOS_PREFIX}' "
                 f"--options {{input.options}} --context {{input.context}} --context-tokens {LL['icl_context_tokens']} "
                 f"--questions-per-split {LL['icl_questions_per_split']} --seed {L_SEED} "
                 f"--concurrency 1 --cache {LW}/{{wildcards.dataset}}/icl-requests.jsonl -o {{output}}")
    L_ICL_UNEXPOSED_CMD = (f"{BIN}/probe -q score-in-context {L_SERVED_FLAGS} --bos-prefix '{L_BOS_PREFIX}' "
                           f"--options {{input.options}} --questions-per-split {LL['icl_questions_per_split']} "
                           f"--seed {L_SEED} --concurrency 1 --cache {LW}/{{wildcards.dataset}}/icl-unexposed-requests.jsonl "
                           f"-o {{output}}")
    L_CHOICE_ACCURACY_CMD = (f"{BIN}/fit choice-accuracy --scores {{input}} --conditions {{params.conditions}} "
                             f"-o {LW}/{{wildcards.dataset}}")
    L_FIGURE_CMD = (f"{BIN}/plot icl-vs-finetune --accuracy {{input}} --datasets {LL['datasets']} "
                    f"-o {RESULTS}/icl-vs-finetune/icl-vs-finetune")


    rule icl_vs_finetune:
        input: expand(LW + "/{dataset}/choice-accuracy.parquet", dataset=L_DATASETS)
        output: RESULTS + "/icl-vs-finetune/icl-vs-finetune.png"
        shell: L_FIGURE_CMD

    # ------------------------------------------------------------------------- datasets
    rule lampinen_reversals:
        output: LW + "/reversals/knowledge.parquet", LW + "/reversals/options.parquet"
        shell: L_REVERSALS_CMD

    rule lampinen_syllogisms:
        output: LW + "/syllogisms/knowledge.parquet", LW + "/syllogisms/options.parquet"
        shell: L_SYLLOGISMS_CMD

    rule lampinen_semantic:
        output: LW + "/semantic/knowledge.parquet", LW + "/semantic/options.parquet"
        shell: L_SEMANTIC_CMD

    # ------------------------------------------------------------------------- the base model
    # Pretrained on the background corpus; its tokenizer also sees the training documents.
    rule lampinen_corpus:
        output: LW + "/corpus.parquet"
        shell: L_CORPUS_CMD

    rule lampinen_pretrain_shards:
        input: LW + "/corpus.parquet", expand(LW + "/{dataset}/knowledge.parquet", dataset=L_DATASETS)
        output: LW + "/pretrain/shards/manifest.json"
        shell: L_PRETRAIN_CMD

    rule lampinen_base:
        input: LW + "/pretrain/shards/manifest.json"
        output: touch(LW + "/base/done")
        threads: L_THREADS
        shell: L_BASE_CMD

    # ------------------------------------------------------------------------- augmentation
    rule lampinen_augment_rules:
        input: LW + "/{dataset}/knowledge.parquet"
        output: LW + "/{dataset}/{oracle}.parquet"
        wildcard_constraints: dataset=L_DATASET_RE, oracle="|".join(L_ORACLE_WORDING)
        params: split=lambda w: lampinen_split(w.dataset), wording=lambda w: L_ORACLE_WORDING[w.oracle]
        shell: L_AUGMENT_RULES_CMD

    rule lampinen_augment_served:
        input: LW + "/{dataset}/knowledge.parquet"
        output: LW + "/{dataset}/augmented.parquet"
        wildcard_constraints: dataset=L_DATASET_RE
        params: split=lambda w: lampinen_split(w.dataset)
        shell: L_AUGMENT_SERVED_CMD

    # ------------------------------------------------------------------------- finetuning
    rule lampinen_finetune_shards:
        input: text=lampinen_finetune_text, pretrain=LW + "/pretrain/shards/manifest.json"
        output: LW + "/{dataset}/{condition}/shards/manifest.json"
        wildcard_constraints: dataset=L_DATASET_RE, condition="finetuned|augmented-reworded|augmented-rules|augmented"
        shell: L_FINETUNE_SHARDS_CMD

    rule lampinen_finetune:
        input: shards=LW + "/{dataset}/{condition}/shards/manifest.json", base=LW + "/base/done"
        output: touch(LW + "/{dataset}/{condition}/run/done")
        wildcard_constraints: dataset=L_DATASET_RE, condition="finetuned|augmented-reworded|augmented-rules|augmented"
        threads: L_THREADS
        shell: L_FINETUNE_CMD

    # ------------------------------------------------------------------------- scoring
    rule lampinen_score_pretrained:
        input: options=LW + "/{dataset}/options.parquet", base=LW + "/base/done"
        output: LW + "/{dataset}/pretrained/scores.parquet"
        wildcard_constraints: dataset=L_DATASET_RE
        shell: L_SCORE_PRETRAINED_CMD

    rule lampinen_score_finetuned:
        input: options=LW + "/{dataset}/options.parquet", run=LW + "/{dataset}/{condition}/run/done"
        output: LW + "/{dataset}/{condition}/scores.parquet"
        wildcard_constraints: dataset=L_DATASET_RE, condition="finetuned|augmented-reworded|augmented-rules|augmented"
        shell: L_SCORE_FINETUNED_CMD

    rule lampinen_icl:
        input: options=LW + "/{dataset}/options.parquet", context=LW + "/{dataset}/knowledge.parquet"
        output: LW + "/{dataset}/icl/scores.parquet"
        wildcard_constraints: dataset=L_DATASET_RE
        shell: L_ICL_CMD

    rule lampinen_icl_unexposed:
        input: options=LW + "/{dataset}/options.parquet"
        output: LW + "/{dataset}/icl-unexposed/scores.parquet"
        wildcard_constraints: dataset=L_DATASET_RE
        shell: L_ICL_UNEXPOSED_CMD

    rule lampinen_choice_accuracy:
        input: lambda w: [f"{LW}/{w.dataset}/{c}/scores.parquet" for c in lampinen_conditions(w.dataset)]
        output: LW + "/{dataset}/choice-accuracy.parquet"
        wildcard_constraints: dataset=L_DATASET_RE
        params: conditions=lambda w: ",".join(lampinen_conditions(w.dataset))
        shell: L_CHOICE_ACCURACY_CMD

    # ------------------------------------------------------------------------- the served model
    # Started before the first job and stopped after the last, even when a job fails, as
    # `make reproduce-icl-vs-finetune` does; with endpoint= given, the server is yours to run.
    L_SERVED_RULES = {"lampinen_augment_served", "lampinen_icl", "lampinen_icl_unexposed"}
    L_SERVED_MAKE = f"make --no-print-directory SERVED_PORT={L_SERVED_PORT}"
    L_SERVER_STARTED = []


    def lampinen_stop_server():
        if L_SERVER_STARTED:
            L_SERVER_STARTED.clear()
            shell(f"{L_SERVED_MAKE} served-stop")


    onstart:
        if L_SERVED and not L_ENDPOINT and any(job.rule.name in L_SERVED_RULES
                                               for job in workflow.dag.needrun_jobs()):
            if subprocess.run(f"{L_SERVED_MAKE} served-status", shell=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
                print("lampinen: the served model already runs; it is left running afterwards")
            else:
                shell(f"{L_SERVED_MAKE} served-start")
                L_SERVER_STARTED.append(True)
                # Also when Snakemake ends on an exception, which skips onerror.
                atexit.register(lampinen_stop_server)

    onsuccess:
        lampinen_stop_server()

    onerror:
        lampinen_stop_server()
