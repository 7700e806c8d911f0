//! `fit linear-probe` on planted hidden states: the ceiling is the share of P_test people whose
//! label P_train has, the probe reaches it when the states carry the label, and the ridge
//! penalty is chosen on the validation people, never on P_test.

use std::path::Path;

use factlab_artifacts::{write_rows, HiddenState, HiddenWriter, LinearProbeRow, Person};
use fit::{run_linear_probes, LinearProbeOptions};

const UNIVERSITIES: [&str; 3] = ["Rice University", "Yale University", "Duke University"];

/// Person `id` of `split` at `university` (an index into UNIVERSITIES); the other attributes
/// are the same for everyone.
fn person(id: u32, split: &str, university: usize) -> Person {
    Person {
        person_id: id,
        name: format!("Person {id}"),
        first_name: "Person".into(),
        middle_name: String::new(),
        last_name: id.to_string(),
        birth_date: "March 7, 1952".into(),
        birth_city: "Austin, TX".into(),
        university: UNIVERSITIES[university].into(),
        major: "Physics".into(),
        employer: "Dell".into(),
        company_city: "Round Rock, TX".into(),
        pronoun: "she".into(),
        split: split.into(),
        group: "all".into(),
    }
}

/// 40 train and 10 validation people at the first two universities (three in four at the
/// first); 10 P_test people of whom the first `unseen` went to the third, which no P_train
/// person did.
fn people(unseen: usize) -> Vec<Person> {
    let mut people: Vec<Person> = (0..50)
        .map(|id| {
            let split = if id < 40 { "train" } else { "validation" };
            person(id, split, usize::from(id % 4 == 0))
        })
        .collect();
    people
        .extend((0..10).map(|i| person(50 + i as u32, "test", if i < unseen { 2 } else { i % 2 })));
    people
}

/// One state per person at the end of the name: the university one-hot (±noise) and two
/// dimensions of noise, so a linear probe can read the university and nothing else.
fn write_inputs(dir: &Path, people: &[Person]) {
    write_rows(&dir.join("people.parquet"), people).unwrap();
    let mut rng = factlab_rng::Rng::new(3);
    let states: Vec<HiddenState> = people
        .iter()
        .map(|p| {
            let university = UNIVERSITIES
                .iter()
                .position(|u| *u == p.university)
                .unwrap();
            let mut vector: Vec<f32> = (0..UNIVERSITIES.len())
                .map(|u| f32::from(u8::from(u == university)))
                .collect();
            vector.extend((0..2).map(|_| 0.0));
            for x in &mut vector {
                *x += (rng.unit_f64() as f32 - 0.5) * 0.2;
            }
            HiddenState {
                person_id: p.person_id,
                entry: 0,
                position: "name_end".into(),
                token_index: 2,
                layer: 1,
                vector,
            }
        })
        .collect();
    let mut writer = HiddenWriter::create(&dir.join("hidden.parquet"), 5).unwrap();
    writer.write(&states).unwrap();
    writer.finish(&[]).unwrap();
}

fn probe(dir: &Path, ridges: &[f64]) -> anyhow::Result<Vec<LinearProbeRow>> {
    run_linear_probes(&LinearProbeOptions {
        hidden: dir.join("hidden.parquet"),
        people: dir.join("people.parquet"),
        ridges: ridges.to_vec(),
        output: dir.join("probe"),
    })
}

fn university(rows: &[LinearProbeRow]) -> &LinearProbeRow {
    rows.iter().find(|r| r.task == "university").unwrap()
}

#[test]
fn the_ceiling_is_the_share_of_p_test_whose_label_p_train_has() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path(), &people(3));
    let rows = probe(dir.path(), &[0.01]).unwrap();
    let row = university(&rows);
    // Train and validation people are fitted on, P_test scored.
    assert_eq!(
        (row.train_examples, row.test_examples, row.classes),
        (50, 10, 2)
    );
    assert!((row.ceiling - 0.7).abs() < 1e-12, "{}", row.ceiling);
    // The states carry the university, so every reachable person is right: accuracy = ceiling.
    assert!((row.accuracy - 0.7).abs() < 1e-12, "{}", row.accuracy);
    assert_eq!(row.ridge, 0.01);
    // One label for everyone: every P_test person is reachable, and the majority is right.
    let month = rows.iter().find(|r| r.task == "birth_date").unwrap();
    assert_eq!(
        (month.ceiling, month.baseline, month.classes),
        (1.0, 1.0, 1)
    );
    let table = std::fs::read_to_string(dir.path().join("probe/linear-probe.md")).unwrap();
    assert!(table.contains("70.0 (30.0, ≤ 70.0)"), "{table}");
}

#[test]
fn the_ridge_penalty_is_chosen_on_validation_people_never_on_p_test() {
    let ridges = [1e-3, 1.0, 1e3];
    let chosen = |unseen: usize| {
        let dir = tempfile::tempdir().unwrap();
        write_inputs(dir.path(), &people(unseen));
        probe(dir.path(), &ridges).unwrap()
    };
    let (some_unseen, all_seen) = (chosen(3), chosen(0));
    for (a, b) in some_unseen.iter().zip(&all_seen) {
        assert!(ridges.contains(&a.ridge), "{}", a.ridge);
        // P_test's labels changed, the choice did not.
        assert_eq!((&a.task, a.ridge), (&b.task, b.ridge));
    }
    // λ = 1000 shrinks the weights to almost nothing and the bias (the commoner university)
    // decides, so validation picks a smaller one; an attribute everyone shares ties, and the larger λ wins the tie.
    assert!(university(&all_seen).ridge < 1e3);
    assert_eq!(university(&all_seen).accuracy, 1.0);
    let major = all_seen.iter().find(|r| r.task == "major").unwrap();
    assert_eq!(major.ridge, 1e3);

    let dir = tempfile::tempdir().unwrap();
    let no_validation: Vec<Person> = people(0)
        .into_iter()
        .map(|p| Person {
            split: if p.split == "validation" {
                "train".into()
            } else {
                p.split
            },
            ..p
        })
        .collect();
    write_inputs(dir.path(), &no_validation);
    let refused = probe(dir.path(), &ridges).unwrap_err();
    assert!(
        format!("{refused:#}")
            .contains("--ridge offers 3 values but no person has split `validation`"),
        "{refused:#}"
    );
    assert!(probe(dir.path(), &[0.0])
        .unwrap_err()
        .to_string()
        .contains("--ridge"));
}
