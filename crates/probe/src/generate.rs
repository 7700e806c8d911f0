//! `probe generate`: greedy answers to QA prompts, scored by exact match of the whole attribute
//! (Allen-Zhu & Li, Physics of LMs 3.1 §4), with first-token accuracy as a diagnostic.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use factlab_artifacts::{
    display_path, read_rows, write_atomic, write_rows, Answer, QaPair, ATTRIBUTES,
};
use factlab_model::{greedy_generate, GreedySettings};
use indicatif::ProgressBar;

use crate::{LoadedModel, ModelSource};

/// Which people's questions are asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Split {
    /// P_test: people whose QA was never trained on.
    Test,
    /// P_train: people whose QA was the finetuning data.
    Train,
    /// People held out of P_train (`gen-facts bios --validation-fraction`): hyperparameters
    /// are chosen on their answers, never on P_test's.
    Validation,
    All,
}

impl Split {
    fn keeps(self, split: &str) -> bool {
        match self {
            Split::Test => split == "test",
            Split::Train => split == "train",
            Split::Validation => split == "validation",
            Split::All => true,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Split::Test => "test",
            Split::Train => "train",
            Split::Validation => "validation",
            Split::All => "all",
        }
    }
}

pub struct GenerateOptions {
    pub model: ModelSource,
    pub qa: PathBuf,
    pub split: Split,
    pub max_new_tokens: usize,
    pub output: PathBuf,
    /// Markdown file for the accuracy table.
    pub table: Option<PathBuf>,
}

pub struct GenerateSummary {
    pub questions: usize,
    pub exact_matches: usize,
    /// The per-attribute accuracy table, in Markdown.
    pub table: String,
}

/// Reads the QA pairs, answers those of the chosen split and writes the answers (and the table).
pub fn generate(options: &GenerateOptions, bar: &ProgressBar) -> Result<GenerateSummary> {
    let pairs: Vec<QaPair> = read_rows::<QaPair>(&options.qa)?
        .into_iter()
        .filter(|pair| options.split.keeps(&pair.split))
        .collect();
    if pairs.is_empty() {
        bail!(
            "{}: no question has split `{}` (column `split`); expected `train`, `validation` or `test` values",
            display_path(&options.qa),
            options.split.as_str()
        );
    }
    let loaded = LoadedModel::load(
        &options.model.checkpoint,
        &options.model.tokenizer,
        &options.model.device,
    )?;
    bar.set_length(pairs.len() as u64);
    let answers = answer(
        &loaded,
        &pairs,
        options.max_new_tokens,
        options.model.batch_size,
        bar,
    )
    .with_context(|| format!("answering the questions of {}", display_path(&options.qa)))?;
    write_rows(&options.output, &answers)?;
    let table = format!(
        "Exact-match accuracy of greedy answers: {}, {} questions of {}\n\n{}",
        loaded.folder.display(),
        options.split.as_str(),
        display_path(&options.qa),
        accuracy_table(&answers)
    );
    if let Some(path) = &options.table {
        write_atomic(path, table.as_bytes())?;
    }
    Ok(GenerateSummary {
        questions: answers.len(),
        exact_matches: answers.iter().filter(|a| a.exact_match == 1).count(),
        table,
    })
}

/// Greedy answers to `pairs`: each prompt is the end-of-text token, then `question + " Answer:"`;
/// generation stops at end-of-text, at any token whose text holds a newline, or after
/// `max_new_tokens`.
pub fn answer(
    loaded: &LoadedModel,
    pairs: &[QaPair],
    max_new_tokens: usize,
    batch_size: usize,
    bar: &ProgressBar,
) -> Result<Vec<Answer>> {
    let about = |pair: &QaPair| format!("the {} of person {}", pair.attribute, pair.person_id);
    let prompts = pairs
        .iter()
        .map(|pair| {
            let mut ids = vec![loaded.end_of_text];
            ids.extend(loaded.encode(
                &pair.prompt(),
                &format_args!("the question on {}", about(pair)),
            )?);
            Ok(ids)
        })
        .collect::<Result<Vec<_>>>()?;
    let settings = GreedySettings {
        max_new_tokens,
        stop_tokens: stop_tokens(loaded)?,
        batch_size,
        context: loaded.config.max_position_embeddings,
    };
    let generated = greedy_generate(&loaded.model, &prompts, &settings, &loaded.device, |done| {
        bar.inc(done as u64)
    })?;
    pairs
        .iter()
        .zip(generated)
        .map(|(pair, tokens)| {
            let text = loaded.tokenizer.decode(&tokens, true).map_err(|e| {
                anyhow::anyhow!("decoding the generated answer on {}: {e}", about(pair))
            })?;
            let generated = first_line(&text).to_string();
            let first = loaded.encode(
                &pair.completion(),
                &format_args!("the answer on {}", about(pair)),
            )?;
            Ok(Answer {
                person_id: pair.person_id,
                attribute: pair.attribute.clone(),
                split: pair.split.clone(),
                question: pair.question.clone(),
                answer: pair.answer.clone(),
                exact_match: u32::from(generated == pair.answer),
                first_token_match: u32::from(!first.is_empty() && tokens.first() == first.first()),
                generated,
            })
        })
        .collect()
}

/// What an answer is compared on: the text before the first newline, trimmed.
fn first_line(text: &str) -> &str {
    text.split('\n').next().unwrap_or_default().trim()
}

/// End-of-text and every token whose text holds a newline: an answer is one line.
fn stop_tokens(loaded: &LoadedModel) -> Result<Vec<u32>> {
    let mut stops = vec![loaded.end_of_text];
    for id in 0..loaded.config.vocab() as u32 {
        let text = loaded
            .tokenizer
            .decode(&[id], false)
            .map_err(|e| anyhow::anyhow!("decoding token {id}: {e}"))?;
        if text.contains('\n') && id != loaded.end_of_text {
            stops.push(id);
        }
    }
    Ok(stops)
}

/// Exact-match and first-token accuracy per attribute ([`ATTRIBUTES`] order, then any other
/// attribute by name) and over all questions, as a Markdown table.
pub fn accuracy_table(answers: &[Answer]) -> String {
    let mut groups: BTreeMap<(usize, &str), (usize, usize, usize)> = BTreeMap::new();
    for a in answers {
        let rank = ATTRIBUTES
            .iter()
            .position(|&name| name == a.attribute)
            .unwrap_or(ATTRIBUTES.len());
        let counts = groups.entry((rank, &a.attribute)).or_default();
        counts.0 += 1;
        counts.1 += a.exact_match as usize;
        counts.2 += a.first_token_match as usize;
    }
    let total = groups
        .values()
        .fold((0, 0, 0), |sum, c| (sum.0 + c.0, sum.1 + c.1, sum.2 + c.2));
    let percent = |part: usize, whole: usize| 100.0 * part as f64 / whole.max(1) as f64;
    let mut table = String::from(
        "| attribute | questions | exact match | first token |\n|---|---:|---:|---:|\n",
    );
    let rows = groups
        .iter()
        .map(|((_, name), counts)| (*name, *counts))
        .chain(std::iter::once(("all", total)));
    for (name, (count, exact, first)) in rows {
        table.push_str(&format!(
            "| {name} | {count} | {:.1} % | {:.1} % |\n",
            percent(exact, count),
            percent(first, count)
        ));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(attribute: &str, exact: u32, first: u32) -> Answer {
        Answer {
            person_id: 0,
            attribute: attribute.into(),
            split: "test".into(),
            question: "q".into(),
            answer: "a".into(),
            generated: "g".into(),
            exact_match: exact,
            first_token_match: first,
        }
    }

    #[test]
    fn an_answer_is_its_first_line_trimmed() {
        assert_eq!(first_line(" March 7, 1952 \nWhat is"), "March 7, 1952");
        assert_eq!(first_line("  Paris"), "Paris");
        assert_eq!(first_line("\nParis"), "");
    }

    #[test]
    fn the_table_counts_per_attribute_in_attribute_order_then_all() {
        let answers = [
            answer("major", 1, 1),
            answer("birth_date", 0, 1),
            answer("major", 0, 0),
            answer("birth_date", 0, 0),
            answer("shoe_size", 1, 1),
        ];
        let table = accuracy_table(&answers);
        let rows: Vec<&str> = table.lines().skip(2).collect();
        assert_eq!(
            rows,
            [
                "| birth_date | 2 | 0.0 % | 50.0 % |",
                "| major | 2 | 50.0 % | 50.0 % |",
                "| shoe_size | 1 | 100.0 % | 100.0 % |",
                "| all | 5 | 40.0 % | 60.0 % |",
            ]
        );
    }
}
