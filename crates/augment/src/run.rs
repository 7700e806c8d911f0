use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use factlab_artifacts::{
    display_path, read_rows, write_rows, AugmentedRow, BioEntry, Knowledge, Person,
};
use factlab_served::{Client, ClientConfig, Stats};
use indicatif::ProgressBar;

use crate::relations::Relations;
use crate::sentences::{split_document, Split};
use crate::served::{knowledge_jobs, run_jobs, Job, Outcome, SamplingSettings};
use crate::{rewrite, rules, Backend, Derived, Strategy, Wording};

pub struct Options {
    /// Knowledge Parquet, or bios Parquet for `rewrite-bio` (`-` for stdin).
    pub input: PathBuf,
    pub output: PathBuf,
    pub strategies: Vec<Strategy>,
    pub backend: Backend,
    pub split: Split,
    pub seed: u64,
    /// The rules backend's relations file.
    pub relations: PathBuf,
    /// The rules backend's templates: the tests' own, or only ones no test uses.
    pub wording: Wording,
    /// Folder of the served backend's prompt files.
    pub prompts: PathBuf,
    /// People Parquet, for `rewrite-bio`.
    pub people: Option<PathBuf>,
    pub paraphrases: u32,
    pub rewrites: u32,
    pub max_attempts: u32,
    pub context_tokens: usize,
    pub sampling: SamplingSettings,
    /// The server, for the served backend.
    pub served: Option<ClientConfig>,
}

#[derive(Debug)]
pub struct Summary {
    pub rows_in: usize,
    pub rows_out: usize,
    pub originals: usize,
    pub augmented: usize,
    /// Served requests (zero for the rules backend).
    pub requests: Stats,
    /// Jobs whose every attempt was rejected, described.
    pub rejected: Vec<String>,
}

impl Summary {
    pub fn line(&self) -> String {
        format!(
            "{} rows in, {} rows out ({} original, {} augmented); {} requests sent ({} retries), \
             {} cache hits; {} rejected",
            self.rows_in,
            self.rows_out,
            self.originals,
            self.augmented,
            self.requests.sent,
            self.requests.retries,
            self.requests.cache_hits,
            self.rejected.len()
        )
    }
}

/// What the input holds: knowledge documents, or biographies with their people.
enum Input {
    Knowledge(Vec<Knowledge>),
    Bios(Vec<BioEntry>, Vec<Person>),
}

pub fn run(options: &Options, bar: &ProgressBar) -> Result<Summary> {
    if options.strategies.is_empty() {
        bail!("no --strategy given");
    }
    if options.max_attempts == 0 {
        bail!("--max-attempts must be at least 1");
    }
    let bios = options.strategies.contains(&Strategy::RewriteBio);
    if bios && options.strategies.len() > 1 {
        bail!("rewrite-bio reads biographies, the other strategies knowledge: run them separately");
    }
    let input = if bios {
        let people = options
            .people
            .as_ref()
            .context("rewrite-bio needs --people (the people.parquet of the biographies)")?;
        factlab_artifacts::outputs::check_same_set(&[&options.input, people])?;
        Input::Bios(read_rows(&options.input)?, read_rows(people)?)
    } else {
        Input::Knowledge(read_rows(&options.input)?)
    };
    let client = match options.backend {
        Backend::Served => {
            let config = options
                .served
                .clone()
                .context("the served backend needs --endpoint and --model")?;
            Some(Client::new(config)?)
        }
        Backend::Rules => None,
    };

    let mut originals: Vec<Original> = Vec::new();
    let mut derived: Vec<Derived> = Vec::new();
    let mut rejected = Vec::new();
    let rows_in;
    match &input {
        Input::Knowledge(documents) => {
            rows_in = documents.len();
            originals.extend(
                documents
                    .iter()
                    .map(|d| original(d.id, &d.dataset, &d.text)),
            );
            let relations = match options.backend {
                Backend::Rules => Some(Relations::load(&options.relations)?),
                Backend::Served => None,
            };
            let mut jobs: Vec<Job<'_>> = Vec::new();
            for &strategy in &options.strategies {
                match (&relations, &client) {
                    (Some(relations), _) => derived.extend(rules::augment(
                        strategy,
                        documents,
                        relations,
                        options.wording,
                        options.seed,
                        options.paraphrases,
                    )?),
                    (None, Some(_)) => jobs.extend(knowledge_jobs(
                        strategy,
                        documents,
                        &options.prompts,
                        options.paraphrases,
                        options.context_tokens,
                        options.seed,
                    )?),
                    (None, None) => unreachable!("a backend is chosen"),
                }
            }
            if let Some(client) = &client {
                serve(client, &jobs, options, bar, &mut derived, &mut rejected)?;
            }
        }
        Input::Bios(entries, people) => {
            rows_in = entries.len();
            originals.extend(
                entries
                    .iter()
                    .map(|e| original(e.person_id, rewrite::DATASET, &e.text)),
            );
            let Some(client) = &client else {
                bail!("rewrite-bio needs a model: use --backend served");
            };
            let jobs = rewrite::bio_jobs(entries, people, &options.prompts, options.rewrites)?;
            serve(client, &jobs, options, bar, &mut derived, &mut rejected)?;
        }
    }
    for report in &rejected {
        tracing::warn!("rejected: {report}");
    }

    let rows = rows(&originals, &derived, options.split, options.backend);
    write_rows(&options.output, &rows)
        .with_context(|| format!("writing {}", display_path(&options.output)))?;
    Ok(Summary {
        rows_in,
        rows_out: rows.len(),
        originals: rows.iter().filter(|r| r.strategy == "original").count(),
        augmented: rows.iter().filter(|r| r.strategy != "original").count(),
        requests: client.map(|c| c.stats()).unwrap_or_default(),
        rejected,
    })
}

/// An input document passed through.
struct Original {
    source_id: u32,
    dataset: String,
    text: String,
}

fn original(source_id: u32, dataset: &str, text: &str) -> Original {
    Original {
        source_id,
        dataset: dataset.to_string(),
        text: text.to_string(),
    }
}

fn serve(
    client: &Client,
    jobs: &[Job<'_>],
    options: &Options,
    bar: &ProgressBar,
    derived: &mut Vec<Derived>,
    rejected: &mut Vec<String>,
) -> Result<()> {
    bar.set_length(jobs.len() as u64);
    let outcomes = run_jobs(
        client,
        jobs,
        options.sampling,
        options.seed,
        options.max_attempts,
        bar,
    )?;
    for outcome in outcomes {
        match outcome {
            Outcome::Kept(d) => derived.push(d),
            Outcome::Rejected(report) => rejected.push(report),
        }
    }
    Ok(())
}

/// Originals first, then the augmentations in strategy and input order, each split as asked;
/// ids are row numbers.
fn rows(
    originals: &[Original],
    derived: &[Derived],
    split: Split,
    backend: Backend,
) -> Vec<AugmentedRow> {
    let passed = originals
        .iter()
        .map(|o| (o.source_id, &o.dataset, &o.text, "original", "none", None));
    let added = derived.iter().map(|d| {
        let strategy = d.strategy.as_str();
        let provenance = d.provenance.as_ref();
        (
            d.source_id,
            &d.dataset,
            &d.text,
            strategy,
            backend.as_str(),
            provenance,
        )
    });
    let mut rows = Vec::new();
    for (source_id, dataset, document, strategy, backend, p) in passed.chain(added) {
        for text in split_document(document, split) {
            rows.push(AugmentedRow {
                id: rows.len() as u32,
                source_id,
                dataset: dataset.clone(),
                text,
                strategy: strategy.to_string(),
                backend: backend.to_string(),
                model: p.map(|p| p.model.clone()),
                prompt_hash: p.map(|p| p.request_key.clone()),
                temperature: p.map(|p| p.temperature),
                top_p: p.map(|p| p.top_p),
                max_tokens: p.map(|p| p.max_tokens),
                sample_seed: p.map(|p| p.sample_seed),
            });
        }
    }
    rows
}
