//! Every multi-file output of gen-facts is one set: its files record one set id, so a run killed
//! between two renames (new knowledge beside old probes) is detected, naming both files.

use std::path::Path;

use factlab_artifacts::outputs::{check_same_set, set_of};
use gen_facts::lampinen::{generate_reversals, ReversalsOptions};
use gen_facts::{
    generate_bios, generate_fictional, BiosOptions, DateStyle, FictionalOptions, ParagraphShape,
    PronounRule, SentenceOrder,
};
use indicatif::ProgressBar;

fn fictional(dir: &Path, seed: u64) {
    generate_fictional(
        &FictionalOptions {
            count: 20,
            seed,
            shape: ParagraphShape::default(),
            data: None,
            output: dir.join("knowledge.parquet"),
            probes: Some(dir.join("probes.parquet")),
        },
        &ProgressBar::hidden(),
    )
    .unwrap();
}

/// The torn state a kill between the renames leaves: `fresh` written by the second run, `stale`
/// kept from the first.
fn assert_torn_is_refused(fresh: &Path, stale: &Path) {
    let message = check_same_set(&[fresh, stale]).unwrap_err().to_string();
    assert!(
        message.contains(&fresh.display().to_string())
            && message.contains(&stale.display().to_string()),
        "{message}"
    );
}

#[test]
fn knowledge_and_probes_of_one_run_pair_and_of_two_runs_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let knowledge = dir.path().join("knowledge.parquet");
    let probes = dir.path().join("probes.parquet");
    fictional(dir.path(), 1);
    let main = set_of(&knowledge).unwrap().unwrap();
    let member = set_of(&probes).unwrap().unwrap();
    assert_eq!(member.id, main.id);
    assert!(member.members.unwrap().starts_with("knowledge="));
    check_same_set(&[&knowledge, &probes]).unwrap();

    let old_probes = dir.path().join("old-probes.parquet");
    std::fs::rename(&probes, &old_probes).unwrap();
    fictional(dir.path(), 2);
    // The second run's knowledge was renamed into place, then the run was killed: the first
    // run's probes are still there.
    std::fs::rename(&old_probes, &probes).unwrap();
    assert_torn_is_refused(&knowledge, &probes);
}

#[test]
fn bios_people_and_qa_are_one_set() {
    let dir = tempfile::tempdir().unwrap();
    let options = |seed, train_fraction| BiosOptions {
        people: 20,
        variant: "single".parse().unwrap(),
        celebrities: 0,
        celebrity_variant: "multi5+permute".parse().unwrap(),
        train_fraction,
        validation_fraction: 0.0,
        pronouns: PronounRule::HeSheThey,
        order: SentenceOrder::default(),
        date_style: DateStyle::MonthDayYear,
        seed,
        data: None,
        output: dir.path().join("bios.parquet"),
        people_output: Some(dir.path().join("people.parquet")),
        qa_output: Some(dir.path().join("qa.parquet")),
    };
    generate_bios(&options(1, 0.5), &ProgressBar::hidden()).unwrap();
    let [bios, people, qa] =
        ["bios", "people", "qa"].map(|n| dir.path().join(format!("{n}.parquet")));
    let members = set_of(&qa).unwrap().unwrap().members.unwrap();
    assert!(
        members.starts_with("bios=") && members.contains(", people=") && members.contains(", qa="),
        "{members}"
    );
    check_same_set(&[&bios, &people, &qa]).unwrap();
    let old_qa = dir.path().join("old-qa.parquet");
    std::fs::copy(&qa, &old_qa).unwrap();

    // Another seed: everything differs.
    generate_bios(&options(2, 0.5), &ProgressBar::hidden()).unwrap();
    check_same_set(&[&bios, &people, &qa]).unwrap();
    assert_torn_is_refused(&bios, &old_qa);

    // The same people with another split: the biographies are the same file, but the QA pairs
    // of one run do not go with the people of the other.
    generate_bios(&options(1, 0.5), &ProgressBar::hidden()).unwrap();
    let first_bios = std::fs::read(&bios).unwrap();
    generate_bios(&options(1, 0.8), &ProgressBar::hidden()).unwrap();
    assert_eq!(std::fs::read(&bios).unwrap(), first_bios);
    check_same_set(&[&bios, &old_qa]).unwrap();
    assert_torn_is_refused(&people, &old_qa);
}

#[test]
fn lampinen_documents_and_options_are_one_set() {
    let dir = tempfile::tempdir().unwrap();
    let options = |seed| ReversalsOptions {
        facts: 4,
        copies: 2,
        seed,
        data: None,
        output: dir.path().join("documents.parquet"),
        options_output: Some(dir.path().join("options.parquet")),
    };
    generate_reversals(&options(1)).unwrap();
    let documents = dir.path().join("documents.parquet");
    let choices = dir.path().join("options.parquet");
    assert!(set_of(&choices)
        .unwrap()
        .unwrap()
        .members
        .unwrap()
        .starts_with("knowledge="));
    let old_choices = dir.path().join("old-options.parquet");
    std::fs::copy(&choices, &old_choices).unwrap();
    generate_reversals(&options(2)).unwrap();
    check_same_set(&[&documents, &choices]).unwrap();
    assert_torn_is_refused(&documents, &old_choices);
}
