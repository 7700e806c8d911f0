//! `probe score`: the log-likelihood of the options of multiple-choice questions, each option's
//! completion scored after its prompt, and the model's choice per question.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use anyhow::{bail, Result};
use factlab_artifacts::{display_path, read_rows, write_rows, ChoiceOption, OptionScore};
use factlab_model::{encode_continuation, target_logprobs};
use indicatif::ProgressBar;

use crate::{LoadedModel, ModelSource};

pub struct ScoreOptions {
    pub model: ModelSource,
    pub options: PathBuf,
    pub output: PathBuf,
}

pub struct ScoreSummary {
    pub options: usize,
    pub questions: usize,
    /// Questions whose chosen option is marked correct.
    pub right: usize,
}

impl ScoreSummary {
    pub(crate) fn of(scores: &[OptionScore]) -> Self {
        let chosen: Vec<&OptionScore> = scores.iter().filter(|s| s.chosen == 1).collect();
        ScoreSummary {
            options: scores.len(),
            questions: chosen.len(),
            right: chosen.iter().filter(|s| s.correct == 1).count(),
        }
    }
}

/// Reads the options, scores them and writes the scores.
pub fn score(options: &ScoreOptions, bar: &ProgressBar) -> Result<ScoreSummary> {
    let choices = read_rows::<ChoiceOption>(&options.options)?;
    check_options(&choices, &display_path(&options.options))?;
    let loaded = LoadedModel::load(
        &options.model.checkpoint,
        &options.model.tokenizer,
        &options.model.device,
    )?;
    bar.set_length(choices.len() as u64);
    let scores = score_options(&loaded, &choices, options.model.batch_size, bar)?;
    write_rows(&options.output, &scores)?;
    Ok(ScoreSummary::of(&scores))
}

/// Flags are 0 or 1, and no option appears twice in its question.
pub(crate) fn check_options(choices: &[ChoiceOption], file: &str) -> Result<()> {
    let mut seen = HashSet::new();
    for (row, choice) in choices.iter().enumerate() {
        if choice.correct > 1 {
            bail!(
                "{file}: column `correct`, row {row}: is {}; expected 0 or 1",
                choice.correct
            );
        }
        if !seen.insert((choice.question_id, choice.option_id)) {
            bail!(
                "{file}: column `option_id`, row {row}: option {} of question {} appears \
                 twice; expected each option once",
                choice.option_id,
                choice.question_id
            );
        }
    }
    Ok(())
}

/// Scores, in the order of `choices`: each sequence is the end-of-text token, the prompt and
/// the completion, prompt and completion tokenized separately.
pub fn score_options(
    loaded: &LoadedModel,
    choices: &[ChoiceOption],
    batch_size: usize,
    bar: &ProgressBar,
) -> Result<Vec<OptionScore>> {
    let encoded = choices
        .iter()
        .enumerate()
        .map(|(row, choice)| {
            encode_continuation(
                &loaded.tokenizer,
                Some(loaded.end_of_text),
                &choice.prompt,
                &choice.completion,
                loaded.config.max_position_embeddings,
                &format_args!(
                    "row {row} (option {} of question {})",
                    choice.option_id, choice.question_id
                ),
            )
        })
        .collect::<factlab_model::Result<Vec<_>>>()?;
    let sequences: Vec<(&[u32], usize)> = encoded
        .iter()
        .map(|c| (c.ids.as_slice(), c.target_start))
        .collect();
    let logprobs = target_logprobs(
        &loaded.model,
        &sequences,
        batch_size,
        &loaded.device,
        |done| bar.inc(done as u64),
    )?;
    Ok(option_scores(choices, &logprobs))
}

/// Each option's summed and mean log-probability from its tokens' (in the order of `choices`),
/// and its question's choice.
pub(crate) fn option_scores(choices: &[ChoiceOption], logprobs: &[Vec<f64>]) -> Vec<OptionScore> {
    let sums: Vec<f64> = logprobs.iter().map(|l| l.iter().sum()).collect();
    let chosen = choose(choices, &sums);
    choices
        .iter()
        .zip(logprobs)
        .zip(sums.iter().zip(chosen))
        .map(|((choice, logprobs), (&sum, chosen))| OptionScore {
            question_id: choice.question_id,
            option_id: choice.option_id,
            logprob_sum: sum,
            logprob_mean: sum / logprobs.len() as f64,
            tokens: logprobs.len() as u32,
            chosen: u32::from(chosen),
            correct: choice.correct,
            split: choice.split.clone(),
            subset: choice.subset.clone(),
        })
        .collect()
}

/// For each option, whether it has the highest sum of its question; among equal sums the one
/// that comes first.
fn choose(choices: &[ChoiceOption], sums: &[f64]) -> Vec<bool> {
    let mut best: BTreeMap<u32, usize> = BTreeMap::new();
    for (index, choice) in choices.iter().enumerate() {
        best.entry(choice.question_id)
            .and_modify(|b| {
                if sums[index] > sums[*b] {
                    *b = index;
                }
            })
            .or_insert(index);
    }
    let winners: HashSet<usize> = best.into_values().collect();
    (0..choices.len()).map(|i| winners.contains(&i)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option(question_id: u32, option_id: u32, correct: u32) -> ChoiceOption {
        ChoiceOption {
            question_id,
            option_id,
            prompt: "p".into(),
            completion: " c".into(),
            correct,
            split: "reversals".into(),
            subset: "category".into(),
        }
    }

    #[test]
    fn the_highest_sum_of_each_question_is_chosen_ties_to_the_first() {
        let choices = [
            option(7, 0, 0),
            option(7, 1, 1),
            option(3, 0, 1),
            option(7, 2, 0),
            option(3, 1, 0),
        ];
        let chosen = choose(&choices, &[-5.0, -2.0, -1.0, -2.0, -1.0]);
        assert_eq!(chosen, [false, true, true, false, false]);
    }

    #[test]
    fn bad_flags_and_repeated_options_name_the_row() {
        let error = check_options(&[option(1, 0, 0), option(1, 1, 2)], "o.parquet").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("o.parquet: column `correct`, row 1: is 2"),
            "{error}"
        );
        let error = check_options(&[option(1, 0, 0), option(1, 0, 1)], "o.parquet").unwrap_err();
        assert!(error
            .to_string()
            .contains("row 1: option 0 of question 1 appears twice"));
    }
}
