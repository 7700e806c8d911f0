//! `inject`: tokenizer, pretraining shards and continuation shards with knowledge injected at
//! scheduled steps (Chang et al. 2024, §3).
//!
//! The corpus is streamed in Parquet batches; each batch is tokenized in parallel and the token
//! stream (documents joined by `<|endoftext|>`) is packed into rows of `seq_len`, `batch_size`
//! rows per step, in corpus order with no shuffling, as the paper reads its Dolma batches. At a
//! scheduled step the schedule's texts are prepended to distinct rows and those rows are cut back
//! to `seq_len` ([`mechanism`]).
//!
//! Output folder: `tokenizer.json`, `shards/shard-NNNNN.parquet` + `shards/manifest.json`
//! (written last), `inject-summary.json`, and `injections.parquet` when injecting.

pub mod corpus;
mod fast;
mod injection;
pub mod mechanism;
pub mod pack;
pub mod qa;
pub mod schedule;
mod shards;
mod steps;
mod summary;
pub mod tokenizer;

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use anyhow::{bail, Result};
use factlab_artifacts::outputs::{seal_together_made_from, set_of, write_rows_unsealed};
use factlab_artifacts::{read_rows, write_atomic, Artifact, Knowledge, ShardManifest, ShardRow};
use indicatif::ProgressBar;

use corpus::Corpus;
use injection::{plan_injections, tokenize_plan};
use qa::{QaRows, QaSplit};
use shards::{remove_if_present, ShardSink, MANIFEST};
use steps::{pack_steps, Packed, Stream};
use summary::{injected_shares, previous_run, report_injected_share, Previous};
pub use summary::{InjectedShare, Summary};
use tokenizer::TextTokenizer;

pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const SHARD_FOLDER: &str = "shards";
pub const INJECTIONS_FILE: &str = "injections.parquet";
pub const SUMMARY_FILE: &str = "inject-summary.json";

/// Everything one run needs; `main.rs` fills it from the command line.
#[derive(Clone, Debug)]
pub struct Options {
    /// Parquet file with a `text` column; `-` for stdin.
    pub corpus: PathBuf,
    pub out: PathBuf,
    /// Load this `tokenizer.json` instead of training one.
    pub tokenizer: Option<PathBuf>,
    pub vocab_size: usize,
    /// Corpus documents (from the first one read) the tokenizer trains on.
    pub tokenizer_documents: usize,
    /// Knowledge files whose texts and paraphrases the tokenizer also trains on.
    pub tokenizer_knowledge: Vec<PathBuf>,
    pub seq_len: usize,
    pub batch_size: usize,
    /// Steps to write; `None` packs as many whole steps as the corpus gives.
    pub steps: Option<u32>,
    pub start_step: Option<u32>,
    pub skip_documents: Option<u64>,
    /// A previous `inject` output folder to continue after: its tokenizer, the step after its
    /// last, and the first corpus document its rows did not touch.
    pub after: Option<PathBuf>,
    pub injection: Option<InjectOptions>,
    /// Hold the corpus in memory and pack it pass after pass, each pass in a new order drawn
    /// from `seed` (needs `steps`).
    pub shuffle: bool,
    /// Seeds the corpus passes' and the QA pairs' orders.
    pub seed: u64,
    pub qa: Option<QaOptions>,
    /// Rows per shard file, rounded down to whole steps (at least one step).
    pub shard_rows: usize,
}

/// Question–answer rows with loss masks in every step (QA finetuning, or mixed training).
#[derive(Clone, Debug)]
pub struct QaOptions {
    pub path: PathBuf,
    pub split: QaSplit,
    /// Share of each step's rows that are QA rows (1 for finetuning on QA alone).
    pub share: f64,
}

#[derive(Clone, Debug)]
pub struct InjectOptions {
    pub knowledge: PathBuf,
    pub schedule: PathBuf,
    /// Replaces the schedule file's Δ.
    pub interval: Option<u32>,
    /// Replaces the schedule file's `max_per_step` (texts of one round per step).
    pub max_per_step: Option<u32>,
}

fn load_knowledge(path: &Path) -> Result<Vec<Knowledge>> {
    Ok(read_rows::<Knowledge>(path)?)
}

fn knowledge_texts(items: &[Knowledge]) -> impl Iterator<Item = &str> + Send {
    items
        .iter()
        .flat_map(|k| std::iter::once(&k.text).chain(&k.paraphrases))
        .map(String::as_str)
}

fn resolve_tokenizer(
    options: &Options,
    previous: Option<&Previous>,
    corpus: &mut Corpus,
    injected: &[Knowledge],
) -> Result<TextTokenizer> {
    let given = options
        .tokenizer
        .as_deref()
        .map(TextTokenizer::load)
        .transpose()?;
    if let Some(previous) = previous {
        let earlier = TextTokenizer::load(&previous.tokenizer)?;
        if let (Some(given), Some(path)) = (&given, &options.tokenizer) {
            if !given.same_as(&earlier)? {
                bail!(
                    "mismatched tokenizers: {} differs from {}, which made the shards this run continues; leave out --tokenizer or pass that one",
                    path.display(),
                    previous.tokenizer.display()
                );
            }
        }
        return Ok(earlier);
    }
    if let Some(given) = given {
        return Ok(given);
    }
    let mut extra = Vec::new();
    for path in &options.tokenizer_knowledge {
        extra.extend(load_knowledge(path)?);
    }
    let sample = corpus.peek(options.tokenizer_documents)?;
    tracing::info!(
        documents = sample.len(),
        knowledge_items = injected.len() + extra.len(),
        vocab_size = options.vocab_size,
        "training a byte-level BPE tokenizer"
    );
    let texts = sample
        .iter()
        .map(String::as_str)
        .chain(knowledge_texts(injected))
        .chain(knowledge_texts(&extra));
    TextTokenizer::train(texts, options.vocab_size)
}

/// Runs the stage: writes the output folder and returns its summary. `progress` advances by one
/// per step written.
pub fn run(options: &Options, progress: &ProgressBar) -> Result<Summary> {
    if options.seq_len == 0 || options.batch_size == 0 {
        bail!("--seq-len and --batch-size must be at least 1");
    }
    let previous = options.after.as_deref().map(previous_run).transpose()?;
    let corpus_name = factlab_artifacts::display_path(&options.corpus);
    if let Some(previous) = &previous {
        if previous.corpus != corpus_name {
            tracing::warn!(
                earlier = %previous.corpus,
                now = %corpus_name,
                "--after: the earlier run read another corpus file; its document count is used to skip documents of this one"
            );
        }
    }
    let start_step = options
        .start_step
        .or(previous.as_ref().map(|p| p.start_step))
        .unwrap_or(0);
    let first_document = options
        .skip_documents
        .or(previous.as_ref().map(|p| p.next_document))
        .unwrap_or(0);

    if (options.shuffle || options.qa.is_some()) && options.steps.is_none() {
        bail!("--shuffle and --qa repeat their data without end: give --steps");
    }
    if options.qa.is_some() && options.injection.is_some() {
        bail!("--qa and --inject do not combine: inject knowledge into corpus shards, and make QA shards in a run of their own");
    }
    if let Some(qa) = &options.qa {
        // Biographies and their QA from two `gen-facts bios` runs would train answers to people
        // the corpus never describes.
        factlab_artifacts::outputs::check_same_set(&[&options.corpus, &qa.path])?;
    }
    let shuffle = options.shuffle.then_some(options.seed);
    let mut corpus = Corpus::open(&options.corpus, first_document, shuffle)?;
    let knowledge = match &options.injection {
        Some(inject) => load_knowledge(&inject.knowledge)?,
        None => Vec::new(),
    };
    let (exposures, never_injected) = match &options.injection {
        Some(inject) => {
            let plan = plan_injections(inject, &knowledge, options.steps)?;
            (plan.exposures, plan.never_injected)
        }
        None => (Vec::new(), Vec::new()),
    };
    let tokenizer = resolve_tokenizer(options, previous.as_ref(), &mut corpus, &knowledge)?;
    let plans = tokenize_plan(exposures, &tokenizer, options.batch_size, options.seq_len)?;
    let qa = options
        .qa
        .as_ref()
        .map(|qa| {
            QaRows::load(
                &qa.path,
                qa.split,
                &tokenizer,
                options.seq_len,
                options.seed,
            )
        })
        .transpose()?;

    let shard_folder = options.out.join(SHARD_FOLDER);
    let mut sink = ShardSink::create(
        &shard_folder,
        (options.shard_rows / options.batch_size).max(1) as u32,
    )?;
    write_atomic(
        &options.out.join(TOKENIZER_FILE),
        tokenizer.json().as_bytes(),
    )?;

    let (sender, receiver) = mpsc::sync_channel::<Vec<ShardRow>>(4);
    let (packed, shard_files) = std::thread::scope(|scope| {
        // Encoding and compressing shards on their own thread overlaps with tokenizing the
        // next corpus batch.
        let writer = scope.spawn(move || {
            for rows in receiver {
                sink.write_step(rows[0].step, &rows)?;
            }
            sink.finish()
        });
        let packed = {
            let sender = sender;
            let mut send = |rows| {
                sender
                    .send(rows)
                    .map_err(|_| anyhow::anyhow!("the shard writer stopped"))
            };
            let stream = Stream {
                corpus: &mut corpus,
                tokenizer: &tokenizer,
                first_document,
                start_step,
            };
            pack_steps(options, stream, plans, qa, progress, &mut send)
        };
        (
            packed,
            writer.join().expect("the shard writer does not panic"),
        )
    });
    let shard_files = shard_files?;
    let Packed {
        packer,
        qa,
        steps,
        records,
        totals,
    } = packed?;
    let seq_len = options.seq_len;

    let injections_path = options.out.join(INJECTIONS_FILE);
    // A set of one: its id goes into the manifest, and from there into the logprobs of every
    // run trained on these shards, so that `fit` can tell when it is given other injections.
    // The knowledge's own set id goes into the injections, so that `fit` can check that the
    // probes scored in training came from the same `gen-facts` run.
    let injections_set = if let Some(inject) = &options.injection {
        let knowledge_set = set_of(&inject.knowledge)?.map(|set| set.id);
        let made_from: Vec<(&str, &str)> = knowledge_set
            .iter()
            .map(|id| (Knowledge::NAME, id.as_str()))
            .collect();
        let file = write_rows_unsealed(&injections_path, &records)?;
        Some(seal_together_made_from(vec![file], &made_from)?)
    } else {
        remove_if_present(&injections_path)?;
        None
    };
    let rows = u64::from(steps) * options.batch_size as u64;
    let qa_rows = qa.as_ref().map_or(0, QaRows::rows);
    let summary = Summary {
        corpus: corpus_name,
        first_document,
        next_document: first_document + packer.documents_started(),
        documents_tokenized: packer.documents_tokenized(),
        tokens_tokenized: packer.tokens_tokenized(),
        start_step,
        steps,
        rows,
        corpus_passes: corpus.passes(),
        corpus_tokens_packed: (rows - qa_rows) * seq_len as u64,
        qa_rows,
        qa_pairs: qa.as_ref().map_or(0, |q| q.pairs() as u64),
        qa_passes: qa.as_ref().map_or(0, QaRows::passes),
        dropped_corpus_tokens: totals.dropped,
        injected_rows: totals.injected_rows,
        injections: records.len() as u64,
        cut_injections: totals.cut,
        injected_share: injected_shares(&records, options.batch_size, seq_len),
        never_injected,
    };
    if totals.cut > 0 {
        tracing::warn!(
            "{} of {} injected texts cut at the end of their row, first {} (each one at debug level, -v); a longer --seq-len keeps them whole",
            totals.cut,
            records.len(),
            totals.first_cut.as_deref().unwrap_or("?")
        );
    }
    report_injected_share(&summary.injected_share);
    let summary_text = serde_json::to_string_pretty(&summary).expect("summary serialises");
    write_atomic(
        &options.out.join(SUMMARY_FILE),
        format!("{summary_text}\n").as_bytes(),
    )?;
    let manifest = ShardManifest {
        format: ShardManifest::FORMAT.into(),
        tokenizer: format!("../{TOKENIZER_FILE}"),
        seq_len: seq_len as u32,
        batch_size: options.batch_size as u32,
        start_step,
        steps,
        eos_token_id: tokenizer.end_of_text(),
        shards: shard_files,
        injections: injections_set,
    };
    manifest.save(&shard_folder.join(MANIFEST))?;
    Ok(summary)
}
