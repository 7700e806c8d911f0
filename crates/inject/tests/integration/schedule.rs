use crate::common;

use std::path::{Path, PathBuf};

use inject::schedule::{Schedule, TextChoice};

fn write(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("bad.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn load_error(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), text);
    format!("{:#}", Schedule::load(&path, None, None).unwrap_err())
}

fn plan_error(text: &str, items: u32, paraphrases: usize) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), text);
    let schedule = Schedule::load(&path, None, None).unwrap();
    let error = schedule
        .plan(&common::knowledge(items, paraphrases), "knowledge.parquet")
        .unwrap_err();
    format!("{error:#}")
}

fn assert_mentions(error: &str, parts: &[&str]) {
    for part in parts {
        assert!(error.contains(part), "`{part}` missing from: {error}");
    }
}

#[test]
fn the_shipped_schedules_are_valid() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines/schedules");
    let paper = Schedule::load(&folder.join("paper.toml"), None, None).unwrap();
    assert_eq!(paper.interval(), 100);
    let groups: Vec<_> = paper
        .groups()
        .iter()
        .map(|g| (g.scenario.as_str(), g.count, g.exposures, g.text))
        .collect();
    assert_eq!(
        groups,
        vec![
            ("paraphrase", 40, 10, TextChoice::Paraphrases),
            ("duplicate", 40, 10, TextChoice::Original),
            ("once", 40, 1, TextChoice::Original),
        ]
    );
    let plan = paper.plan(&common::knowledge(130, 9), "k").unwrap();
    assert_eq!(plan.never_injected, (120..130).collect::<Vec<_>>());
    let exposures = plan.exposures;
    assert_eq!(exposures.iter().map(|e| e.t).max(), Some(900));
    assert_eq!(exposures.len(), 40 * 10 + 40 * 10 + 40);
    let at_zero: Vec<u32> = exposures
        .iter()
        .filter(|e| e.t == 0)
        .map(|e| e.knowledge_id)
        .collect();
    assert_eq!(at_zero, (0..120).collect::<Vec<_>>());
    let paraphrase_5 = exposures
        .iter()
        .find(|e| e.knowledge_id == 7 && e.exposure == 5)
        .unwrap();
    assert_eq!((paraphrase_5.t, paraphrase_5.variant), (500, 5));
    assert_eq!(paraphrase_5.text, "Paraphrase 5: Zorgon founded Entity7.");

    // The CPU presets' schedule: 24 paragraphs, 3 per step, so round 0 takes 8 steps; the rest of
    // the knowledge is the control.
    let miniature = Schedule::load(&folder.join("miniature.toml"), None, None).unwrap();
    let plan = miniature.plan(&common::knowledge(32, 2), "k").unwrap();
    assert_eq!(plan.never_injected, (24..32).collect::<Vec<_>>());
    let mut per_step = std::collections::BTreeMap::<u32, u32>::new();
    for e in &plan.exposures {
        *per_step.entry(e.t).or_default() += 1;
    }
    assert!(per_step.values().all(|&n| n <= 3), "{per_step:?}");
    assert_eq!(per_step.range(0..28).count(), 8);
    assert_eq!(plan.exposures.iter().map(|e| e.t).max(), Some(56 + 7));

    let smoke = Schedule::load(&folder.join("smoke.toml"), Some(2), None).unwrap();
    assert_eq!(smoke.interval(), 2, "--interval replaces the file's Δ");
    smoke.plan(&common::knowledge(12, 2), "k").unwrap();
}

/// A spread round takes the groups in turn, `k` texts per step, and every item keeps its Δ.
#[test]
fn spread_rounds_take_the_groups_in_turn() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "interval = 10\nmax_per_step = 2\n\
         [[group]]\nscenario = \"dup\"\ncount = 3\nexposures = 2\n\
         [[group]]\nscenario = \"once\"\ncount = 3\nexposures = 1\n",
    );
    let schedule = Schedule::load(&path, None, None).unwrap();
    let plan = schedule.plan(&common::knowledge(8, 0), "k").unwrap();
    assert_eq!(plan.never_injected, vec![6, 7]);
    let spots: Vec<(u32, u32)> = plan
        .exposures
        .iter()
        .map(|e| (e.t, e.knowledge_id))
        .collect();
    // dup takes ids 0-2, once 3-5; round 0 alternates dup 0, once 3, dup 1, once 4, …; round 1
    // keeps each dup item's offset, so Δ stays 10 for each.
    assert_eq!(
        spots,
        vec![
            (0, 0),
            (0, 3),
            (1, 1),
            (1, 4),
            (2, 2),
            (2, 5),
            (10, 0),
            (11, 1),
            (12, 2)
        ]
    );
    // The command line replaces the file's spread; one per step cannot fit 6 texts into Δ = 5.
    let tight = Schedule::load(&path, Some(5), Some(1)).unwrap();
    let error = format!(
        "{:#}",
        tight.plan(&common::knowledge(8, 0), "k").unwrap_err()
    );
    assert_mentions(&error, &["bad.toml", "1 texts per step", "Δ = 5"]);
}

#[test]
fn bad_schedule_files_name_the_file_and_the_problem() {
    assert_mentions(
        &load_error("interval = 10\n[[group]]\nscenario = \"x\"\ncount = 1\n"),
        &["bad.toml", "not a valid schedule file", "exposures"],
    );
    assert_mentions(
        &load_error(
            "interval = 1\nintervall = 2\n[[group]]\nscenario = \"x\"\ncount = 1\nexposures = 1\n",
        ),
        &["bad.toml", "intervall"],
    );
    assert_mentions(&load_error("interval = 1\n[[group]]\nscenario = \"x\"\ncount = 1\nexposures = 1\ntext = \"paraphrase\"\n"), &["bad.toml", "paraphrase"]);
    assert_mentions(
        &load_error("interval = 5\ngroup = []\n"),
        &["bad.toml", "no `[[group]]`"],
    );
    assert_mentions(
        &load_error("interval = 5\n[[group]]\nscenario = \"once\"\ncount = 0\nexposures = 1\n"),
        &["bad.toml", "`once`", "`count` is 0"],
    );
    assert_mentions(
        &load_error("interval = 5\n[[group]]\nscenario = \"once\"\ncount = 2\nexposures = 0\n"),
        &["`exposures` is 0"],
    );
    assert_mentions(
        &load_error("interval = 0\n[[group]]\nscenario = \"dup\"\ncount = 2\nexposures = 3\n"),
        &["`interval` is 0", "`dup`"],
    );
    assert_mentions(
        &load_error("interval = 5\nmax_per_step = 0\n[[group]]\nscenario = \"a\"\ncount = 1\nexposures = 1\n"),
        &["bad.toml", "`max_per_step` is 0"],
    );
    assert_mentions(&load_error("interval = 5\n[[group]]\nscenario = \"a\"\ncount = 1\nexposures = 1\n[[group]]\nscenario = \"a\"\ncount = 1\nexposures = 1\n"), &["scenario `a` appears twice"]);
}

#[test]
fn schedules_the_knowledge_cannot_fill_are_errors() {
    let paraphrase = "interval = 5\n[[group]]\nscenario = \"paraphrase\"\ncount = 2\nexposures = 4\ntext = \"paraphrases\"\n";
    assert_mentions(
        &plan_error(paraphrase, 5, 2),
        &[
            "knowledge.parquet",
            "column `paraphrases`",
            "knowledge id 0 has 2 paraphrases",
            "bad.toml",
            "needs 3",
        ],
    );
    let many = "interval = 5\n[[group]]\nscenario = \"once\"\ncount = 20\nexposures = 1\n";
    assert_mentions(
        &plan_error(many, 5, 0),
        &[
            "knowledge.parquet: has 5 knowledge items",
            "needs 20",
            "once 20",
        ],
    );
}
