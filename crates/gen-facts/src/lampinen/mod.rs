//! `gen-facts reversals | syllogisms | semantic`: the nonsense-word datasets of Lampinen et al.
//! (2025) — finetuning documents as knowledge rows and multiple-choice test questions as options,
//! every sentence rendered from `data/lampinen/relations.toml`.

mod data;
mod relations;
mod reversals;
mod semantic;
mod syllogisms;
mod words;

use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};
use factlab_artifacts::outputs::{seal_together, write_rows_unsealed};
use factlab_artifacts::{display_path, ChoiceOption, Knowledge, Triple};
use factlab_rng::Rng;

pub use data::LampinenData;
use relations::Relations;

pub const REVERSALS_DATASET: &str = "reversals";
pub const SYLLOGISMS_DATASET: &str = "syllogisms";
pub const SEMANTIC_DATASET: &str = "semantic";

/// Keys of the random streams, one per decision, so that adding one never shifts another.
const WORDS_STREAM: u64 = 1;
const FACTS_STREAM: u64 = 2;
const DOCUMENTS_STREAM: u64 = 3;
const QUESTIONS_STREAM: u64 = 4;
const SHUFFLE_STREAM: u64 = 5;

pub struct ReversalsOptions {
    /// Comparison facts (the paper: 100).
    pub facts: u32,
    /// Training documents per fact, each with its own preamble (the paper: 10).
    pub copies: u32,
    pub seed: u64,
    /// A folder laid out like `data/lampinen/`, replacing the bundled files.
    pub data: Option<PathBuf>,
    pub output: PathBuf,
    pub options_output: Option<PathBuf>,
}

pub struct SyllogismsOptions {
    /// Premise pairs (the paper: 69).
    pub pairs: u32,
    pub seed: u64,
    pub data: Option<PathBuf>,
    pub output: PathBuf,
    pub options_output: Option<PathBuf>,
}

pub struct SemanticOptions {
    /// Training documents (the paper: 2,200).
    pub documents: u32,
    /// Categories whose only trained fact is their parent.
    pub holdouts: u32,
    pub seed: u64,
    pub data: Option<PathBuf>,
    pub output: PathBuf,
    pub options_output: Option<PathBuf>,
}

/// One option of a question: the fact it states and its text after the question's prompt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    pub fact: Triple,
    /// With its leading space.
    pub completion: String,
    pub correct: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    pub split: String,
    pub subset: String,
    pub prompt: String,
    pub choices: Vec<Choice>,
}

/// A generated dataset before it is written: what the tests check.
pub struct Dataset {
    pub documents: Vec<Knowledge>,
    pub questions: Vec<Question>,
    /// Real word → nonsense word (semantic only).
    pub vocabulary: Vec<(String, String)>,
    /// Nonsense names of the held-out categories (semantic only).
    pub holdouts: Vec<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct LampinenSummary {
    pub documents: u64,
    pub facts: u64,
    pub questions: u64,
    pub options: u64,
}

fn load(dir: Option<&Path>) -> Result<LampinenData> {
    match dir {
        Some(dir) => LampinenData::load(dir),
        None => LampinenData::bundled(),
    }
}

pub fn reversals_dataset(options: &ReversalsOptions) -> Result<Dataset> {
    reversals::build(options, &load(options.data.as_deref())?)
}

pub fn syllogisms_dataset(options: &SyllogismsOptions) -> Result<Dataset> {
    syllogisms::build(options, &load(options.data.as_deref())?)
}

pub fn semantic_dataset(options: &SemanticOptions) -> Result<Dataset> {
    semantic::build(options, &load(options.data.as_deref())?)
}

pub fn generate_reversals(options: &ReversalsOptions) -> Result<LampinenSummary> {
    let dataset = reversals_dataset(options)?;
    write(&dataset, &options.output, options.options_output.as_deref())
}

pub fn generate_syllogisms(options: &SyllogismsOptions) -> Result<LampinenSummary> {
    let dataset = syllogisms_dataset(options)?;
    write(&dataset, &options.output, options.options_output.as_deref())
}

pub fn generate_semantic(options: &SemanticOptions) -> Result<LampinenSummary> {
    let dataset = semantic_dataset(options)?;
    write(&dataset, &options.output, options.options_output.as_deref())
}

/// The questions as option rows, questions and options numbered in order.
pub fn option_rows(questions: &[Question]) -> Vec<ChoiceOption> {
    questions
        .iter()
        .enumerate()
        .flat_map(|(question_id, question)| {
            question
                .choices
                .iter()
                .enumerate()
                .map(move |(option_id, choice)| ChoiceOption {
                    question_id: question_id as u32,
                    option_id: option_id as u32,
                    prompt: question.prompt.clone(),
                    completion: choice.completion.clone(),
                    correct: u32::from(choice.correct),
                    split: question.split.clone(),
                    subset: question.subset.clone(),
                })
        })
        .collect()
}

fn write(dataset: &Dataset, output: &Path, options: Option<&Path>) -> Result<LampinenSummary> {
    let rows = option_rows(&dataset.questions);
    // One set: see `factlab_artifacts::outputs`.
    let mut files = vec![write_rows_unsealed(output, &dataset.documents)?];
    if let Some(path) = options {
        files.push(
            write_rows_unsealed(path, &rows)
                .with_context(|| format!("writing options to {}", display_path(path)))?,
        );
    }
    seal_together(files)?;
    Ok(LampinenSummary {
        documents: dataset.documents.len() as u64,
        facts: dataset.documents.iter().map(|d| d.facts.len() as u64).sum(),
        questions: dataset.questions.len() as u64,
        options: rows.len() as u64,
    })
}

fn triple(subject: &str, relation: &str, object: &str) -> Triple {
    Triple {
        subject: subject.to_string(),
        relation: relation.to_string(),
        object: object.to_string(),
    }
}

/// Knowledge rows in a seeded random order (so that packing them in file order never keeps the
/// copies of one fact together), numbered in that order.
fn shuffled_documents(mut documents: Vec<Knowledge>, seed: u64) -> Vec<Knowledge> {
    Rng::derive(seed, &[SHUFFLE_STREAM]).shuffle(&mut documents);
    for (id, document) in documents.iter_mut().enumerate() {
        document.id = id as u32;
    }
    documents
}

/// A question whose options are whole sentences, each stating its fact with template `template`
/// of its relation, in a random order. The prompt is the words all options share at the start;
/// each completion is the rest, from the space before its first differing word.
fn sentence_question(
    relations: &Relations,
    split: &str,
    subset: &str,
    facts: Vec<(Triple, bool)>,
    template: usize,
    rng: &mut Rng,
) -> Result<Question> {
    let mut sentences = Vec::with_capacity(facts.len());
    for (fact, correct) in facts {
        let relation = relations.get(&fact.relation)?;
        let template = relation.templates.get(template).with_context(|| {
            format!(
                "relation `{}` has {} templates; template {} was asked for",
                fact.relation,
                relation.templates.len(),
                template + 1
            )
        })?;
        let text = template.render(&fact.subject, &fact.object);
        sentences.push((fact, correct, text));
    }
    rng.shuffle(&mut sentences);
    let first = &sentences[0].2;
    let mut common = first.len();
    for (_, _, text) in &sentences[1..] {
        let same = first
            .bytes()
            .zip(text.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        common = common.min(same);
    }
    while !first.is_char_boundary(common) {
        common -= 1;
    }
    let cut = first[..common].rfind(' ').filter(|&cut| cut > 0);
    let cut = cut.with_context(|| {
        format!("the options of a {split} question share no opening words: `{first}`")
    })?;
    let prompt = first[..cut].to_string();
    let choices = sentences
        .into_iter()
        .map(|(fact, correct, text)| {
            ensure!(
                text.starts_with(&prompt),
                "option `{text}` does not start with `{prompt}`"
            );
            Ok(Choice {
                fact,
                completion: text[cut..].to_string(),
                correct,
            })
        })
        .collect::<Result<_>>()?;
    Ok(Question {
        split: split.to_string(),
        subset: subset.to_string(),
        prompt,
        choices,
    })
}

/// "a", "a and b", "a, b and c".
fn join_names(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}
