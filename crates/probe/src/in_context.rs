//! `probe score-in-context`: multiple-choice options scored by a served model with training
//! documents in its prompt (in-context learning, Lampinen et al. 2025 §2), through an
//! OpenAI-compatible `/v1/completions` endpoint that echoes the prompt's log-probabilities.
//!
//! The output is the same option-scores artifact `probe score` writes for our own models, so the
//! conditions are compared by one `fit choice-accuracy`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use factlab_artifacts::{display_path, read_rows, write_rows, ChoiceOption, CorpusDocument};
use factlab_rng::Rng;
use factlab_served::{Client, ClientConfig, LogprobOptions, TokenLogprobs};
use indicatif::ProgressBar;

use crate::score::{check_options, option_scores, ScoreSummary};

pub struct InContextOptions {
    pub served: ClientConfig,
    pub options: PathBuf,
    /// Documents to put in context (any Parquet with a `text` column); none without it.
    pub context: Option<PathBuf>,
    /// Estimated tokens (bytes / 4) of documents per prompt.
    pub context_tokens: usize,
    /// Opens every prompt, before the documents.
    pub instruction: String,
    /// Sent before the prompt and not scored: the model's begin-of-text marker, for servers
    /// that shift prompt log-probabilities by one without it (see the command's help).
    pub bos_prefix: String,
    /// Score at most this many questions per split, a seeded sample (all without it).
    pub questions_per_split: Option<usize>,
    pub seed: u64,
    pub output: PathBuf,
}

/// Reads the options and documents, scores every option in context and writes the scores.
pub fn score_in_context(options: &InContextOptions, bar: &ProgressBar) -> Result<ScoreSummary> {
    let choices = read_rows::<ChoiceOption>(&options.options)?;
    check_options(&choices, &display_path(&options.options))?;
    let choices = match options.questions_per_split {
        Some(limit) => sample_questions(choices, limit, options.seed),
        None => choices,
    };
    let documents: Vec<String> = match &options.context {
        Some(path) => read_rows::<CorpusDocument>(path)?
            .into_iter()
            .map(|d| d.text)
            .collect(),
        None => Vec::new(),
    };
    let library = Library::new(&documents);
    let budget = options.context_tokens.saturating_mul(4);
    let mut contexts: HashMap<u32, String> = HashMap::new();
    for choice in &choices {
        contexts.entry(choice.question_id).or_insert_with(|| {
            let question = question_text(&choices, choice.question_id);
            context_prompt(&options.instruction, &library.select(&question, budget))
        });
    }
    let client = Client::new(options.served.clone())?;
    bar.set_length(choices.len() as u64);
    let logprobs = client.try_map_ordered(
        &choices,
        |choice| {
            let before = format!("{}{}", contexts[&choice.question_id], choice.prompt);
            completion_logprobs(&client, &options.bos_prefix, &before, &choice.completion)
                .with_context(|| {
                    format!(
                        "option {} of question {}",
                        choice.option_id, choice.question_id
                    )
                })
        },
        |_| bar.inc(1),
    )?;
    let scores = option_scores(&choices, &logprobs);
    write_rows(&options.output, &scores)?;
    let stats = client.stats();
    tracing::info!(
        "{} requests sent, {} answered from the cache",
        stats.sent,
        stats.cache_hits
    );
    Ok(ScoreSummary::of(&scores))
}

/// The options of at most `limit` questions per split, drawn with a seeded shuffle; the file's
/// order is kept. A served model answers a few questions a second, our own models thousands.
fn sample_questions(choices: Vec<ChoiceOption>, limit: usize, seed: u64) -> Vec<ChoiceOption> {
    let mut by_split: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for choice in &choices {
        let questions = by_split.entry(&choice.split).or_default();
        if questions.last() != Some(&choice.question_id) && !questions.contains(&choice.question_id)
        {
            questions.push(choice.question_id);
        }
    }
    let mut rng = Rng::new(seed);
    let mut kept: HashSet<u32> = HashSet::new();
    for questions in by_split.values_mut() {
        rng.shuffle(questions);
        kept.extend(questions.iter().take(limit));
    }
    choices
        .into_iter()
        .filter(|c| kept.contains(&c.question_id))
        .collect()
}

/// A question's prompt and all its options: what its documents are chosen by.
fn question_text(choices: &[ChoiceOption], question_id: u32) -> String {
    let mine: Vec<&ChoiceOption> = choices
        .iter()
        .filter(|c| c.question_id == question_id)
        .collect();
    let mut text = mine[0].prompt.clone();
    for choice in mine {
        text.push(' ');
        text.push_str(&choice.completion);
    }
    text
}

fn context_prompt(instruction: &str, documents: &[&str]) -> String {
    if documents.is_empty() {
        return String::new();
    }
    format!("{instruction}\n\n{}\n\n", documents.join("\n"))
}

/// The log-probabilities of `completion`'s tokens after `before`, from one echoed request.
fn completion_logprobs(
    client: &Client,
    bos_prefix: &str,
    before: &str,
    completion: &str,
) -> Result<Vec<f64>> {
    let text = format!("{before}{completion}");
    let reply = client.complete_logprobs(
        &format!("{bos_prefix}{text}"),
        LogprobOptions { top: 1, echo: true },
        // llama.cpp's server refuses 0 new tokens; the one generated is not scored.
        1,
    )?;
    let Some(logprobs) = reply.value.logprobs else {
        bail!("the reply has no log-probabilities");
    };
    // Offsets count characters (code points), as OpenAI's API and llama.cpp's server do.
    let base = offset_base(&logprobs, chars(bos_prefix), chars(&text))?;
    let start = base + chars(before);
    let end = base + chars(&text);
    let mut scored = Vec::new();
    for (i, (&offset, logprob)) in logprobs
        .text_offset
        .iter()
        .zip(&logprobs.token_logprobs)
        .enumerate()
    {
        let offset = offset as usize;
        if offset < start || offset >= end {
            continue;
        }
        if i > 0 && offset > start && scored.is_empty() {
            let previous = logprobs.text_offset[i - 1] as usize + chars(&logprobs.tokens[i - 1]);
            if previous > start {
                bail!(
                    "the token `{}` spans the end of the prompt and the start of the option; \
                     begin the option with a space or end the prompt with one",
                    logprobs.tokens[i - 1]
                );
            }
        }
        scored.push(logprob.with_context(|| {
            format!("the server gave no log-probability for token {i} of the option")
        })?);
    }
    if scored.is_empty() {
        bail!("no token of the option was found in the echoed prompt");
    }
    Ok(scored)
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

/// Where offsets count from: servers count from the start of the prompt, or (llama.cpp with a
/// begin-of-text prefix) from just after the prefix. Told apart by where a token ends: at
/// `prefix + text` when counting from the start. The other way round, only a generated token as
/// long as the prefix could end there, while a token ending at `text` is likely either way; so
/// the first test decides.
fn offset_base(logprobs: &TokenLogprobs, prefix: usize, text: usize) -> Result<usize> {
    let ends: HashSet<usize> = logprobs
        .text_offset
        .iter()
        .zip(&logprobs.tokens)
        .map(|(&offset, token)| offset as usize + chars(token))
        .collect();
    if ends.contains(&(prefix + text)) {
        Ok(prefix)
    } else if ends.contains(&text) {
        Ok(0)
    } else {
        bail!(
            "the echoed tokens do not line up with the prompt ({} characters, {prefix} of them \
             prefix); does the server echo the prompt?",
            prefix + text
        )
    }
}

/// The context documents with their rare words, to pick the ones a question is about.
struct Library<'a> {
    documents: Vec<&'a str>,
    words: Vec<HashSet<String>>,
    /// ln(documents / documents containing the word).
    weight: BTreeMap<String, f64>,
}

fn words(text: &str) -> HashSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

impl<'a> Library<'a> {
    fn new(documents: &'a [String]) -> Self {
        let words: Vec<HashSet<String>> = documents.iter().map(|d| words(d)).collect();
        let mut frequency: BTreeMap<String, usize> = BTreeMap::new();
        for set in &words {
            for word in set {
                *frequency.entry(word.clone()).or_default() += 1;
            }
        }
        let n = documents.len() as f64;
        let weight = frequency
            .into_iter()
            .map(|(word, count)| (word, (n / count as f64).ln()))
            .collect();
        Library {
            documents: documents.iter().map(String::as_str).collect(),
            words,
            weight,
        }
    }

    /// The documents sharing the question's rarest words, best first (ties in file order), as
    /// many as fit `budget` bytes; shown in file order.
    fn select(&self, question: &str, budget: usize) -> Vec<&'a str> {
        let keys: Vec<(String, f64)> = words(question)
            .into_iter()
            .filter_map(|w| self.weight.get(&w).map(|&weight| (w, weight)))
            .filter(|(_, weight)| *weight > 0.0)
            .collect();
        let mut ranked: Vec<(f64, usize)> = self
            .words
            .iter()
            .enumerate()
            .map(|(d, set)| {
                let score = keys
                    .iter()
                    .filter(|(w, _)| set.contains(w))
                    .map(|(_, weight)| weight)
                    .sum::<f64>();
                (score, d)
            })
            .filter(|(score, _)| *score > 0.0)
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut used = 0;
        let mut picked: Vec<usize> = Vec::new();
        for (_, d) in ranked {
            let size = self.documents[d].len() + 1;
            if used + size > budget {
                continue;
            }
            used += size;
            picked.push(d);
        }
        picked.sort_unstable();
        picked.into_iter().map(|d| self.documents[d]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_sharing_the_rare_words_are_picked_within_the_budget() {
        let documents: Vec<String> = [
            "Did you know that femp are more dangerous than glon.",
            "Remember that troff are brighter than yomp.",
            "Did you know that femp are heavier than zept.",
            "It is known that blick are louder than dax.",
        ]
        .map(String::from)
        .to_vec();
        let library = Library::new(&documents);
        let picked = library.select("glon are less dangerous than femp", 1000);
        assert_eq!(picked, vec![documents[0].as_str(), documents[2].as_str()]);
        // The best match alone fits a budget of its own size.
        let picked = library.select("glon are less dangerous than femp", documents[0].len() + 1);
        assert_eq!(picked, vec![documents[0].as_str()]);
    }

    #[test]
    fn a_sample_keeps_whole_questions_up_to_the_limit_per_split() {
        let choices: Vec<ChoiceOption> = (0..30u32)
            .flat_map(|q| {
                (0..3u32).map(move |o| ChoiceOption {
                    question_id: q,
                    option_id: o,
                    prompt: String::new(),
                    completion: String::new(),
                    correct: u32::from(o == 0),
                    split: ["a", "b", "c"][q as usize % 3].into(),
                    subset: String::new(),
                })
            })
            .collect();
        let kept = sample_questions(choices.clone(), 4, 7);
        assert_eq!(kept.len(), 3 * 4 * 3);
        for split in ["a", "b", "c"] {
            let questions: HashSet<u32> = kept
                .iter()
                .filter(|c| c.split == split)
                .map(|c| c.question_id)
                .collect();
            assert_eq!(questions.len(), 4, "{split}");
        }
        assert_eq!(sample_questions(choices.clone(), 4, 7), kept);
        assert_ne!(sample_questions(choices, 4, 8), kept);
    }

    fn echoed(tokens: &[&str], first_offset: u32) -> TokenLogprobs {
        let mut offset = first_offset;
        let mut text_offset = Vec::new();
        for token in tokens {
            text_offset.push(offset);
            offset += token.len() as u32;
        }
        TokenLogprobs {
            tokens: tokens.iter().map(|t| t.to_string()).collect(),
            token_logprobs: (0..tokens.len()).map(|i| Some(-(i as f64))).collect(),
            text_offset,
            top_logprobs: vec![Vec::new(); tokens.len()],
        }
    }

    #[test]
    fn offsets_are_aligned_with_or_without_the_prefix() {
        // "<s>" + "ab cd" + generated "x"; offsets counted from after the prefix.
        let after_prefix = echoed(&["ab", " cd", "x"], 0);
        assert_eq!(offset_base(&after_prefix, 3, 5).unwrap(), 0);
        let from_start = echoed(&["<s>", "ab", " cd", "x"], 0);
        assert_eq!(offset_base(&from_start, 3, 5).unwrap(), 3);
        let wrong = echoed(&["a", "b"], 0);
        assert!(offset_base(&wrong, 3, 5).is_err());
    }
}
