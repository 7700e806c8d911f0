//! `gen-facts reversals | syllogisms`, and what all three Lampinen datasets share: the relations
//! file is consistent, words are nonsense, facts are stated as the file words them, the tests
//! hold out what they test, output is deterministic and bad data names its file.

use crate::lampinen_common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use factlab_artifacts::{read_rows, ChoiceOption, Knowledge};
use gen_facts::lampinen::{
    option_rows, reversals_dataset, syllogisms_dataset, ReversalsOptions, SyllogismsOptions,
};
use lampinen_common::{assert_nonsense, data_dir, fact, stoplist, Relations};

fn reversals(dir: &Path, facts: u32) -> ReversalsOptions {
    ReversalsOptions {
        facts,
        copies: 10,
        seed: 5,
        data: None,
        output: dir.join("k.parquet"),
        options_output: Some(dir.join("o.parquet")),
    }
}

#[test]
fn the_relations_file_names_only_defined_relations() {
    let relations = Relations::load();
    assert!(relations.by_name.len() >= 56 + 3 + 8);
    for (name, relation) in &relations.by_name {
        assert!(!relation.templates.is_empty(), "{name}");
        for template in &relation.templates {
            assert_eq!(template.matches("{subject}").count(), 1, "{template}");
            assert_eq!(template.matches("{object}").count(), 1, "{template}");
        }
        if let Some(reverse) = &relation.reverse {
            assert_eq!(
                relations.reverse(reverse),
                Some(name.as_str()),
                "`{name}` reverses to `{reverse}`, which must reverse back"
            );
        }
    }
    for rule in &relations.compose {
        for name in [&rule.first, &rule.second, &rule.result] {
            assert!(
                relations.by_name.contains_key(name),
                "compose names `{name}`"
            );
        }
    }
}

#[test]
fn reversals_train_each_fact_ten_times_and_test_only_its_reversal() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = reversals_dataset(&reversals(dir.path(), 100)).unwrap();
    let relations = Relations::load();
    let stop = stoplist();
    assert_eq!(dataset.documents.len(), 1000);
    let mut copies: HashMap<_, Vec<&Knowledge>> = HashMap::new();
    for document in &dataset.documents {
        assert_eq!(document.dataset, "reversals");
        assert_eq!(document.facts.len(), 1);
        copies
            .entry(fact(&document.facts[0]))
            .or_default()
            .push(document);
    }
    assert_eq!(copies.len(), 100);
    let mut entities = HashSet::new();
    let preambles: Vec<String> = std::fs::read_to_string(data_dir().join("preambles.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    for (stated, documents) in &copies {
        assert_eq!(documents.len(), 10, "{stated:?}");
        let sentence = &relations.sentences(&documents[0].facts[0])[0];
        let mut used = HashSet::new();
        for document in documents {
            let preamble = document.text.strip_suffix(sentence.as_str()).unwrap();
            let preamble = preamble.strip_suffix(' ').unwrap();
            assert!(preambles.iter().any(|p| p == preamble), "{}", document.text);
            assert!(used.insert(preamble), "a preamble repeats for {stated:?}");
        }
        for word in [&stated.0, &stated.2] {
            assert_nonsense(word, &stop);
            assert!(entities.insert(word.clone()), "`{word}` is in two facts");
        }
    }
    let texts: Vec<&str> = dataset.documents.iter().map(|d| d.text.as_str()).collect();
    let mut features = HashSet::new();
    for question in &dataset.questions {
        assert_eq!(
            (question.split.as_str(), question.choices.len()),
            ("reversals", 2)
        );
        features.insert(question.subset.clone());
        let right: Vec<_> = question.choices.iter().filter(|c| c.correct).collect();
        let wrong: Vec<_> = question.choices.iter().filter(|c| !c.correct).collect();
        assert_eq!((right.len(), wrong.len()), (1, 1));
        let (right, wrong) = (fact(&right[0].fact), fact(&wrong[0].fact));
        // The right option reverses a trained fact; the wrong one swaps its entities only.
        let trained = (wrong.2.clone(), wrong.1.clone(), wrong.0.clone());
        assert!(copies.contains_key(&trained), "{wrong:?}");
        assert_eq!(relations.reverse(&trained.1), Some(right.1.as_str()));
        assert_eq!((&right.0, &right.2), (&trained.2, &trained.0));
        for choice in &question.choices {
            let text = format!("{}{}", question.prompt, choice.completion);
            assert!(choice.completion.starts_with(' '));
            assert_eq!(text, relations.sentences(&choice.fact)[0]);
            assert!(
                !texts.iter().any(|t| t.contains(&text)),
                "`{text}` is trained"
            );
        }
    }
    assert_eq!(dataset.questions.len(), 100);
    assert_eq!(features.len(), 28, "every feature is used");
}

/// Truth of "quantifier x are y" in a model where each of the three sets is the set of Venn
/// regions (bits of 0..8) present in `model` that have its bit.
fn holds(model: u8, quantifier: &str, x: usize, y: usize) -> bool {
    let regions = (0..8u8).filter(|r| model & (1 << r) != 0);
    let mut regions = regions.filter(|r| r & (1 << x) != 0);
    match quantifier {
        "all-are" => regions.all(|r| r & (1 << y) != 0),
        "some-are" => regions.any(|r| r & (1 << y) != 0),
        "no-are" => !regions.any(|r| r & (1 << y) != 0),
        other => panic!("unknown quantifier {other}"),
    }
}

#[test]
fn syllogisms_have_exactly_one_valid_conclusion_that_is_never_trained() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = syllogisms_dataset(&SyllogismsOptions {
        pairs: 69,
        seed: 2,
        data: None,
        output: dir.path().join("k.parquet"),
        options_output: None,
    })
    .unwrap();
    assert_eq!((dataset.documents.len(), dataset.questions.len()), (69, 69));
    let stop = stoplist();
    let relations = Relations::load();
    let texts: Vec<&str> = dataset.documents.iter().map(|d| d.text.as_str()).collect();
    let mut words = HashSet::new();
    for document in &dataset.documents {
        assert_eq!(document.facts.len(), 2);
        assert!(document.text.starts_with("The relationships between "));
        for premise in &document.facts {
            assert!(document.text.contains(&relations.sentences(premise)[0]));
            words.extend([premise.subject.clone(), premise.object.clone()]);
        }
    }
    assert_eq!(words.len(), 3 * 69, "every pair has its own three sets");
    for word in &words {
        assert_nonsense(word, &stop);
    }
    for question in &dataset.questions {
        assert_eq!(question.choices.len(), 4);
        assert_eq!(question.choices.iter().filter(|c| c.correct).count(), 1);
        // The document whose premises mention both ends.
        let ends: HashSet<&str> = question
            .choices
            .iter()
            .flat_map(|c| [c.fact.subject.as_str(), c.fact.object.as_str()])
            .collect();
        let document = dataset
            .documents
            .iter()
            .find(|d| {
                d.facts
                    .iter()
                    .any(|f| ends.contains(f.subject.as_str()) || ends.contains(f.object.as_str()))
            })
            .unwrap();
        let mut sets: Vec<&str> = document
            .facts
            .iter()
            .flat_map(|f| [f.subject.as_str(), f.object.as_str()])
            .collect();
        sets.sort();
        sets.dedup();
        assert_eq!(sets.len(), 3);
        let index = |name: &str| sets.iter().position(|s| *s == name).unwrap();
        let premises_hold = |model: u8| {
            document
                .facts
                .iter()
                .all(|p| holds(model, &p.relation, index(&p.subject), index(&p.object)))
        };
        for choice in &question.choices {
            let (x, y) = (index(&choice.fact.subject), index(&choice.fact.object));
            let valid = (0..=255u8)
                .filter(|&m| premises_hold(m))
                .all(|m| holds(m, &choice.fact.relation, x, y));
            assert_eq!(valid, choice.correct, "{:?}", choice.fact);
            let sentence = choice.completion.trim_start();
            assert_eq!(sentence, relations.sentences(&choice.fact)[0]);
            assert!(
                !texts.iter().any(|t| t.contains(sentence)),
                "{sentence} is trained"
            );
        }
        assert!(question.prompt.starts_with("The relationships between "));
        assert!(question.prompt.ends_with(" are:"));
    }
}

/// Expected accuracy of a scorer that ranks the options by whether their sentence opens with
/// `quantifier` and breaks ties uniformly at random: per question, 1 / (options it ties at the
/// top) when the right one is among them.
fn quantifier_preference_accuracy(rows: &[ChoiceOption], quantifier: &str) -> f64 {
    let mut questions: HashMap<u32, Vec<&ChoiceOption>> = HashMap::new();
    for row in rows {
        questions.entry(row.question_id).or_default().push(row);
    }
    let opens = |o: &ChoiceOption| {
        o.completion
            .trim_start()
            .starts_with(&format!("{quantifier} "))
    };
    let credit: f64 = questions
        .values()
        .map(|options| {
            let top: Vec<&&ChoiceOption> = options.iter().filter(|o| opens(o)).collect();
            assert!(
                !top.is_empty(),
                "every question has a `{quantifier}` option"
            );
            top.iter().filter(|o| o.correct == 1).count() as f64 / top.len() as f64
        })
        .sum();
    credit / questions.len() as f64
}

#[test]
fn preferring_one_quantifier_scores_chance_on_syllogisms() {
    // Chance is 1/4; the conclusions come in blocks of four, so a set of n questions is off by
    // at most one question's worth (1/n) for any one quantifier.
    for (pairs, seed) in [(69, 1), (400, 2), (1001, 3)] {
        let dir = tempfile::tempdir().unwrap();
        let dataset = syllogisms_dataset(&SyllogismsOptions {
            pairs,
            seed,
            data: None,
            output: dir.path().join("k.parquet"),
            options_output: None,
        })
        .unwrap();
        let rows = option_rows(&dataset.questions);
        let tolerance = 1.0 / pairs as f64 + 1e-12;
        for quantifier in ["All", "Some", "No"] {
            let accuracy = quantifier_preference_accuracy(&rows, quantifier);
            assert!(
                (accuracy - 0.25).abs() <= tolerance,
                "n = {pairs}: preferring `{quantifier}` scores {accuracy}, chance 0.25 ± {tolerance}"
            );
        }
        // Every mood is used, and the subset names it.
        let moods: HashSet<&str> = dataset
            .questions
            .iter()
            .map(|q| q.subset.as_str())
            .collect();
        if pairs >= 400 {
            assert_eq!(moods.len(), 7, "{moods:?}");
        }
    }
}

fn gen_facts() -> Command {
    Command::cargo_bin("gen-facts").unwrap()
}

fn run(dir: &Path, threads: &str, args: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let (k, o) = (dir.join("k.parquet"), dir.join("o.parquet"));
    let output = gen_facts()
        .env("RAYON_NUM_THREADS", threads)
        .args(args)
        .arg("-o")
        .arg(&k)
        .arg("--options")
        .arg(&o)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (std::fs::read(k).unwrap(), std::fs::read(o).unwrap())
}

#[test]
fn output_is_byte_identical_across_runs_and_thread_counts() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["reversals", "-n", "30", "--seed", "4"][..],
        &["syllogisms", "-n", "20", "--seed", "4"],
        &["semantic", "-n", "200", "--holdouts", "4", "--seed", "4"],
    ] {
        let one = run(dir.path(), "1", args);
        let two = run(dir.path(), "2", args);
        assert!(one == two, "{args:?} differs between 1 and 2 threads");
        let options: Vec<ChoiceOption> = read_rows(&dir.path().join("o.parquet")).unwrap();
        let knowledge: Vec<Knowledge> = read_rows(&dir.path().join("k.parquet")).unwrap();
        assert_eq!(knowledge[0].dataset, args[0]);
        assert!(options
            .iter()
            .all(|o| !o.split.is_empty() && !o.subset.is_empty()));
        let other_seed = [&args[..args.len() - 1], &["5"]].concat();
        assert!(
            run(dir.path(), "2", &other_seed) != one,
            "{args:?}: the seed matters"
        );
    }
    // The options file is the library's questions, as rows.
    let mut options = reversals(dir.path(), 30);
    options.seed = 4;
    let expected = option_rows(&reversals_dataset(&options).unwrap().questions);
    run(dir.path(), "2", &["reversals", "-n", "30", "--seed", "4"]);
    let read: Vec<ChoiceOption> = read_rows(&dir.path().join("o.parquet")).unwrap();
    assert_eq!(read, expected);
}

fn copy_data(to: &Path) -> PathBuf {
    let target = to.join("lampinen");
    std::fs::create_dir(&target).unwrap();
    for entry in std::fs::read_dir(data_dir()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, target.join(path.file_name().unwrap())).unwrap();
    }
    target
}

#[test]
fn a_bad_data_file_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = copy_data(dir.path());
    // A copy of the bundled data works as it is.
    let out = dir.path().join("k.parquet");
    let status = gen_facts()
        .args(["reversals", "-n", "3", "-o"])
        .arg(&out)
        .arg("--data")
        .arg(&data)
        .status()
        .unwrap();
    assert!(status.success());
    let breakages = [
        (
            "features.toml",
            "more = \"more-dangerous\"",
            "more = \"more-dangerouss\"",
        ),
        ("relations.toml", "result = \"is-a\"", "result = \"is-an\""),
        (
            "hierarchy.toml",
            "parent = \"mammals\"",
            "parent = \"mammal\"",
        ),
        ("phonemes.toml", "vowels = [", "vowels = [\"A\", "),
    ];
    for (file, from, to) in breakages {
        let path = data.join(file);
        let good = std::fs::read_to_string(&path).unwrap();
        assert!(good.contains(from), "{file}");
        std::fs::write(&path, good.replacen(from, to, 1)).unwrap();
        let output = gen_facts()
            .args(["semantic", "-n", "200", "-o"])
            .arg(&out)
            .arg("--data")
            .arg(&data)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{file}");
        assert!(
            stderr.contains(&path.display().to_string()),
            "{file}: {stderr}"
        );
        std::fs::write(&path, good).unwrap();
    }
}
