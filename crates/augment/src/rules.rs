//! The rules backend: augmentation derived from the structured `facts` of each document and a
//! relations file, with no model — an oracle for what a perfect augmenter would add (reversals,
//! paraphrases, two-hop inferences), and a model-free way to run the whole chain.
//!
//! In `Wording::Test` the derived facts are written in the datasets' own templates, so the
//! output holds the tests' right options verbatim (a recall upper bound); in
//! `Wording::Disjoint` only in the relations file's `reworded` templates, which no test uses.

use std::collections::{HashMap, HashSet};

use anyhow::{bail, Result};
use factlab_artifacts::{Knowledge, Triple};
use factlab_rng::Rng;

use crate::relations::Relations;
use crate::{Derived, Strategy, Wording};

/// Keys that separate the random streams of the strategies.
const LOCAL_STREAM: u64 = 1;
const PARAPHRASE_STREAM: u64 = 3;

pub fn augment(
    strategy: Strategy,
    documents: &[Knowledge],
    relations: &Relations,
    wording: Wording,
    seed: u64,
    paraphrases: u32,
) -> Result<Vec<Derived>> {
    match strategy {
        Strategy::Local => local(documents, relations, wording, seed),
        Strategy::Global => global(documents, relations, wording),
        Strategy::Paraphrase => paraphrase(documents, relations, wording, seed, paraphrases),
        Strategy::RewriteBio => {
            bail!("rewrite-bio needs a model: use --backend served")
        }
    }
}

fn derived(document: &Knowledge, strategy: Strategy, text: String) -> Derived {
    Derived {
        source_id: document.id,
        dataset: document.dataset.clone(),
        text,
        strategy,
        provenance: None,
    }
}

/// A template of the fact's relation other than the documents' own, chosen by `rng`: in the
/// test wording a paraphrase (the canonical one if the relation has no other), in the disjoint
/// wording any reworded one.
fn paraphrase_index(
    relations: &Relations,
    fact: &Triple,
    wording: Wording,
    rng: &mut Rng,
) -> Result<usize> {
    let count = relations.templates(fact, wording)?.len();
    Ok(match wording {
        Wording::Test if count > 1 => 1 + rng.below(count - 1),
        Wording::Test => 0,
        Wording::Disjoint => rng.below(count),
    })
}

/// Per fact: a paraphrase of it, its reversal, and a paraphrase of the reversal (whichever
/// exist and differ from the fact's own sentence), as one document.
fn local(
    documents: &[Knowledge],
    relations: &Relations,
    wording: Wording,
    seed: u64,
) -> Result<Vec<Derived>> {
    let mut out = Vec::new();
    for document in documents {
        for (index, fact) in document.facts.iter().enumerate() {
            let mut rng = Rng::derive(seed, &[LOCAL_STREAM, document.id as u64, index as u64]);
            let stated = relations.render(fact, Wording::Test, 0)?;
            let in_other_words = |fact: &Triple, rng: &mut Rng| {
                relations.render(
                    fact,
                    wording,
                    paraphrase_index(relations, fact, wording, rng)?,
                )
            };
            let mut sentences = vec![in_other_words(fact, &mut rng)?];
            if let Some(reverse) = relations.reverse(fact)? {
                sentences.push(relations.render(&reverse, wording, 0)?);
                sentences.push(in_other_words(&reverse, &mut rng)?);
            }
            let mut seen = HashSet::from([stated]);
            sentences.retain(|s| seen.insert(s.clone()));
            if !sentences.is_empty() {
                out.push(derived(document, Strategy::Local, sentences.join(" ")));
            }
        }
    }
    Ok(out)
}

/// `--paraphrases` documents per input, each fact in a paraphrase template.
fn paraphrase(
    documents: &[Knowledge],
    relations: &Relations,
    wording: Wording,
    seed: u64,
    count: u32,
) -> Result<Vec<Derived>> {
    let mut out = Vec::new();
    for document in documents.iter().filter(|d| !d.facts.is_empty()) {
        for sample in 0..count {
            let mut rng = Rng::derive(
                seed,
                &[PARAPHRASE_STREAM, document.id as u64, sample as u64],
            );
            let sentences = document
                .facts
                .iter()
                .map(|fact| {
                    let index = paraphrase_index(relations, fact, wording, &mut rng)?;
                    relations.render(fact, wording, index)
                })
                .collect::<Result<Vec<_>>>()?;
            out.push(derived(document, Strategy::Paraphrase, sentences.join(" ")));
        }
    }
    Ok(out)
}

/// A stated fact or its reversal, with the document that states it.
struct Known {
    fact: Triple,
    document: usize,
}

/// Per document: every fact that follows by one [[compose]] rule from one of its facts (or
/// their reversals) and a fact of any document (or its reversal), that no document states,
/// in the wording's canonical template, as one document.
fn global(
    documents: &[Knowledge],
    relations: &Relations,
    wording: Wording,
) -> Result<Vec<Derived>> {
    let mut known = Vec::new();
    for (document, item) in documents.iter().enumerate() {
        for fact in &item.facts {
            known.push(Known {
                fact: fact.clone(),
                document,
            });
            if let Some(reverse) = relations.reverse(fact)? {
                known.push(Known {
                    fact: reverse,
                    document,
                });
            }
        }
    }
    let stated: HashSet<&Triple> = known.iter().map(|k| &k.fact).collect();
    let mut by_subject: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut by_object: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, k) in known.iter().enumerate() {
        by_subject.entry(&k.fact.subject).or_default().push(index);
        by_object.entry(&k.fact.object).or_default().push(index);
    }
    let mut out = Vec::new();
    for (target, item) in documents.iter().enumerate() {
        let mut inferred: Vec<Triple> = Vec::new();
        let mut seen: HashSet<Triple> = HashSet::new();
        let mut add = |first: &Triple, second: &Triple| {
            for rule in &relations.compose {
                if rule.first == first.relation
                    && rule.second == second.relation
                    && first.subject != second.object
                {
                    let fact = Triple {
                        subject: first.subject.clone(),
                        relation: rule.result.clone(),
                        object: second.object.clone(),
                    };
                    if !stated.contains(&fact) && seen.insert(fact.clone()) {
                        inferred.push(fact);
                    }
                }
            }
        };
        for own in known.iter().filter(|k| k.document == target) {
            // The document's fact as the first premise, then as the second.
            for &other in by_subject
                .get(own.fact.object.as_str())
                .into_iter()
                .flatten()
            {
                add(&own.fact, &known[other].fact);
            }
            for &other in by_object
                .get(own.fact.subject.as_str())
                .into_iter()
                .flatten()
            {
                add(&known[other].fact, &own.fact);
            }
        }
        if !inferred.is_empty() {
            let sentences = inferred
                .iter()
                .map(|fact| relations.render(fact, wording, 0))
                .collect::<Result<Vec<_>>>()?;
            out.push(derived(item, Strategy::Global, sentences.join(" ")));
        }
    }
    Ok(out)
}
