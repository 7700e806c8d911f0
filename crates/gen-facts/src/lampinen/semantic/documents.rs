//! Training documents: each about one category, stating its facts and then those of its
//! neighbours in the hierarchy, as a short article, a list or a few question-and-answer lines.
//! Every sentence or line states exactly one fact, worded canonically, and the only wording not
//! from a fact is a list header that names nothing.

use std::collections::{HashSet, VecDeque};

use anyhow::Result;
use factlab_artifacts::{Knowledge, Triple};
use factlab_rng::Rng;
use rayon::prelude::*;

use super::super::{shuffled_documents, LampinenData, SemanticOptions, DOCUMENTS_STREAM};
use super::World;

const SENTENCES: std::ops::RangeInclusive<usize> = 4..=20;
/// QA lines in a question-and-answer document, at most.
const QA_LINES: usize = 3;

enum Style {
    Article,
    List,
    Qa,
}

pub(super) fn write(
    world: &World,
    data: &LampinenData,
    options: &SemanticOptions,
) -> Result<Vec<Knowledge>> {
    let count = world.names.len();
    // Each category opens at least one document, so each of its facts is trained.
    let mut order: Vec<usize> = (0..count).collect();
    Rng::derive(options.seed, &[DOCUMENTS_STREAM]).shuffle(&mut order);
    let documents = (0..options.documents as u64)
        .into_par_iter()
        .map(|index| {
            let mut rng = Rng::derive(options.seed, &[DOCUMENTS_STREAM, index]);
            document(world, data, order[index as usize % count], &mut rng)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(shuffled_documents(documents, options.seed))
}

fn document(world: &World, data: &LampinenData, main: usize, rng: &mut Rng) -> Result<Knowledge> {
    let facts = gather(world, main, rng);
    let style = match rng.below(10) {
        0..=4 => Style::Article,
        5..=7 => Style::List,
        _ => Style::Qa,
    };
    let state = |fact: &Triple| {
        data.relations
            .state(&fact.subject, &fact.relation, &fact.object)
    };
    let (text, facts) = match style {
        Style::Article => {
            let sentences = facts.iter().map(state).collect::<Result<Vec<_>>>()?;
            (sentences.join(" "), facts)
        }
        Style::List => {
            let mut facts = facts;
            rng.shuffle(&mut facts);
            let mut text = rng.choose(&data.styles.list_headers).clone();
            for fact in &facts {
                text.push_str("\n- ");
                text.push_str(&state(fact)?);
            }
            (text, facts)
        }
        Style::Qa => {
            // The last few facts that have a question form become QA lines after the prose.
            let mut prose = Vec::new();
            let mut asked = Vec::new();
            for fact in facts.into_iter().rev() {
                if asked.len() < QA_LINES && data.styles.qa.contains_key(&fact.relation) {
                    asked.push(fact);
                } else {
                    prose.push(fact);
                }
            }
            prose.reverse();
            asked.reverse();
            let mut text = prose
                .iter()
                .map(state)
                .collect::<Result<Vec<_>>>()?
                .join(" ");
            for fact in &asked {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&data.styles.qa[&fact.relation].render(&fact.subject, &fact.object));
            }
            (text, prose.into_iter().chain(asked).collect())
        }
    };
    Ok(Knowledge {
        id: 0,
        dataset: super::super::SEMANTIC_DATASET.to_string(),
        entity: Some(world.names[main].clone()),
        entity_type: Some("category".to_string()),
        text,
        paraphrases: Vec::new(),
        facts,
    })
}

/// All facts about `main`, then facts about categories ever further from it in the hierarchy
/// (parent and children first), until the document's drawn length.
fn gather(world: &World, main: usize, rng: &mut Rng) -> Vec<Triple> {
    let own = world.stated(main);
    let length = rng
        .range_inclusive(*SENTENCES.start(), *SENTENCES.end())
        .max(own.len());
    let mut facts = own;
    let mut visited = HashSet::from([main]);
    let mut queue = VecDeque::from([main]);
    while let Some(at) = queue.pop_front() {
        let mut next: Vec<usize> = world.parents[at]
            .into_iter()
            .chain(world.children[at].iter().copied())
            .filter(|n| visited.insert(*n))
            .collect();
        rng.shuffle(&mut next);
        for neighbour in next {
            if facts.len() >= length {
                return facts;
            }
            let mut more = world.stated(neighbour);
            rng.shuffle(&mut more);
            let room = length - facts.len();
            more.truncate(room);
            facts.extend(more);
            queue.push_back(neighbour);
        }
    }
    facts
}
