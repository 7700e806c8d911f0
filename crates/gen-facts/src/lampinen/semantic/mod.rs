//! The semantic structure benchmark: a category hierarchy of animals and objects whose every
//! noun, adjective and verb is a nonsense word, described by short documents of stated facts,
//! and tested on rephrasings, reversals, two-hop inferences and held-out categories.

mod documents;
mod questions;

use std::collections::{HashMap, HashSet};

use anyhow::{ensure, Result};
use factlab_artifacts::Triple;
use factlab_rng::Rng;

use super::data::{LampinenData, IS_A};
use super::words::WordSource;
use super::{triple, Dataset, SemanticOptions, FACTS_STREAM, WORDS_STREAM};

/// The hierarchy in nonsense words, with the held-out categories' own properties removed: what
/// the training documents can teach.
pub(super) struct World {
    pub names: Vec<String>,
    pub parents: Vec<Option<usize>>,
    pub children: Vec<Vec<usize>>,
    /// (relation, value) stated about each category besides its parent.
    pub own: Vec<Vec<(String, String)>>,
    pub holdout: Vec<bool>,
    /// Every true fact, forward and reversed.
    truths: HashSet<(String, String, String)>,
    /// Relation → object → the subjects it holds for.
    by_object: HashMap<String, HashMap<String, Vec<String>>>,
}

impl World {
    /// Parent first, then up to the root.
    pub fn ancestors(&self, category: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut at = self.parents[category];
        while let Some(ancestor) = at {
            out.push(ancestor);
            at = self.parents[ancestor];
        }
        out
    }

    /// The facts the documents state about the category: its parent first.
    pub fn stated(&self, category: usize) -> Vec<Triple> {
        let name = &self.names[category];
        self.parents[category]
            .map(|parent| triple(name, IS_A, &self.names[parent]))
            .into_iter()
            .chain(
                self.own[category]
                    .iter()
                    .map(|(relation, value)| triple(name, relation, value)),
            )
            .collect()
    }

    pub fn holds(&self, subject: &str, relation: &str, object: &str) -> bool {
        self.truths.contains(&(
            subject.to_string(),
            relation.to_string(),
            object.to_string(),
        ))
    }

    /// Objects that `relation` holds to for some subject other than `subject`, but not for
    /// `subject`: the hard distractors of a question about `subject`. Sorted.
    pub fn distractors(&self, subject: &str, relation: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .by_object
            .get(relation)
            .into_iter()
            .flatten()
            .filter(|(object, subjects)| {
                *object != subject
                    && subjects.iter().any(|s| s != subject)
                    && !self.holds(subject, relation, object)
            })
            .map(|(object, _)| object.clone())
            .collect();
        out.sort();
        out
    }

    fn new(
        data: &LampinenData,
        names: Vec<String>,
        own: Vec<Vec<(String, String)>>,
    ) -> Result<Self> {
        let count = names.len();
        let parents: Vec<Option<usize>> = data.categories.iter().map(|c| c.parent).collect();
        let mut children = vec![Vec::new(); count];
        for (child, parent) in parents.iter().enumerate() {
            if let Some(parent) = parent {
                children[*parent].push(child);
            }
        }
        let mut world = World {
            names,
            parents,
            children,
            own,
            holdout: vec![false; count],
            truths: HashSet::new(),
            by_object: HashMap::new(),
        };
        let mut forward = Vec::new();
        for category in 0..count {
            let name = world.names[category].clone();
            let ancestors = world.ancestors(category);
            for &ancestor in &ancestors {
                forward.push(triple(&name, IS_A, &world.names[ancestor]));
            }
            for &holder in std::iter::once(&category).chain(&ancestors) {
                for (relation, value) in &world.own[holder] {
                    forward.push(triple(&name, relation, value));
                }
            }
        }
        for fact in forward {
            let reverse = data.relations.reverse_of(&fact.relation)?.name.clone();
            for (subject, relation, object) in [
                (&fact.subject, &fact.relation, &fact.object),
                (&fact.object, &reverse, &fact.subject),
            ] {
                world
                    .by_object
                    .entry(relation.clone())
                    .or_default()
                    .entry(object.clone())
                    .or_default()
                    .push(subject.clone());
                world
                    .truths
                    .insert((subject.clone(), relation.clone(), object.clone()));
            }
        }
        Ok(world)
    }
}

pub(super) fn build(options: &SemanticOptions, data: &LampinenData) -> Result<Dataset> {
    let count = data.categories.len();
    ensure!(
        options.documents as usize >= count,
        "-n is {}; expected at least {count} documents, one about each category, so that every \
         fact a question needs is trained",
        options.documents
    );
    // Every real word, categories first, each once, in file order.
    let mut real: Vec<&str> = data.categories.iter().map(|c| c.name.as_str()).collect();
    let mut seen: HashSet<&str> = real.iter().copied().collect();
    for category in &data.categories {
        for (_, value) in &category.properties {
            if seen.insert(value) {
                real.push(value);
            }
        }
    }
    let mut source = WordSource::new(
        &data.phonemes,
        &data.stoplist,
        Rng::derive(options.seed, &[WORDS_STREAM]),
    );
    let nonsense = source.words(real.len())?;
    let word: HashMap<&str, &str> = real
        .iter()
        .copied()
        .zip(nonsense.iter().map(String::as_str))
        .collect();

    let holdouts = choose_holdouts(data, options)?;
    let names: Vec<String> = data
        .categories
        .iter()
        .map(|c| word[c.name.as_str()].to_string())
        .collect();
    let own: Vec<Vec<(String, String)>> = data
        .categories
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if holdouts.contains(&i) {
                return Vec::new();
            }
            c.properties
                .iter()
                .map(|(relation, value)| (relation.clone(), word[value.as_str()].to_string()))
                .collect()
        })
        .collect();
    let mut world = World::new(data, names, own)?;
    for &h in &holdouts {
        world.holdout[h] = true;
    }
    let documents = documents::write(&world, data, options)?;
    let questions = questions::ask(&world, data, options.seed)?;
    Ok(Dataset {
        documents,
        questions,
        vocabulary: real
            .iter()
            .map(|r| (r.to_string(), word[r].to_string()))
            .collect(),
        holdouts: holdouts.iter().map(|&h| world.names[h].clone()).collect(),
    })
}

/// Leaves with a grandparent, so that something beyond their parent can be inferred about them.
fn choose_holdouts(data: &LampinenData, options: &SemanticOptions) -> Result<Vec<usize>> {
    let has_children: HashSet<usize> = data.categories.iter().filter_map(|c| c.parent).collect();
    let eligible: Vec<usize> = (0..data.categories.len())
        .filter(|&i| {
            let parent = data.categories[i].parent;
            !has_children.contains(&i)
                && parent.is_some_and(|p| data.categories[p].parent.is_some())
        })
        .collect();
    let wanted = options.holdouts as usize;
    ensure!(
        wanted <= eligible.len(),
        "--holdouts {wanted}: the hierarchy has only {} leaf categories with a grandparent",
        eligible.len()
    );
    let mut rng = Rng::derive(options.seed, &[FACTS_STREAM]);
    let mut chosen: Vec<usize> = rng
        .sample_indices(eligible.len(), wanted)
        .into_iter()
        .map(|i| eligible[i])
        .collect();
    chosen.sort();
    Ok(chosen)
}
