//! The whole chain as a user runs it: `make reproduce-fig3 reproduce-fig2 reproduce-fig4
//! reproduce-fig5 reproduce-table2` with the smoke preset, through every stage binary and real files, using the
//! binaries this `cargo test` run has just built.

use std::path::{Path, PathBuf};
use std::process::Command;

use factlab_artifacts::{
    read_rows, Answer, AugmentedRow, ChoiceAccuracyRow, ChoiceOption, DecayRow, EffectivityRow,
    Knowledge, LinearProbeRow, LogprobRow, Person, Probe, ProbeKind, ShardRow,
};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn make(results: &Path, extra: &[String]) -> std::process::Output {
    let bin = Path::new(env!("CARGO_BIN_EXE_preset")).parent().unwrap();
    Command::new("make")
        .arg("-C")
        .arg(workspace_root())
        .args(["PRESET=smoke", "BUILD_BINARIES=no"])
        .arg(format!("RESULTS={}", results.display()))
        .arg(format!("BIN={}", bin.display()))
        .args(extra)
        .output()
        .unwrap()
}

/// The knowledge and probes of a run, written back in the public release's JSON layout.
fn release_json(knowledge: &[Knowledge], probes: &[Probe]) -> String {
    let entries: Vec<serde_json::Value> = knowledge
        .iter()
        .map(|k| {
            let mut entry =
                serde_json::json!({ "train_context": k.text, "paraphrases": k.paraphrases });
            for (kind, key) in [
                (ProbeKind::Memorization, "mem"),
                (ProbeKind::Semantic, "gen"),
                (ProbeKind::Composition, "hard_gen"),
            ] {
                let own: Vec<&Probe> = probes
                    .iter()
                    .filter(|p| p.knowledge_id == k.id && p.kind == kind)
                    .collect();
                entry[format!("{key}_input")] = own.iter().map(|p| p.prompt.clone()).collect();
                entry[format!("{key}_target")] = own.iter().map(|p| p.target.clone()).collect();
            }
            entry
        })
        .collect();
    serde_json::to_string(&entries).unwrap()
}

fn markdown_rows(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| {
            l.starts_with("| ")
                && !l.starts_with("| panel")
                && !l.starts_with("| run")
                && !l.starts_with("| scenario")
        })
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

#[test]
fn smoke_preset_runs_the_whole_chain() {
    let results = tempfile::tempdir().unwrap();
    let targets = [
        "reproduce-fig3",
        "reproduce-fig2",
        "reproduce-fig4",
        "reproduce-fig5",
        "reproduce-table2",
    ];
    let output = make(results.path(), &targets.map(String::from));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "make failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("# Decay constants"),
        "reproduce-table2 printed no table:\n{stdout}"
    );

    for figure in ["fig3", "fig2", "fig4", "fig5"] {
        for extension in ["png", "svg", "md"] {
            let path = results
                .path()
                .join(figure)
                .join(format!("{figure}.{extension}"));
            assert!(
                std::fs::metadata(&path)
                    .map(|m| m.len() > 100)
                    .unwrap_or(false),
                "{} missing",
                path.display()
            );
        }
    }

    // Figure 3: left panel 3 stages, right panel 2 sizes, each 3 scenarios × 3 kinds, finite.
    let rows = markdown_rows(&results.path().join("fig3/fig3.md"));
    assert_eq!(rows.len(), (3 + 2) * 9, "{rows:?}");
    // The verdicts on the paper's findings, one line per finding.
    let findings = std::fs::read_to_string(results.path().join("fig3/findings.md")).unwrap();
    for id in ["F1", "F2", "F3", "F4", "T1", "T2", "C1"] {
        assert!(findings.contains(&format!("| {id} | ")), "{findings}");
    }

    // Columns: effectivity, its interval, the control, net effectivity: all finite.
    for row in &rows {
        for column in [4, 6, 7] {
            let value: f64 = row[column].parse().unwrap();
            assert!(value.is_finite(), "{row:?}");
        }
    }

    let work = results.path().join("work/smoke");
    let effectivity: Vec<EffectivityRow> =
        read_rows(&work.join("fit/effectivity.parquet")).unwrap();
    assert_eq!(effectivity.len(), 4 * 3 * 3);
    assert!(effectivity.iter().all(|r| r.mean.is_finite()
        && r.ci_low <= r.mean
        && r.mean <= r.ci_high
        && r.probes == 20
        && r.control_probes == 15
        && r.net_ci_low <= r.net_mean
        && r.net_mean <= r.net_ci_high
        && (r.net_mean - (r.mean - r.control_mean)).abs() < 1e-12));
    let decay: Vec<DecayRow> = read_rows(&work.join("fit/decay.parquet")).unwrap();
    assert!(
        !decay.is_empty()
            && decay
                .iter()
                .all(|d| d.a.is_finite() && d.r_squared.is_finite())
    );

    // Each run scored all 225 probes (15 paragraphs, 3 of them never injected) at every step of
    // its eval schedule (0..=12).
    let logprobs: Vec<LogprobRow> =
        read_rows(&work.join("runs/small-mid/logprobs.parquet")).unwrap();
    assert_eq!(logprobs.len(), 225 * 13);
    assert!(logprobs
        .iter()
        .all(|r| r.target_logprob.is_finite() && r.target_logprob < 0.0));

    // A second make has nothing to do: every file is current.
    let again = make(results.path(), &["-q".into(), "reproduce-fig3".into()]);
    assert!(
        again.status.success(),
        "make -q reports out-of-date files after a complete run"
    );

    // The same chain on the public release's JSON layout and a corpus given by the user.
    let knowledge: Vec<Knowledge> = read_rows(&work.join("knowledge.parquet")).unwrap();
    let probes: Vec<Probe> = read_rows(&work.join("probes.parquet")).unwrap();
    let imported = tempfile::tempdir().unwrap();
    let json = imported.path().join("fictional_knowledge.json");
    std::fs::write(&json, release_json(&knowledge, &probes)).unwrap();
    let output = make(
        imported.path(),
        &[
            "reproduce-fig3".into(),
            format!("KNOWLEDGE={}", json.display()),
            format!("CORPUS={}", work.join("corpus.parquet").display()),
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !imported.path().join("work/smoke/corpus.parquet").exists(),
        "the given corpus was not used"
    );
    let rows = markdown_rows(&imported.path().join("fig3/fig3.md"));
    assert_eq!(rows.len(), (3 + 2) * 9);
}

/// The biography targets as a user runs them: `make reproduce-bios-qa reproduce-bios-probing
/// reproduce-celebrity reproduce-bios-mixed` with the bios-smoke preset, through gen-facts, inject (shuffled passes, then QA rows), train
/// (pretraining, then finetuning), probe (answers, hidden states), fit linear-probe and plot.
#[test]
fn bios_smoke_preset_runs_the_biography_chain() {
    let results = tempfile::tempdir().unwrap();
    let targets = [
        "reproduce-bios-qa",
        "reproduce-bios-probing",
        "reproduce-celebrity",
        "reproduce-bios-mixed",
    ]
    .map(String::from);
    let output = make(results.path(), &targets);
    assert!(
        output.status.success(),
        "make failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let work = results.path().join("work/bios-smoke");
    for variant in ["single", "multi2+permute"] {
        let people: Vec<Person> = read_rows(&work.join(variant).join("people.parquet")).unwrap();
        let test_people = people.iter().filter(|p| p.split == "test").count();
        let answers: Vec<Answer> = read_rows(&work.join(variant).join("answers.parquet")).unwrap();
        assert_eq!(answers.len(), test_people * 6, "{variant}");
        assert!(answers.iter().all(|a| a.split == "test"));
        let probes: Vec<LinearProbeRow> =
            read_rows(&work.join(variant).join("p-probe/linear-probe.parquet")).unwrap();
        assert_eq!(probes.len(), 6 * 6, "{variant}: positions × attributes");
    }
    let table = std::fs::read_to_string(results.path().join("bios-qa/bios-qa.md")).unwrap();
    assert!(
        table.contains("| single |") && table.contains("| multi2+permute |"),
        "{table}"
    );
    assert!(results.path().join("bios-qa/bios-qa.png").is_file());
    let probing = std::fs::read_to_string(results.path().join("bios-probing/probing.md")).unwrap();
    for heading in [
        "# single: P-probing",
        "# multi2+permute: Q-probing",
        "| name_end |",
    ] {
        assert!(probing.contains(heading), "{probing}");
    }
    assert!(results.path().join("bios-probing/p-probes.png").is_file());
    let q_probe_qa =
        std::fs::read_to_string(results.path().join("bios-probing/q-probe-qa.md")).unwrap();
    assert!(
        q_probe_qa.contains("## multi2+permute (Q-probe layer") && q_probe_qa.contains("| major |"),
        "{q_probe_qa}"
    );
    assert!(results.path().join("bios-probing/q-probe-qa.png").is_file());
    // The celebrity run tests the whole minority, having finetuned on the celebrities' QA.
    let people: Vec<Person> = read_rows(&work.join("celebrity/people.parquet")).unwrap();
    assert_eq!(people.len(), 80);
    assert_eq!(people.iter().filter(|p| p.group == "celebrity").count(), 40);
    let answers: Vec<Answer> = read_rows(&work.join("celebrity/answers.parquet")).unwrap();
    assert_eq!(answers.len(), 40 * 6);
    let celebrity = std::fs::read_to_string(results.path().join("celebrity/celebrity.md")).unwrap();
    assert!(
        celebrity.contains("| single+permute1+celebrities |"),
        "{celebrity}"
    );
    // Mixed training: one run from scratch on biography and QA rows, then P_test's questions.
    let shards: Vec<ShardRow> =
        read_rows(&work.join("single/mixed-shards/shards/shard-00000.parquet")).unwrap();
    let qa_rows = shards.iter().filter(|r| r.source == "qa").count();
    assert_eq!(qa_rows, shards.len() * 3 / 4, "0.8 of 4 rows rounds to 3");
    let mixed = std::fs::read_to_string(results.path().join("bios-mixed/bios-mixed.md")).unwrap();
    assert!(mixed.contains("| single+mixed |"), "{mixed}");
}

/// `text` with every nonsense name replaced by `{}`, longest names first, whole words only:
/// the template a sentence was rendered from.
fn skeleton(text: &str, names: &[&str]) -> String {
    let mut out = text.to_string();
    for name in names {
        let mut from = 0;
        while let Some(found) = out[from..].find(name) {
            let start = from + found;
            let end = start + name.len();
            let before = out[..start].chars().next_back();
            let after = out[end..].chars().next();
            let bounded = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric() && c != '-');
            if bounded(before) && bounded(after) {
                out.replace_range(start..end, "{}");
                from = start + 2;
            } else {
                from = end;
            }
        }
    }
    out
}

/// The sentences of a text (split after ". " and ": ", so a syllogism's context is apart).
fn sentences(text: &str) -> Vec<&str> {
    text.split_inclusive(". ")
        .flat_map(|s| s.split_inclusive(": "))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// No sentence that `augment --wording disjoint` added equals, contains or shares a template
/// with any option (right or wrong) of any test split of the dataset in `dir`.
fn assert_reworded_oracle_shares_nothing_with_the_options(dir: &Path) {
    let knowledge: Vec<Knowledge> = read_rows(&dir.join("knowledge.parquet")).unwrap();
    let options: Vec<ChoiceOption> = read_rows(&dir.join("options.parquet")).unwrap();
    let reworded: Vec<AugmentedRow> = read_rows(&dir.join("augmented-reworded.parquet")).unwrap();
    let mut names: Vec<&str> = knowledge
        .iter()
        .flat_map(|k| &k.facts)
        .flat_map(|f| [f.subject.as_str(), f.object.as_str()])
        .collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    names.dedup();
    let statements: Vec<String> = options
        .iter()
        .map(|o| format!("{}{}", o.prompt, o.completion))
        .collect();
    let tested: Vec<String> = statements
        .iter()
        .map(|s| sentences(s).last().unwrap().to_string())
        .collect();
    let templates: std::collections::HashSet<String> =
        tested.iter().map(|s| skeleton(s, &names)).collect();
    let added: Vec<&AugmentedRow> = reworded
        .iter()
        .filter(|r| r.strategy != "original")
        .collect();
    assert!(!added.is_empty(), "{}: no augmentations", dir.display());
    for row in added {
        for statement in &tested {
            assert!(
                !row.text.contains(statement.as_str()),
                "{}: `{}` states the option `{statement}`",
                dir.display(),
                row.text
            );
        }
        for sentence in sentences(&row.text) {
            let template = skeleton(sentence, &names);
            assert!(
                !templates.contains(&template),
                "{}: `{sentence}` has the template `{template}` of an option",
                dir.display()
            );
        }
    }
}

/// Lampinen et al. as a user runs it without a served model: `make reproduce-icl-vs-finetune`
/// with the lampinen-smoke preset, through gen-facts (the three nonsense-word datasets),
/// augment (the rules backend), inject, train (pretraining, then finetuning per condition),
/// probe score, fit choice-accuracy and plot.
#[test]
fn lampinen_smoke_preset_compares_conditions_per_split() {
    let results = tempfile::tempdir().unwrap();
    let output = make(results.path(), &["reproduce-icl-vs-finetune".to_string()]);
    assert!(
        output.status.success(),
        "make failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let work = results.path().join("work/lampinen-smoke");
    for dataset in ["reversals", "syllogisms", "semantic"] {
        assert_reworded_oracle_shares_nothing_with_the_options(&work.join(dataset));
    }
    // The verbatim rules oracle states every tested reversal, so its finetuning data holds the
    // right option of each reversal question.
    let options: Vec<ChoiceOption> = read_rows(&work.join("reversals/options.parquet")).unwrap();
    let augmented: Vec<AugmentedRow> =
        read_rows(&work.join("reversals/augmented-rules.parquet")).unwrap();
    let right: Vec<&ChoiceOption> = options.iter().filter(|o| o.correct == 1).collect();
    assert!(!right.is_empty());
    for option in right {
        let statement = format!("{}{}", option.prompt, option.completion);
        assert!(
            augmented.iter().any(|row| row.text.contains(&statement)),
            "`{statement}` not among the augmentations"
        );
    }
    for (dataset, splits) in [("reversals", 1), ("syllogisms", 1), ("semantic", 4)] {
        let rows: Vec<ChoiceAccuracyRow> =
            read_rows(&work.join(format!("{dataset}/choice-accuracy.parquet"))).unwrap();
        assert_eq!(rows.len(), 4 * splits, "{dataset}");
        let conditions: Vec<&str> = rows.iter().map(|r| r.condition.as_str()).collect();
        for condition in [
            "pretrained",
            "finetuned",
            "augmented-reworded",
            "augmented-rules",
        ] {
            assert!(conditions.contains(&condition), "{dataset}: {conditions:?}");
        }
        assert!(rows
            .iter()
            .all(|r| (0.0..=1.0).contains(&r.accuracy) && r.questions > 0));
    }
    let table =
        std::fs::read_to_string(results.path().join("icl-vs-finetune/icl-vs-finetune.md")).unwrap();
    assert!(
        table.contains("## semantic") && table.contains("| category-holdouts |"),
        "{table}"
    );
    assert!(
        table.contains("augmented-rules (test wording: recall bound)"),
        "{table}"
    );
    assert!(results
        .path()
        .join("icl-vs-finetune/icl-vs-finetune.png")
        .is_file());
}
