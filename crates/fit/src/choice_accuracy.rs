//! `fit choice-accuracy`: multiple-choice accuracy per condition and test split (Lampinen et al.
//! 2025), from `probe score`'s option scores, with standard errors over task subsets.

use std::collections::BTreeMap;
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
            let mut by_subset: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
            for outcome in &in_split {
                let counts = by_subset.entry(&outcome.subset).or_default();
                counts.0 += u32::from(outcome.right);
                counts.1 += 1;
            }
            let subset_accuracies: Vec<f64> = by_subset
                .values()
                .map(|&(right, total)| right as f64 / total as f64)
                .collect();
            ChoiceAccuracyRow {
                condition: condition.to_string(),
                split: split.to_string(),
                questions: in_split.len() as u32,
                accuracy,
                stderr: standard_error(&subset_accuracies, accuracy, n),
                subsets: subset_accuracies.len() as u32,
                chance,
            }
        })
        .collect()
}

/// Over subsets when there are two or more (the paper's error bars); binomial otherwise.
fn standard_error(subset_accuracies: &[f64], accuracy: f64, questions: f64) -> f64 {
    let k = subset_accuracies.len();
    if k >= 2 {
        let mean = subset_accuracies.iter().sum::<f64>() / k as f64;
        let variance = subset_accuracies
            .iter()
            .map(|a| (a - mean).powi(2))
            .sum::<f64>()
            / (k - 1) as f64;
        (variance / k as f64).sqrt()
    } else {
        (accuracy * (1.0 - accuracy) / questions).sqrt()
    }
}

fn table(rows: &[ChoiceAccuracyRow]) -> String {
    let mut text = String::from(
        "# Multiple-choice accuracy per condition and test split\n\nShare of questions whose \
         highest-likelihood option is a right one (%), ± one standard error (over the split's \
         subsets when it has two or more, else binomial); chance is what guessing scores.\n\n\
         | condition | split | accuracy | ± s.e. | chance | questions | subsets |\n\
         |---|---|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        let _ = writeln!(
            text,
            "| {} | {} | {:.1} | {:.1} | {:.1} | {} | {} |",
            row.condition,
            row.split,
            100.0 * row.accuracy,
            100.0 * row.stderr,
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
    fn accuracy_chance_and_subset_errors_are_computed_per_split() {
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
        // Subset accuracies 1.0 and 0.5: sd 0.3536, over sqrt(2).
        assert!((row.stderr - 0.25).abs() < 1e-12, "{}", row.stderr);
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
