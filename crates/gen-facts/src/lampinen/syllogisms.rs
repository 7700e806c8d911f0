//! Simple syllogisms: two premises about three nonsense sets are trained; the conclusion about
//! the two end sets is tested among four candidates.
//!
//! Sets may be empty (no existential import), and "some" and "no" statements hold in both
//! directions or neither. So the candidates are "all x are y", "all y are x", "some x are y"
//! and "no x are y" (x, y the ends in the prompt's order): stating "some" or "no" in both
//! directions would make two candidates valid. Each mood below has exactly one valid candidate,
//! and conclusions are drawn all, all, some, no in every block of four questions, so a scorer
//! that always prefers one quantifier scores chance (1/4), as guessing does.

use anyhow::{ensure, Result};
use factlab_artifacts::{Knowledge, Triple};
use factlab_rng::Rng;

use super::words::WordSource;
use super::{
    join_names, shuffled_documents, triple, Choice, Dataset, LampinenData, Question,
    SyllogismsOptions, FACTS_STREAM, QUESTIONS_STREAM, SYLLOGISMS_DATASET, WORDS_STREAM,
};

pub const ALL: &str = "all-are";
pub const SOME: &str = "some-are";
pub const NO: &str = "no-are";

/// The three sets of a syllogism: the conclusion's subject, the middle, its predicate.
#[derive(Clone, Copy)]
enum Role {
    Subject,
    Middle,
    Predicate,
}
use Role::{Middle, Predicate, Subject};

/// A valid form with no existential import: its two premises and what they imply about
/// (subject, predicate).
struct Mood {
    name: &'static str,
    premises: [(Role, &'static str, Role); 2],
    conclusion: &'static str,
}

/// Every mood whose conclusion is all, some or no and needs no existential import.
const MOODS: [Mood; 7] = [
    Mood {
        name: "barbara",
        premises: [(Subject, ALL, Middle), (Middle, ALL, Predicate)],
        conclusion: ALL,
    },
    Mood {
        name: "celarent",
        premises: [(Subject, ALL, Middle), (Middle, NO, Predicate)],
        conclusion: NO,
    },
    Mood {
        name: "cesare",
        premises: [(Subject, ALL, Middle), (Predicate, NO, Middle)],
        conclusion: NO,
    },
    Mood {
        name: "camestres",
        premises: [(Predicate, ALL, Middle), (Subject, NO, Middle)],
        conclusion: NO,
    },
    Mood {
        name: "darii",
        premises: [(Subject, SOME, Middle), (Middle, ALL, Predicate)],
        conclusion: SOME,
    },
    Mood {
        name: "datisi",
        premises: [(Middle, ALL, Predicate), (Middle, SOME, Subject)],
        conclusion: SOME,
    },
    Mood {
        name: "disamis",
        premises: [(Middle, SOME, Predicate), (Middle, ALL, Subject)],
        conclusion: SOME,
    },
];

/// The conclusions of a block of questions: "all" has two candidates and "some" and "no" one
/// each, so "all" is right twice as often, and preferring any one quantifier scores 1/4.
const CONCLUSION_BLOCK: [&str; 4] = [ALL, ALL, SOME, NO];

pub(super) fn build(options: &SyllogismsOptions, data: &LampinenData) -> Result<Dataset> {
    ensure!(
        options.pairs > 0,
        "-n is 0; expected at least one premise pair (the paper: 69)"
    );
    let relations = &data.relations;
    for name in [ALL, SOME, NO] {
        relations.get(name)?;
    }
    let context = |names: &[&str]| {
        data.styles
            .syllogism_context
            .replace("{entities}", &join_names(names))
    };
    let mut words = WordSource::new(
        &data.phonemes,
        &data.stoplist,
        Rng::derive(options.seed, &[WORDS_STREAM]),
    );
    let mut rng = Rng::derive(options.seed, &[FACTS_STREAM]);
    let mut question_rng = Rng::derive(options.seed, &[QUESTIONS_STREAM]);
    let mut documents = Vec::new();
    let mut questions = Vec::new();
    let mut block = CONCLUSION_BLOCK;
    for index in 0..options.pairs as usize {
        if index % block.len() == 0 {
            rng.shuffle(&mut block);
        }
        let moods: Vec<&Mood> = MOODS
            .iter()
            .filter(|m| m.conclusion == block[index % block.len()])
            .collect();
        let mood = moods[rng.below(moods.len())];
        let set = words.words(3)?;
        let name = |role: Role| match role {
            Subject => set[0].as_str(),
            Middle => set[1].as_str(),
            Predicate => set[2].as_str(),
        };
        let mut premises: Vec<Triple> = mood
            .premises
            .iter()
            .map(|&(subject, quantifier, object)| triple(name(subject), quantifier, name(object)))
            .collect();
        if rng.chance(0.5) {
            premises.reverse();
        }
        let mut listed = [name(Subject), name(Middle), name(Predicate)];
        rng.shuffle(&mut listed);
        let mut text = context(&listed);
        for premise in &premises {
            text.push(' ');
            text.push_str(&relations.state(
                &premise.subject,
                &premise.relation,
                &premise.object,
            )?);
        }
        documents.push(Knowledge {
            id: 0,
            dataset: SYLLOGISMS_DATASET.to_string(),
            entity: None,
            entity_type: None,
            text,
            paraphrases: Vec::new(),
            facts: premises,
        });
        let (subject, predicate) = (name(Subject), name(Predicate));
        let ends = if rng.chance(0.5) {
            (subject, predicate)
        } else {
            (predicate, subject)
        };
        questions.push(conclusion_question(
            data,
            &context(&[ends.0, ends.1]),
            mood,
            ends,
            subject,
            &mut question_rng,
        )?);
    }
    Ok(Dataset {
        documents: shuffled_documents(documents, options.seed),
        questions,
        vocabulary: Vec::new(),
        holdouts: Vec::new(),
    })
}

/// The four candidates about the ends (x, y), each a whole sentence after the context that
/// names them: "all" both ways, "some" and "no" as x, y (their converses say the same). The
/// right one is the mood's conclusion, "all" only with the mood's subject first.
fn conclusion_question(
    data: &LampinenData,
    prompt: &str,
    mood: &Mood,
    (x, y): (&str, &str),
    subject: &str,
    rng: &mut Rng,
) -> Result<Question> {
    let candidates = [(x, ALL, y), (y, ALL, x), (x, SOME, y), (x, NO, y)];
    let mut choices = Vec::with_capacity(candidates.len());
    for (first, quantifier, last) in candidates {
        choices.push(Choice {
            fact: triple(first, quantifier, last),
            completion: format!(" {}", data.relations.state(first, quantifier, last)?),
            correct: quantifier == mood.conclusion && (quantifier != ALL || first == subject),
        });
    }
    rng.shuffle(&mut choices);
    Ok(Question {
        split: SYLLOGISMS_DATASET.to_string(),
        subset: mood.name.to_string(),
        prompt: prompt.to_string(),
        choices,
    })
}
