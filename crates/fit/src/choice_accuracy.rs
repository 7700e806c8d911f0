//! `fit choice-accuracy`: multiple-choice accuracy per condition and test split (Lampinen et al.
//! 2025), from `probe score`'s option scores, with a Wilson 95 % interval over the questions.
//!
//! Why not the paper's standard error over task subsets: a split here has as few as two subsets
//! (the semantic benchmark's `category` and `property`), and a standard deviation of two numbers
//! is no interval (it gave "2.9 ± 0.0"). The Wilson interval treats the split's questions as
//! independent trials, stays inside [0, 1] and is not empty at 0 % or 100 %.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{bail, Result};
use factlab_artifacts::{
    display_path, read_rows, write_atomic, write_rows, ChoiceAccuracyRow, OptionScore,
};

pub const CHOICE_ACCURACY_FILE: &str = "choice-accuracy.parquet";
pub const CHOICE_ACCURACY_TABLE: &str = "choice-accuracy.md";

pub struct ChoiceAccuracyOptions {
    /// One option-scores file per condition.
    pub scores: Vec<PathBuf>,
    /// The conditions' names, in the same order.
    pub conditions: Vec<String>,
    pub output: PathBuf,
}

/// One question's outcome: right or not, and its number of options.
struct Outcome {
    right: bool,
    options: u32,
    split: String,
    subset: String,
}

/// Writes choice-accuracy.parquet and choice-accuracy.md into the output folder.
pub fn run_choice_accuracy(options: &ChoiceAccuracyOptions) -> Result<Vec<ChoiceAccuracyRow>> {
    if options.scores.len() != options.conditions.len() {
        bail!(
            "{} --scores files but {} --conditions names; give one name per file",
            options.scores.len(),
            options.conditions.len()
        );
    }
    let mut rows = Vec::new();
    for (path, condition) in options.scores.iter().zip(&options.conditions) {
        let scores: Vec<OptionScore> = read_rows(path)?;
        let outcomes = outcomes(&scores, &display_path(path))?;
        rows.extend(accuracy_by_split(condition, &outcomes));
    }
    std::fs::create_dir_all(&options.output)?;
    write_rows(&options.output.join(CHOICE_ACCURACY_FILE), &rows)?;
    write_atomic(
        &options.output.join(CHOICE_ACCURACY_TABLE),
        table(&rows).as_bytes(),
    )?;
    Ok(rows)
}

/// Questions in order of first appearance; each must have exactly one chosen option.
fn outcomes(scores: &[OptionScore], origin: &str) -> Result<Vec<Outcome>> {
    let mut questions: BTreeMap<u32, (usize, Outcome, u32)> = BTreeMap::new();
    for (row, score) in scores.iter().enumerate() {
        let entry = questions.entry(score.question_id).or_insert_with(|| {
            (
                row,
                Outcome {
                    right: false,
                    options: 0,
                    split: score.split.clone(),
                    subset: score.subset.clone(),
                },
                0,
            )
        });
        if entry.1.split != score.split {
            bail!(
                "{origin}: column `split`, row {row}: question {} is in `{}` and `{}`; expected \
                 one split per question",
                score.question_id,
                entry.1.split,
                score.split
            );
        }
        entry.1.options += 1;
        if score.chosen == 1 {
            entry.2 += 1;
            entry.1.right = score.correct == 1;
        }
    }
    let mut ordered: Vec<(usize, Outcome)> = Vec::with_capacity(questions.len());
    for (question, (first_row, outcome, chosen)) in questions {
        if chosen != 1 {
            bail!(
                "{origin}: column `chosen`: question {question} has {chosen} chosen options; \
                 expected exactly one (a file written by `probe score`)"
            );
        }
        ordered.push((first_row, outcome));
    }
    ordered.sort_by_key(|(row, _)| *row);
    Ok(ordered.into_iter().map(|(_, outcome)| outcome).collect())
}

/// One row per split, in order of first appearance.
fn accuracy_by_split(condition: &str, outcomes: &[Outcome]) -> Vec<ChoiceAccuracyRow> {
    let mut splits: Vec<&str> = Vec::new();
    for outcome in outcomes {
        if !splits.contains(&outcome.split.as_str()) {
            splits.push(&outcome.split);
        }
    }
    splits
        .into_iter()
        .map(|split| {
            let in_split: Vec<&Outcome> = outcomes.iter().filter(|o| o.split == split).collect();
            let n = in_split.len() as f64;
            let accuracy = in_split.iter().filter(|o| o.right).count() as f64 / n;
            let chance = in_split.iter().map(|o| 1.0 / o.options as f64).sum::<f64>() / n;
            let subsets: BTreeSet<&str> = in_split.iter().map(|o| o.subset.as_str()).collect();
            let (low, high) = wilson_interval(accuracy, n);
            ChoiceAccuracyRow {
                condition: condition.to_string(),
                split: split.to_string(),
                questions: in_split.len() as u32,
                accuracy,
                low,
                high,
                subsets: subsets.len() as u32,
                chance,
            }
        })
        .collect()
}

/// The normal quantile of a two-sided 95 % interval.
const Z_95: f64 = 1.959_963_984_540_054;

/// Wilson score interval of a share `p` of `n` independent trials, at 95 %.
fn wilson_interval(p: f64, n: f64) -> (f64, f64) {
    let z2 = Z_95 * Z_95;
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let half = Z_95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denominator;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

fn table(rows: &[ChoiceAccuracyRow]) -> String {
    let mut text = String::from(
        "# Multiple-choice accuracy per condition and test split\n\nShare of questions whose \
         highest-likelihood option is a right one (%), with its Wilson 95 % interval over the \
         split's questions; chance is what guessing scores.\n\n\
         | condition | split | accuracy | 95 % interval | chance | questions | subsets |\n\
         |---|---|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        let _ = writeln!(
            text,
            "| {} | {} | {:.1} | {:.1}–{:.1} | {:.1} | {} | {} |",
            row.condition,
            row.split,
            100.0 * row.accuracy,
            100.0 * row.low,
            100.0 * row.high,
            100.0 * row.chance,
            row.questions,
            row.subsets
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(
        question_id: u32,
        option_id: u32,
        chosen: u32,
        correct: u32,
        subset: &str,
    ) -> OptionScore {
        OptionScore {
            question_id,
            option_id,
            logprob_sum: 0.0,
            logprob_mean: 0.0,
            tokens: 1,
            chosen,
            correct,
            split: "reversals".into(),
            subset: subset.into(),
        }
    }

    #[test]
    fn accuracy_chance_and_wilson_intervals_are_computed_per_split() {
        // Four 2-way questions, 3 right: subset a 2/2, subset b 1/2.
        let mut scores = Vec::new();
        for (q, right, subset) in [
            (0, true, "a"),
            (1, true, "a"),
            (2, true, "b"),
            (3, false, "b"),
        ] {
            scores.push(score(q, 0, 1, u32::from(right), subset));
            scores.push(score(q, 1, 0, u32::from(!right), subset));
        }
        let rows = accuracy_by_split("finetuned", &outcomes(&scores, "s.parquet").unwrap());
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(row.questions, 4);
        assert!((row.accuracy - 0.75).abs() < 1e-12);
        assert!((row.chance - 0.5).abs() < 1e-12);
        assert_eq!(row.subsets, 2);
        // 3 of 4 at 95 %: centre (0.75 + 0.4802) / 1.9604 = 0.6276, half-width
        // 1.96 × sqrt(0.046875 + 0.0600) / 1.9604 = 0.3269 (Wilson 1927, by hand).
        assert!((row.low - 0.300_64).abs() < 1e-4, "{}", row.low);
        assert!((row.high - 0.954_41).abs() < 1e-4, "{}", row.high);
    }

    #[test]
    fn the_interval_is_not_empty_at_the_extremes_and_narrows_with_questions() {
        let (low, high) = wilson_interval(0.0, 20.0);
        assert_eq!(low, 0.0);
        assert!((high - 0.161_13).abs() < 1e-4, "{high}");
        let (low, high) = wilson_interval(1.0, 20.0);
        assert!((low - 0.838_87).abs() < 1e-4 && high == 1.0, "{low}");
        let width = |n: f64| {
            let (low, high) = wilson_interval(0.5, n);
            high - low
        };
        assert!(width(400.0) < width(100.0) / 1.9);
    }

    #[test]
    fn a_question_without_a_chosen_option_is_refused() {
        let scores = vec![score(7, 0, 0, 1, "a"), score(7, 1, 0, 0, "a")];
        let error = outcomes(&scores, "s.parquet").err().unwrap().to_string();
        assert!(
            error.contains("s.parquet") && error.contains("question 7"),
            "{error}"
        );
    }
}
