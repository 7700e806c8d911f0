//! The four test splits of the semantic benchmark, each question with one right option and hard
//! distractors: objects the question's relation holds to for some other entity, never for this
//! one.

use anyhow::Result;
use factlab_artifacts::Triple;
use factlab_rng::Rng;

use super::super::data::{LampinenData, IS_A};
use super::super::{sentence_question, triple, Question, QUESTIONS_STREAM};
use super::World;

/// Options per question: the right one and three distractors.
pub const OPTIONS: usize = 4;

pub const REPHRASINGS: &str = "rephrasings";
pub const REVERSALS: &str = "reversals";
pub const SYLLOGISMS: &str = "syllogisms";
pub const HOLDOUTS: &str = "category-holdouts";

/// Category inclusion or a property: the subsets that standard errors are taken over.
fn subset(relation: &str, data: &LampinenData) -> &'static str {
    let reverse = data
        .relations
        .get(relation)
        .ok()
        .and_then(|r| r.reverse.clone());
    if relation == IS_A || reverse.as_deref() == Some(IS_A) {
        "category"
    } else {
        "property"
    }
}

pub(super) fn ask(world: &World, data: &LampinenData, seed: u64) -> Result<Vec<Question>> {
    let mut rng = Rng::derive(seed, &[QUESTIONS_STREAM]);
    let mut questions = Vec::new();
    let mut ask = |split: &str, fact: Triple, template: usize, rng: &mut Rng| -> Result<()> {
        let mut pool = world.distractors(&fact.subject, &fact.relation);
        if pool.len() < OPTIONS - 1 {
            tracing::debug!("no {split} question on {fact:?}: too few distractors");
            return Ok(());
        }
        rng.shuffle(&mut pool);
        let mut options = vec![(fact.clone(), true)];
        options.extend(
            pool.into_iter()
                .take(OPTIONS - 1)
                .map(|object| (triple(&fact.subject, &fact.relation, &object), false)),
        );
        let subset = subset(&fact.relation, data);
        questions.push(sentence_question(
            &data.relations,
            split,
            subset,
            options,
            template,
            rng,
        )?);
        Ok(())
    };
    let trained: Vec<usize> = (0..world.names.len())
        .filter(|&c| !world.holdout[c])
        .collect();
    // Rephrasings: a trained fact in a paraphrase, never the canonical sentence documents use.
    for &category in &trained {
        for fact in world.stated(category) {
            let templates = data.relations.get(&fact.relation)?.templates.len();
            anyhow::ensure!(
                templates > 1,
                "relation `{}` has one template in relations.toml; rephrasings need a paraphrase",
                fact.relation
            );
            let template = 1 + rng.below(templates - 1);
            ask(REPHRASINGS, fact, template, &mut rng)?;
        }
    }
    for &category in &trained {
        for fact in world.stated(category) {
            let reverse = &data.relations.reverse_of(&fact.relation)?.name;
            ask(
                REVERSALS,
                triple(&fact.object, reverse, &fact.subject),
                0,
                &mut rng,
            )?;
        }
    }
    // Two hops from trained facts: (c is-a p) with (p is-a g) or (p has property v).
    for &category in &trained {
        let Some(parent) = world.parents[category] else {
            continue;
        };
        let name = &world.names[category];
        let hops = world.stated(parent);
        for second in hops {
            ask(
                SYLLOGISMS,
                triple(name, &second.relation, &second.object),
                0,
                &mut rng,
            )?;
        }
    }
    // Held-out categories: everything that follows from their one trained fact.
    for category in (0..world.names.len()).filter(|&c| world.holdout[c]) {
        let name = &world.names[category];
        let ancestors = world.ancestors(category);
        let parent = &world.names[ancestors[0]];
        let includes = &data.relations.reverse_of(IS_A)?.name;
        ask(HOLDOUTS, triple(parent, includes, name), 0, &mut rng)?;
        for &ancestor in &ancestors[1..] {
            ask(
                HOLDOUTS,
                triple(name, IS_A, &world.names[ancestor]),
                0,
                &mut rng,
            )?;
        }
        for &ancestor in &ancestors {
            for (relation, value) in &world.own[ancestor] {
                ask(HOLDOUTS, triple(name, relation, value), 0, &mut rng)?;
            }
        }
    }
    Ok(questions)
}
