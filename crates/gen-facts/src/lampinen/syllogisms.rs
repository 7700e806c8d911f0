//! Simple syllogisms: two premises about three nonsense sets are trained; the conclusion about
//! the two end sets is tested among all six {all, some, no} × two-direction statements.
//!
//! Sets may be empty (no existential import), and "some" and "no" statements hold in both
//! directions or neither. So a premise pair whose valid conclusion is a "some" or "no" statement
//! always makes two of the six candidates valid; only the chain all a are b, all b are c makes
//! exactly one valid (all a are c: not its converse, and no "some" statement, since a may be
//! empty). Every pair is that chain, its premises in either order.

use anyhow::{ensure, Result};
use factlab_artifacts::Knowledge;
use factlab_rng::Rng;

use super::words::WordSource;
use super::{
    join_names, shuffled_documents, triple, Choice, Dataset, LampinenData, Question,
    SyllogismsOptions, FACTS_STREAM, QUESTIONS_STREAM, SYLLOGISMS_DATASET, WORDS_STREAM,
};

pub const ALL: &str = "all-are";
pub const SOME: &str = "some-are";
pub const NO: &str = "no-are";

/// Premise orders: the premise about the conclusion's subject first, or second.
const FORMS: [&str; 2] = ["subject-premise-first", "subject-premise-second"];

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
    for _ in 0..options.pairs {
        let set = words.words(3)?;
        let (a, b, c) = (set[0].as_str(), set[1].as_str(), set[2].as_str());
        let form = rng.below(FORMS.len());
        let mut premises = vec![triple(a, ALL, b), triple(b, ALL, c)];
        if form == 1 {
            premises.reverse();
        }
        let mut listed = [a, b, c];
        rng.shuffle(&mut listed);
        let mut text = context(&listed);
        for premise in &premises {
            text.push(' ');
            text.push_str(&relations.state(&premise.subject, ALL, &premise.object)?);
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
        let ends = if rng.chance(0.5) { [a, c] } else { [c, a] };
        questions.push(conclusion_question(
            data,
            &context(&ends),
            FORMS[form],
            (a, c),
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

/// The six candidates about the two ends, "all first are last" the right one, each a whole
/// sentence after the context that names the ends.
fn conclusion_question(
    data: &LampinenData,
    prompt: &str,
    form: &str,
    (first, last): (&str, &str),
    rng: &mut Rng,
) -> Result<Question> {
    let mut choices = Vec::new();
    for quantifier in [ALL, SOME, NO] {
        for (subject, object) in [(first, last), (last, first)] {
            choices.push(Choice {
                fact: triple(subject, quantifier, object),
                completion: format!(" {}", data.relations.state(subject, quantifier, object)?),
                correct: quantifier == ALL && subject == first,
            });
        }
    }
    rng.shuffle(&mut choices);
    Ok(Question {
        split: SYLLOGISMS_DATASET.to_string(),
        subset: form.to_string(),
        prompt: prompt.to_string(),
        choices,
    })
}
