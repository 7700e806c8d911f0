use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, ValueEnum};
use std::ops::Bound::{Excluded, Included};

use factlab_cli::{finite_f64_in, int_in, positive, positive_steps, steps, Verbosity};
use inject::qa::QaSplit;
use inject::{InjectOptions, Options, QaOptions};

/// Tokenizer and training shards, with fictional knowledge injected at scheduled steps
/// (Chang et al. 2024, §3).
///
/// Trains a byte-level BPE tokenizer (or loads --tokenizer), packs the corpus into rows of
/// --seq-len tokens, --batch-size rows per step, and writes OUT/tokenizer.json,
/// OUT/shards/shard-NNNNN.parquet, OUT/shards/manifest.json (last) and OUT/inject-summary.json.
/// With --inject and --schedule it also prepends the scheduled knowledge texts to rows of the
/// scheduled steps (rows cut back to --seq-len, the corpus tokens pushed out are dropped) and
/// writes OUT/injections.parquet. Knowledge items that no scenario group takes (those after the
/// last group, in id order) are never injected: the control group; their ids are listed in
/// inject-summary.json as `never_injected`.
///
/// The trained tokenizer is GPT-2's byte-level BPE with one addition: a pre-tokenized piece (a
/// word, a run of digits, punctuation or spaces) longer than 128 bytes is cut into pieces of at
/// most 128 bytes, so training time stays linear in the corpus even for lines without spaces. The
/// cut is a `Split` in tokenizer.json's pre-tokenizer, so Hugging Face `tokenizers` and
/// `transformers` encode the same ids; no natural-language word is that long.
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = "Examples:
  # pretraining shards and a 4096-token tokenizer trained on the corpus and the knowledge texts
  inject -c background.parquet -o runs/pre --vocab-size 4096 --tokenizer-knowledge knowledge.parquet \\
         --seq-len 512 --batch-size 16 --steps 2000

  # continuation shards on corpus text runs/pre did not use, with a small injection schedule
  inject -c background.parquet -o runs/cont --after runs/pre --seq-len 512 --batch-size 16 \\
         --steps 300 --inject knowledge.parquet --schedule pipelines/schedules/smoke.toml

  # the same, at most 3 paragraphs per step (rounds spread over consecutive steps)
  inject -c background.parquet -o runs/cont3 --after runs/pre --seq-len 512 --batch-size 16 \\
         --steps 300 --inject knowledge.parquet --schedule pipelines/schedules/smoke.toml --max-per-step 3

  # the paper's schedule at Δ = 10 (its 120 paragraphs need ≈ 50k tokens of batch at t = 0)
  inject -c background.parquet -o runs/paper --after runs/pre --seq-len 2048 --batch-size 32 \\
         --steps 1000 --inject knowledge.parquet --schedule pipelines/schedules/paper.toml --interval 10

  # biographies (gen-facts bios) seen many times, reshuffled every pass
  inject -c bios.parquet -o runs/bios --shuffle --steps 3000 --seq-len 512 --batch-size 96 --vocab-size 4096

  # QA finetuning on P_train pairs with the same tokenizer (loss on answers only)
  inject -c bios.parquet -o runs/qa --tokenizer runs/bios/tokenizer.json --qa qa.parquet --steps 500 --batch-size 48

  # mixed training: 8 of every 10 rows QA, the rest biographies
  inject -c bios.parquet -o runs/mixed --shuffle --qa qa.parquet --qa-share 0.8 --steps 3000 --vocab-size 4096"
)]
struct Cli {
    /// Corpus: a Parquet file with a `text` column (`-` for stdin).
    #[arg(short, long, value_name = "FILE")]
    corpus: PathBuf,

    /// Output folder.
    #[arg(short, long, value_name = "DIR")]
    out: PathBuf,

    /// Use this tokenizer.json instead of training one.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["vocab_size", "tokenizer_documents", "tokenizer_knowledge"])]
    tokenizer: Option<PathBuf>,

    /// Vocabulary size of the trained tokenizer (256 byte symbols and <|endoftext|> included).
    #[arg(long, default_value_t = 8192, value_parser = int_in(257..=limits::VOCABULARY))]
    vocab_size: usize,

    /// Corpus documents the tokenizer trains on, from the first one read.
    #[arg(long, value_name = "N", default_value_t = 100_000,
          value_parser = int_in(0..=limits::DOCUMENTS as usize))]
    tokenizer_documents: usize,

    /// Knowledge Parquet files whose texts and paraphrases the tokenizer also trains on (the
    /// --inject file is always included).
    #[arg(long, value_name = "FILE")]
    tokenizer_knowledge: Vec<PathBuf>,

    /// Tokens per row.
    #[arg(long, default_value_t = 256, value_parser = positive::<usize>().at_most(limits::SEQ_LEN))]
    seq_len: usize,

    /// Rows per step.
    #[arg(long, default_value_t = 16, value_parser = positive::<usize>().at_most(limits::BATCH))]
    batch_size: usize,

    /// Steps to write; by default as many whole steps as the corpus gives.
    #[arg(long, value_parser = positive_steps())]
    steps: Option<u32>,

    /// Number of the first step [default: 0, or the step after --after's last].
    #[arg(long, value_name = "S", value_parser = steps())]
    start_step: Option<u32>,

    /// Corpus documents to skip before the first row [default: 0, or the first document
    /// --after's rows did not touch].
    #[arg(long, value_name = "N", value_parser = int_in(0..=limits::DOCUMENTS))]
    skip_docs: Option<u64>,

    /// Continue after an earlier inject output folder: use its tokenizer, start at the step after
    /// its last, and skip the corpus documents it used (so continuation batches are unseen text,
    /// as in the paper).
    #[arg(long, value_name = "DIR")]
    after: Option<PathBuf>,

    /// Knowledge Parquet file whose paragraphs are injected (needs --schedule).
    #[arg(long, value_name = "FILE", requires = "schedule")]
    inject: Option<PathBuf>,

    /// Injection schedule TOML (see pipelines/schedules/); t = 0 is the first step written.
    #[arg(long, value_name = "FILE", requires = "inject")]
    schedule: Option<PathBuf>,

    /// Δ, steps between exposures, replacing the schedule file's `interval`.
    #[arg(long, value_name = "STEPS", requires = "schedule", value_parser = positive_steps())]
    interval: Option<u32>,

    /// Spread each round of exposures over consecutive steps, at most K texts per step, taking
    /// the scenario groups in turn; replaces the schedule's `max_per_step`. A deviation from the
    /// paper, which injects a whole round at one step: with a small batch it keeps the injected
    /// share of a step's tokens within the paper's range (about 1 %, or 12–18 % at batch 128).
    /// Each item's window then starts at its own step.
    #[arg(long, value_name = "K", requires = "schedule",
          value_parser = positive::<u32>().at_most(limits::BATCH as u32))]
    max_per_step: Option<u32>,

    /// Read the whole corpus into memory and pack it pass after pass, each pass in a new order
    /// drawn from --seed (needs --steps). For a small corpus seen many times, such as the
    /// biographies of `gen-facts bios`: no two passes alike, and a person's entries never packed
    /// together because the file lists them together.
    #[arg(long)]
    shuffle: bool,

    /// Question–answer Parquet (`gen-facts bios --qa`): fill --qa-share of every step's rows
    /// with whole examples, `question Answer: value<|endoftext|>`, whose loss mask flags the
    /// answer and its end-of-text only (QA finetuning, or mixed training with the corpus).
    /// Pairs come in a new order drawn from --seed on every pass (needs --steps).
    #[arg(long, value_name = "FILE", conflicts_with = "inject")]
    qa: Option<PathBuf>,

    /// Which people's pairs --qa takes (P_train pairs are finetuning data).
    #[arg(long, value_enum, default_value_t = Split::Train, requires = "qa")]
    qa_split: Split,

    /// Share of each step's rows that are QA rows: 1 for QA finetuning; below 1 for mixed
    /// training (the paper's QA_r = 0.8 is a 2:8 BIO:QA token ratio).
    #[arg(long, value_name = "R", default_value_t = 1.0, requires = "qa",
          value_parser = finite_f64_in((Excluded(0.0), Included(1.0))))]
    qa_share: f64,

    /// Seeds --shuffle and --qa orders.
    #[arg(long, default_value_t = 0)]
    seed: u64,

    /// Rows per shard file (rounded down to whole steps, at least one step).
    #[arg(long, value_name = "N", default_value_t = 8192,
          value_parser = positive::<usize>().at_most(limits::SHARD_ROWS))]
    shard_rows: usize,

    #[command(flatten)]
    verbosity: Verbosity,
}

/// Upper bounds of the sizes: far above any experiment, low enough that a mistyped number fails
/// at once (steps: [`factlab_cli::MAX_STEPS`]).
mod limits {
    pub const VOCABULARY: usize = 1 << 20;
    pub const DOCUMENTS: u64 = 1_000_000_000_000;
    pub const SEQ_LEN: usize = 1 << 20;
    pub const BATCH: usize = 1 << 20;
    pub const SHARD_ROWS: usize = 1 << 30;
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Split {
    Train,
    Test,
    All,
}

fn main() -> Result<()> {
    let cli: Cli = factlab_cli::parse();
    cli.verbosity.init_logging();
    let options = Options {
        corpus: cli.corpus,
        out: cli.out,
        tokenizer: cli.tokenizer,
        vocab_size: cli.vocab_size,
        tokenizer_documents: cli.tokenizer_documents,
        tokenizer_knowledge: cli.tokenizer_knowledge,
        seq_len: cli.seq_len,
        batch_size: cli.batch_size,
        steps: cli.steps,
        start_step: cli.start_step,
        skip_documents: cli.skip_docs,
        after: cli.after,
        injection: cli
            .inject
            .zip(cli.schedule)
            .map(|(knowledge, schedule)| InjectOptions {
                knowledge,
                schedule,
                interval: cli.interval,
                max_per_step: cli.max_per_step,
            }),
        shuffle: cli.shuffle,
        seed: cli.seed,
        qa: cli.qa.map(|path| QaOptions {
            path,
            split: match cli.qa_split {
                Split::Train => QaSplit::Train,
                Split::Test => QaSplit::Test,
                Split::All => QaSplit::All,
            },
            share: cli.qa_share,
        }),
        shard_rows: cli.shard_rows,
    };
    // Without --steps the length is unknown until the corpus ends; the bar then only counts.
    let bar = cli
        .verbosity
        .progress(options.steps.map_or(0, u64::from), "steps");
    let summary = inject::run(&options, &bar)?;
    bar.finish_and_clear();
    tracing::info!(
        steps = summary.steps,
        rows = summary.rows,
        injections = summary.injections,
        dropped_corpus_tokens = summary.dropped_corpus_tokens,
        cut_injections = summary.cut_injections,
        "wrote {}",
        options.out.display()
    );
    Ok(())
}
