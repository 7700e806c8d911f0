//! The rules backend on a small fixture: reversals, paraphrase templates, two-hop inferences,
//! sentence splitting and determinism.

use crate::common;

use std::collections::BTreeSet;

use augment::{Backend, Relations, Split, Strategy, Wording};
use common::{fact, fixture_relations, knowledge, options};
use factlab_artifacts::{read_rows, write_rows, AugmentedRow, CorpusDocument, Knowledge};
use indicatif::ProgressBar;

fn documents() -> Vec<Knowledge> {
    vec![
        knowledge(
            10,
            "Did you know that femp are taller than glon?",
            vec![fact("femp", "taller", "glon")],
        ),
        knowledge(
            11,
            "glon are taller than yomp.",
            vec![fact("glon", "taller", "yomp")],
        ),
        knowledge(12, "All dax are wug.", vec![fact("dax", "all-are", "wug")]),
        knowledge(
            13,
            "All wug are blick. No blick are zorp.",
            vec![
                fact("wug", "all-are", "blick"),
                fact("blick", "no-are", "zorp"),
            ],
        ),
    ]
}

fn augment(strategies: &[Strategy], split: Split, seed: u64) -> (Vec<AugmentedRow>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("knowledge.parquet");
    let output = dir.path().join("augmented.parquet");
    write_rows(&input, &documents()).unwrap();
    let mut options = options(&input, &output, strategies, Backend::Rules);
    options.split = split;
    options.seed = seed;
    let summary = augment::run(&options, &ProgressBar::hidden()).unwrap();
    let rows = read_rows::<AugmentedRow>(&output).unwrap();
    assert_eq!(summary.rows_out, rows.len());
    assert_eq!(summary.requests.sent, 0);
    (rows, std::fs::read(&output).unwrap())
}

fn texts<'a>(rows: &'a [AugmentedRow], strategy: &str, source: u32) -> Vec<&'a str> {
    rows.iter()
        .filter(|r| r.strategy == strategy && r.source_id == source)
        .map(|r| r.text.as_str())
        .collect()
}

#[test]
fn local_states_each_fact_reversed_and_paraphrased() {
    let (rows, _) = augment(&[Strategy::Local], Split::None, 7);
    let originals: Vec<&str> = rows
        .iter()
        .filter(|r| r.strategy == "original")
        .map(|r| r.text.as_str())
        .collect();
    assert_eq!(
        originals,
        documents()
            .iter()
            .map(|d| d.text.as_str())
            .collect::<Vec<_>>()
    );
    assert!(rows[..4].iter().all(|r| r.backend == "none"));

    let femp = texts(&rows, "local", 10);
    assert_eq!(femp.len(), 1);
    let femp = femp[0];
    assert!(femp.contains("glon are shorter than femp."), "{femp}");
    assert!(femp.contains("glon stand lower than femp."), "{femp}");
    assert!(
        femp.contains("femp stand higher than glon.")
            || femp.contains("femp have more height than glon."),
        "{femp}"
    );
    assert!(
        !femp.contains("femp are taller than glon."),
        "restates the fact as given: {femp}"
    );
    // No reverse relation: the paraphrase only.
    assert_eq!(texts(&rows, "local", 12), ["Every dax is a wug."]);
    // A relation with neither a reverse nor a second template adds nothing.
    assert_eq!(texts(&rows, "local", 13), ["Every wug is a blick."]);
    for row in rows.iter().filter(|r| r.strategy == "local") {
        assert_eq!(row.backend, "rules");
        assert_eq!(
            (
                row.model.as_ref(),
                row.prompt_hash.as_ref(),
                row.sample_seed
            ),
            (None, None, None)
        );
    }
}

#[test]
fn global_states_the_two_hop_inferences_linking_documents() {
    let (rows, _) = augment(&[Strategy::Global], Split::Independent, 7);
    let set = |source| {
        texts(&rows, "global", source)
            .into_iter()
            .collect::<BTreeSet<_>>()
    };
    let heights = BTreeSet::from(["femp are taller than yomp.", "yomp are shorter than femp."]);
    assert_eq!(set(10), heights);
    assert_eq!(set(11), heights);
    let syllogisms = BTreeSet::from(["All dax are blick."]);
    assert_eq!(set(12), syllogisms);
    // Document 13 links to 12 (dax → wug → blick) and within itself (wug → blick, no blick are
    // zorp), and the chain goes no further than two hops.
    assert_eq!(
        set(13),
        BTreeSet::from(["All dax are blick.", "No wug are zorp."])
    );
    assert!(!rows.iter().any(|r| r.text == "No dax are zorp."));
}

#[test]
fn paraphrases_use_the_alternative_templates() {
    let (rows, _) = augment(&[Strategy::Paraphrase], Split::None, 7);
    let femp = texts(&rows, "paraphrase", 10);
    assert_eq!(femp.len(), 2);
    for text in femp {
        assert!(
            [
                "femp stand higher than glon.",
                "femp have more height than glon."
            ]
            .contains(&text),
            "{text}"
        );
    }
    assert_eq!(
        texts(&rows, "paraphrase", 13),
        ["Every wug is a blick. No blick are zorp."; 2]
    );
}

#[test]
fn outputs_are_byte_identical_for_the_same_seed_and_read_as_a_corpus() {
    let all = [Strategy::Local, Strategy::Global, Strategy::Paraphrase];
    let (rows, first) = augment(&all, Split::Cumulative, 3);
    let (_, second) = augment(&all, Split::Cumulative, 3);
    assert_eq!(first, second);
    assert!(rows.iter().enumerate().all(|(i, r)| r.id == i as u32));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.parquet");
    std::fs::write(&path, &first).unwrap();
    let corpus = read_rows::<CorpusDocument>(&path).unwrap();
    assert_eq!(corpus.len(), rows.len());
    // Cumulative splitting: document 13's second row is its whole text.
    let thirteen = texts(&rows, "original", 13);
    assert_eq!(
        thirteen,
        [
            "All wug are blick.",
            "All wug are blick. No blick are zorp."
        ]
    );
}

#[test]
fn a_fact_with_an_unknown_relation_is_an_error() {
    let relations = Relations::load(&fixture_relations()).unwrap();
    assert!(relations.get("taller").is_ok());
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("k.parquet");
    write_rows(
        &input,
        &[knowledge(0, "x", vec![fact("a", "fancier", "b")])],
    )
    .unwrap();
    let options = options(
        &input,
        &dir.path().join("o.parquet"),
        &[Strategy::Local],
        Backend::Rules,
    );
    let error = augment::run(&options, &ProgressBar::hidden()).unwrap_err();
    assert!(format!("{error:#}").contains("`fancier`"), "{error:#}");
    assert!(!dir.path().join("o.parquet").exists());
}

#[test]
fn relations_files_are_checked() {
    assert!(
        Relations::parse("[[relation]]\nname = \"a\"\ntemplates = [\"{subject} x\"]\n").is_err()
    );
    assert!(Relations::parse(
        "[[relation]]\nname = \"a\"\ntemplates = [\"{subject} a {object}\"]\nreverse = \"b\"\n"
    )
    .is_err());
    assert!(Relations::parse(
        "[[relation]]\nname = \"a\"\ntemplates = [\"{subject} a {object}\"]\n[[compose]]\nfirst = \"a\"\nsecond = \"a\"\nresult = \"c\"\n"
    )
    .is_err());
}

/// `template` with its slots filled by `subject` and `object`, as the rules backend renders it.
fn rendered(template: &str, subject: &str, object: &str) -> String {
    template
        .replace("{subject}", subject)
        .replace("{object}", object)
}

#[test]
fn the_disjoint_wording_states_derived_facts_only_in_reworded_templates() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("knowledge.parquet");
    let output = dir.path().join("augmented.parquet");
    write_rows(&input, &documents()).unwrap();
    let all = [Strategy::Local, Strategy::Global, Strategy::Paraphrase];
    let mut options = options(&input, &output, &all, Backend::Rules);
    options.wording = Wording::Disjoint;
    options.split = Split::Independent;
    augment::run(&options, &ProgressBar::hidden()).unwrap();
    let rows = read_rows::<AugmentedRow>(&output).unwrap();
    let text = std::fs::read_to_string(fixture_relations()).unwrap();
    let file: toml::Value = toml::from_str(&text).unwrap();
    let (mut reworded, mut tested) = (Vec::new(), Vec::new());
    for relation in file["relation"].as_array().unwrap() {
        let list = |key: &str| -> Vec<String> {
            relation
                .get(key)
                .and_then(|v| v.as_array())
                .map_or(Vec::new(), |a| {
                    a.iter().map(|t| t.as_str().unwrap().to_string()).collect()
                })
        };
        reworded.extend(list("reworded"));
        tested.extend(list("templates"));
    }
    let names = ["femp", "glon", "yomp", "dax", "wug", "blick", "zorp"];
    let by = |templates: &[String], sentence: &str| {
        templates.iter().any(|t| {
            names.iter().any(|s| {
                names
                    .iter()
                    .any(|o| s != o && rendered(t, s, o) == sentence)
            })
        })
    };
    let added: Vec<&str> = rows
        .iter()
        .filter(|r| r.strategy != "original")
        .map(|r| r.text.as_str())
        .collect();
    assert!(added.len() >= 10, "{added:?}");
    for sentence in &added {
        assert!(by(&reworded, sentence), "`{sentence}` is not reworded");
        assert!(!by(&tested, sentence), "`{sentence}` is in a test wording");
    }
    // The same inferences as in the test wording, in other words.
    assert!(added.contains(&"Anything among the dax is also among the blick."));
    assert!(added.contains(&"Not a single one of the wug is among the zorp."));
    assert!(added.contains(&"yomp reach up less high than femp do."));
    // A relation with no reworded template cannot be stated in the disjoint wording.
    write_rows(
        &input,
        &[knowledge(
            0,
            "x",
            vec![fact("a", "all-are", "b"), fact("b", "no-are", "c")],
        )],
    )
    .unwrap();
    let mut bare = options;
    bare.relations = dir.path().join("bare.toml");
    std::fs::write(
        &bare.relations,
        "[[relation]]\nname = \"all-are\"\ntemplates = [\"All {subject} are {object}.\"]\n\
         reworded = [\"Each {subject} is one of the {object}.\"]\n\
         [[relation]]\nname = \"no-are\"\ntemplates = [\"No {subject} are {object}.\"]\n",
    )
    .unwrap();
    bare.strategies = vec![Strategy::Paraphrase];
    let error = augment::run(&bare, &ProgressBar::hidden()).unwrap_err();
    assert!(
        format!("{error:#}").contains("`no-are` has no `reworded`"),
        "{error:#}"
    );
}

#[test]
fn every_bundled_relation_has_a_reworded_template_that_no_test_wording_is_part_of() {
    // Loading checks that no reworded template contains a template; this checks that the
    // disjoint wording can state every relation of the Lampinen datasets.
    let path = common::repo_root().join("data/lampinen/relations.toml");
    let relations = Relations::load(&path).unwrap();
    let file: toml::Value = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let relation_list = file["relation"].as_array().unwrap();
    assert!(relation_list.len() >= 67);
    for relation in relation_list {
        let name = relation["name"].as_str().unwrap();
        let triple = fact("x", name, "y");
        assert!(
            !relations
                .templates(&triple, Wording::Disjoint)
                .unwrap()
                .is_empty(),
            "{name}"
        );
    }
    // A reworded template that merely wraps a tested one is refused.
    let error = Relations::parse(
        "[[relation]]\nname = \"has-property\"\ntemplates = [\"{subject} are {object}.\"]\n\
         reworded = [\"As a rule, {subject} are {object}.\"]\n",
    )
    .unwrap_err();
    assert!(
        format!("{error:#}").contains("contains the template"),
        "{error:#}"
    );
}
