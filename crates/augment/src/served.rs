//! The served backend: one chat request per piece of work, sent through the shared client
//! (retries, cache, worker threads), a reply kept only if it passes the job's check, otherwise
//! asked again with the next attempt number.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Result};
use factlab_artifacts::Knowledge;
use factlab_rng::Rng;
use factlab_served::{ChatRequest, Client, Message, Sampling};
use indicatif::ProgressBar;

use crate::prompts::Prompt;
use crate::sentences::{clean_reply, sentences};
use crate::{Derived, Provenance, Strategy};

/// Sampling settings of every augmentation request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplingSettings {
    pub temperature: f64,
    pub top_p: f64,
    pub max_tokens: u32,
}

/// Builds a job's chat when it runs: a global prompt holds the whole training set, so the
/// prompts of all jobs are never in memory at once.
pub type Messages<'a> = Box<dyn Fn() -> Vec<Message> + Send + Sync + 'a>;

/// One piece of work for the model.
pub struct Job<'a> {
    pub source_id: u32,
    /// Input row index: with `sample` and the attempt, it picks the job's sampling seed.
    pub row: u32,
    pub sample: u32,
    pub dataset: String,
    pub strategy: Strategy,
    pub messages: Messages<'a>,
    /// Strings the cleaned reply must contain verbatim to be kept.
    pub must_contain: Vec<String>,
    /// Names the job in a rejection report.
    pub label: String,
}

pub enum Outcome {
    Kept(Derived),
    /// No attempt passed the check: what was missing from the last reply.
    Rejected(String),
}

/// The seed sent with a request: below 2³¹, since servers read it as a 32-bit integer.
fn sample_seed(seed: u64, job: &Job<'_>, attempt: u32) -> u64 {
    let keys = [
        job.strategy.stream(),
        job.row as u64,
        job.sample as u64,
        attempt as u64,
    ];
    Rng::derive(seed, &keys).next_u64() >> 33
}

fn run_job(
    client: &Client,
    job: &Job<'_>,
    settings: SamplingSettings,
    seed: u64,
    max_attempts: u32,
) -> Result<Outcome> {
    let messages = (job.messages)();
    let mut missing = Vec::new();
    for attempt in 0..max_attempts {
        let sample_seed = sample_seed(seed, job, attempt);
        let request = ChatRequest {
            messages: messages.clone(),
            sampling: Sampling {
                temperature: settings.temperature,
                top_p: settings.top_p,
                max_tokens: settings.max_tokens,
                seed: Some(sample_seed),
                stop: Vec::new(),
            },
            attempt,
        };
        let reply = client.chat(&request)?;
        let text = clean_reply(&reply.value.text);
        missing = job
            .must_contain
            .iter()
            .filter(|value| !text.contains(value.as_str()))
            .map(|value| format!("`{value}`"))
            .collect();
        if text.is_empty() {
            missing.push("any text".into());
        }
        if missing.is_empty() {
            return Ok(Outcome::Kept(Derived {
                source_id: job.source_id,
                dataset: job.dataset.clone(),
                text,
                strategy: job.strategy,
                provenance: Some(Provenance {
                    model: client.model().to_string(),
                    request_key: reply.key,
                    temperature: settings.temperature,
                    top_p: settings.top_p,
                    max_tokens: settings.max_tokens,
                    sample_seed,
                }),
            }));
        }
        tracing::debug!(
            "{}: attempt {attempt} lacks {}",
            job.label,
            missing.join(", ")
        );
    }
    Ok(Outcome::Rejected(format!(
        "{}: no reply in {max_attempts} attempts kept everything; the last lacked {}",
        job.label,
        missing.join(", ")
    )))
}

/// Every job's outcome, in job order; stops at the first request that fails for good.
pub fn run_jobs(
    client: &Client,
    jobs: &[Job<'_>],
    settings: SamplingSettings,
    seed: u64,
    max_attempts: u32,
    bar: &ProgressBar,
) -> Result<Vec<Outcome>> {
    client.try_map_ordered(
        jobs,
        |job| run_job(client, job, settings, seed, max_attempts),
        |_| bar.inc(1),
    )
}

/// The jobs of the knowledge strategies, in document order.
pub fn knowledge_jobs<'a>(
    strategy: Strategy,
    documents: &'a [Knowledge],
    prompts: &Path,
    paraphrases: u32,
    context_tokens: usize,
    seed: u64,
) -> Result<Vec<Job<'a>>> {
    let job = |row: usize, sample: u32, messages: Messages<'a>, what: &str| Job {
        source_id: documents[row].id,
        row: row as u32,
        sample,
        dataset: documents[row].dataset.clone(),
        strategy,
        messages,
        must_contain: Vec::new(),
        label: format!("knowledge {} {what}", documents[row].id),
    };
    let mut jobs = Vec::new();
    match strategy {
        Strategy::Local => {
            let prompt = Arc::new(Prompt::load(prompts, "local", &["sentence"])?);
            for (row, document) in documents.iter().enumerate() {
                for (index, sentence) in sentences(&document.text).into_iter().enumerate() {
                    let prompt = Arc::clone(&prompt);
                    let messages = Box::new(move || prompt.messages(&[("sentence", sentence)]));
                    let what = format!("sentence {index}");
                    jobs.push(job(row, index as u32, messages, &what));
                }
            }
        }
        Strategy::Global => {
            let prompt = Arc::new(Prompt::load(prompts, "global", &["documents", "target"])?);
            let overhead = prompt
                .messages(&[("documents", ""), ("target", "")])
                .iter()
                .map(|m| m.content.len())
                .sum();
            for (row, document) in documents.iter().enumerate() {
                let others = global_context(documents, row, overhead, context_tokens, seed)?;
                let prompt = Arc::clone(&prompt);
                let messages = Box::new(move || {
                    let texts: Vec<&str> =
                        others.iter().map(|&i| documents[i].text.as_str()).collect();
                    prompt.messages(&[
                        ("documents", texts.join("\n\n").as_str()),
                        ("target", document.text.as_str()),
                    ])
                });
                jobs.push(job(row, 0, messages, "(global)"));
            }
        }
        Strategy::Paraphrase => {
            let prompt = Arc::new(Prompt::load(prompts, "paraphrase", &["document"])?);
            for (row, document) in documents.iter().enumerate() {
                for sample in 0..paraphrases {
                    let prompt = Arc::clone(&prompt);
                    let messages =
                        Box::new(move || prompt.messages(&[("document", document.text.as_str())]));
                    jobs.push(job(row, sample, messages, &format!("paraphrase {sample}")));
                }
            }
        }
        Strategy::RewriteBio => unreachable!("biography jobs are built from biographies"),
    }
    Ok(jobs)
}

/// The other documents that fit in the context beside the target (tokens estimated as bytes / 4),
/// by index: all of them in input order if they fit, otherwise a seeded sample per target, still
/// in input order.
fn global_context(
    documents: &[Knowledge],
    target: usize,
    overhead_bytes: usize,
    context_tokens: usize,
    seed: u64,
) -> Result<Vec<usize>> {
    let budget = context_tokens.saturating_mul(4);
    let fixed = overhead_bytes + documents[target].text.len();
    if fixed >= budget {
        bail!(
            "--context-tokens {context_tokens} does not hold the global prompt and knowledge {} \
             (about {} tokens)",
            documents[target].id,
            fixed / 4
        );
    }
    // Two bytes of separator (a blank line) per document.
    let cost = |i: usize| documents[i].text.len() + 2;
    let mut others: Vec<usize> = (0..documents.len()).filter(|&i| i != target).collect();
    if others.iter().map(|&i| cost(i)).sum::<usize>() > budget - fixed {
        let mut rng = Rng::derive(seed, &[Strategy::Global.stream(), target as u64]);
        rng.shuffle(&mut others);
        let mut used = 0;
        others.retain(|&i| {
            let fits = used + cost(i) <= budget - fixed;
            if fits {
                used += cost(i);
            }
            fits
        });
        others.sort_unstable();
    }
    Ok(others)
}
