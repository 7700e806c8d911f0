//! `gen-facts semantic`: documents state exactly their facts in nonsense words; every test
//! question has one right option that follows from the trained facts (by this test's own
//! closure under relations.toml) and distractors that hold for some other entity; each split
//! tests what it claims, and held-out categories are trained on their parent only.

use crate::lampinen_common;

use std::collections::{HashMap, HashSet};

use gen_facts::lampinen::{semantic_dataset, Dataset, SemanticOptions};
use lampinen_common::{assert_nonsense, fact, stoplist, tokens, Fact, Relations};

fn dataset(documents: u32, holdouts: u32) -> Dataset {
    let dir = tempfile::tempdir().unwrap();
    semantic_dataset(&SemanticOptions {
        documents,
        holdouts,
        seed: 11,
        data: None,
        output: dir.path().join("k.parquet"),
        options_output: None,
    })
    .unwrap()
}

#[test]
fn documents_state_exactly_their_facts_in_nonsense_words() {
    let dataset = dataset(2200, 8);
    let relations = Relations::load();
    let stop = stoplist();
    assert_eq!(dataset.documents.len(), 2200);
    assert!((100..=130).contains(&dataset.vocabulary.len().min(130)));
    let nonsense: HashSet<&str> = dataset.vocabulary.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(
        nonsense.len(),
        dataset.vocabulary.len(),
        "one nonsense word per real word"
    );
    for word in &nonsense {
        assert_nonsense(word, &stop);
    }
    let qa: HashMap<String, String> = {
        let text =
            std::fs::read_to_string(lampinen_common::data_dir().join("styles.toml")).unwrap();
        let styles: toml::Table = toml::from_str(&text).unwrap();
        styles["semantic"]["qa"]
            .as_table()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect()
    };
    for document in &dataset.documents {
        assert_eq!(document.dataset, "semantic");
        assert!(
            (4..=20).contains(&document.facts.len()),
            "{} facts: {}",
            document.facts.len(),
            document.text
        );
        let mut stated: Vec<&str> = tokens(&document.text)
            .filter(|t| nonsense.contains(t))
            .collect();
        let mut expected: Vec<&str> = document
            .facts
            .iter()
            .flat_map(|f| [f.subject.as_str(), f.object.as_str()])
            .collect();
        stated.sort();
        expected.sort();
        assert_eq!(stated, expected, "{}", document.text);
        for fact in &document.facts {
            let canonical = &relations.sentences(fact)[0];
            let question = qa.get(&fact.relation).map(|q| {
                q.replace("{subject}", &fact.subject)
                    .replace("{object}", &fact.object)
            });
            assert!(
                document.text.contains(canonical.as_str())
                    || question.is_some_and(|q| document.text.contains(&q)),
                "`{canonical}` missing from {}",
                document.text
            );
        }
    }
}

#[test]
fn every_question_follows_from_training_and_its_distractors_hold_elsewhere() {
    let dataset = dataset(2200, 8);
    let relations = Relations::load();
    let trained: HashSet<Fact> = dataset
        .documents
        .iter()
        .flat_map(|d| d.facts.iter().map(fact))
        .collect();
    let closure = relations.closure(trained.iter().cloned());
    let texts: Vec<&str> = dataset.documents.iter().map(|d| d.text.as_str()).collect();
    let holdouts: HashSet<&str> = dataset.holdouts.iter().map(String::as_str).collect();
    let mut counts: HashMap<(String, String), usize> = HashMap::new();
    for question in &dataset.questions {
        *counts
            .entry((question.split.clone(), question.subset.clone()))
            .or_default() += 1;
        assert_eq!(question.choices.len(), 4);
        let right: Vec<_> = question.choices.iter().filter(|c| c.correct).collect();
        assert_eq!(right.len(), 1);
        let right = fact(&right[0].fact);
        assert!(closure.contains(&right), "{right:?} does not follow");
        let right_text = format!(
            "{}{}",
            question.prompt,
            question
                .choices
                .iter()
                .find(|c| c.correct)
                .unwrap()
                .completion
        );
        for choice in &question.choices {
            let option = fact(&choice.fact);
            let text = format!("{}{}", question.prompt, choice.completion);
            assert!(choice.completion.starts_with(' '));
            assert!(
                relations.sentences(&choice.fact).contains(&text),
                "`{text}` is no wording of {option:?}"
            );
            assert_eq!(
                (&option.0, &option.1),
                (&right.0, &right.1),
                "only the object varies"
            );
            if !choice.correct {
                assert!(!closure.contains(&option), "distractor {option:?} is true");
                assert!(
                    closure
                        .iter()
                        .any(|(s, r, o)| r == &option.1 && o == &option.2 && s != &option.0),
                    "distractor {option:?} holds for no other entity"
                );
            }
        }
        match question.split.as_str() {
            "rephrasings" => {
                assert!(trained.contains(&right), "{right:?} is not trained");
                assert!(
                    !texts.iter().any(|t| t.contains(&right_text)),
                    "`{right_text}` is trained wording"
                );
            }
            "reversals" => {
                let back = relations.reverse(&right.1).unwrap();
                assert!(trained.contains(&(right.2.clone(), back.to_string(), right.0.clone())));
                assert!(!trained.contains(&right));
                assert!(
                    !texts.iter().any(|t| t.contains(&right_text)),
                    "`{right_text}` is trained"
                );
            }
            "syllogisms" => {
                assert!(!trained.contains(&right));
                let two_hops = trained.iter().any(|(a, r1, b)| {
                    a == &right.0
                        && r1 == "is-a"
                        && relations.compose.iter().any(|c| {
                            c.first == "is-a"
                                && c.result == right.1
                                && trained.contains(&(b.clone(), c.second.clone(), right.2.clone()))
                        })
                });
                assert!(two_hops, "{right:?} is not two hops from trained facts");
                assert!(!texts.iter().any(|t| t.contains(&right_text)));
            }
            "category-holdouts" => {
                assert!(holdouts.contains(right.0.as_str()) || holdouts.contains(right.2.as_str()));
                assert!(!trained.contains(&right));
            }
            other => panic!("unknown split {other}"),
        }
    }
    eprintln!("questions per split and subset: {counts:?}");
    for split in [
        "rephrasings",
        "reversals",
        "syllogisms",
        "category-holdouts",
    ] {
        for subset in ["category", "property"] {
            assert!(
                counts
                    .get(&(split.to_string(), subset.to_string()))
                    .copied()
                    .unwrap_or(0)
                    > 0,
                "no {split}/{subset} questions"
            );
        }
    }
}

#[test]
fn held_out_categories_are_trained_on_their_parent_only() {
    let dataset = dataset(200, 8);
    assert_eq!(dataset.holdouts.len(), 8);
    assert_eq!(dataset.documents.len(), 200);
    for holdout in &dataset.holdouts {
        let mut parents = HashSet::new();
        let mut documents = 0;
        for document in &dataset.documents {
            let about: Vec<_> = document
                .facts
                .iter()
                .filter(|f| &f.subject == holdout || &f.object == holdout)
                .collect();
            documents += usize::from(!about.is_empty());
            for fact in about {
                assert_eq!((&fact.subject, fact.relation.as_str()), (holdout, "is-a"));
                parents.insert(fact.object.clone());
            }
        }
        assert_eq!(parents.len(), 1, "{holdout} has one parent");
        assert!(documents > 0, "{holdout}'s parent is trained");
    }
    let tested: HashSet<&str> = dataset
        .questions
        .iter()
        .filter(|q| q.split == "category-holdouts")
        .flat_map(|q| q.choices.iter().filter(|c| c.correct))
        .flat_map(|c| [c.fact.subject.as_str(), c.fact.object.as_str()])
        .collect();
    for holdout in &dataset.holdouts {
        assert!(tested.contains(holdout.as_str()));
    }
    // No other split asks about a held-out category.
    for question in dataset
        .questions
        .iter()
        .filter(|q| q.split != "category-holdouts")
    {
        let right = question.choices.iter().find(|c| c.correct).unwrap();
        assert!(
            !dataset.holdouts.contains(&right.fact.subject)
                && !dataset.holdouts.contains(&right.fact.object)
        );
    }
}

#[test]
fn too_few_documents_or_too_many_holdouts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let options = |documents, holdouts| SemanticOptions {
        documents,
        holdouts,
        seed: 0,
        data: None,
        output: dir.path().join("k.parquet"),
        options_output: None,
    };
    let error = semantic_dataset(&options(50, 8)).err().unwrap().to_string();
    assert!(error.contains("-n is 50"), "{error}");
    let error = semantic_dataset(&options(200, 500))
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("--holdouts 500"), "{error}");
}
