//! The biography chain as a user runs it, through the stage binaries and real files:
//! `gen-facts bios` → `inject` → `train` (a smoke-size model, a few dozen steps) → `probe
//! generate`, `probe hidden --bios` / `--people`, `probe score`; `fit linear-probe` on the hidden
//! states; `inject --qa` → `train --init` (QA finetuning) → `probe generate` → `plot bios-qa`.
//!
//! Cargo gives a test the path of its own package's binaries only, so the other stages are
//! taken from the same folder as `probe`. `cargo test --workspace` builds every binary first;
//! after `cargo test -p probe` alone they may be missing or older than the sources, so run
//! `cargo build --workspace --bins` first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use factlab_artifacts::{
    read_hidden, read_rows, write_rows, Answer, BioEntry, ChoiceOption, LinearProbeRow,
    OptionScore, Person, QaPair, ShardRow, ATTRIBUTES,
};

/// A stage binary built beside `probe`.
fn stage(name: &str) -> PathBuf {
    let folder = Path::new(env!("CARGO_BIN_EXE_probe")).parent().unwrap();
    let path = folder.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: this test runs the other stages' binaries from the folder cargo built \
         `probe` into; run `cargo build --workspace --bins` (or `cargo test --workspace`, which \
         builds them) first",
        path.display()
    );
    path
}

fn run(program: &Path, args: &[&str], dir: &Path) -> Vec<u8> {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{} {}\n{}",
        program.display(),
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

const MODEL: &str = "\
# pipelines/models/smoke.toml with a context that holds a whole multi2+permute entry
hidden_size = 32
intermediate_size = 64
num_layers = 2
num_heads = 2
max_position_embeddings = 256
";

#[test]
fn bios_through_inject_train_and_every_probe_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    run(
        &stage("gen-facts"),
        &[
            "bios",
            "-n",
            "60",
            "--variant",
            "multi2+permute",
            "--seed",
            "1",
            "-o",
            "bios.parquet",
            "--people",
            "people.parquet",
            "--qa",
            "qa.parquet",
        ],
        dir,
    );
    run(
        &stage("inject"),
        &[
            "-c",
            "bios.parquet",
            "-o",
            "inject",
            "--vocab-size",
            "512",
            "--seq-len",
            "128",
            "--batch-size",
            "4",
            "--steps",
            "28",
        ],
        dir,
    );
    std::fs::write(dir.join("model.toml"), MODEL).unwrap();
    run(
        &stage("train"),
        &[
            "--shards",
            "inject/shards/manifest.json",
            "--model",
            "model.toml",
            "--out",
            "run",
            "--steps",
            "28",
        ],
        dir,
    );
    let probe = PathBuf::from(env!("CARGO_BIN_EXE_probe"));
    let model = [
        "--checkpoint",
        "run",
        "--tokenizer",
        "inject/tokenizer.json",
    ];
    let with_model = |args: &[&str]| -> Vec<String> {
        args[..1]
            .iter()
            .chain(&model)
            .chain(&args[1..])
            .map(|s| s.to_string())
            .collect()
    };
    let probe_run = |args: &[&str]| {
        let args = with_model(args);
        run(
            &probe,
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            dir,
        )
    };

    // generate: every question, twice (the second to stdout): the same bytes.
    probe_run(&[
        "generate",
        "--qa",
        "qa.parquet",
        "--split",
        "all",
        "--max-new-tokens",
        "12",
        "-o",
        "answers.parquet",
        "--table",
        "qa.md",
    ]);
    let again = probe_run(&[
        "generate",
        "--qa",
        "qa.parquet",
        "--split",
        "all",
        "--max-new-tokens",
        "12",
        "-o",
        "-",
    ]);
    assert_eq!(std::fs::read(dir.join("answers.parquet")).unwrap(), again);
    let qa: Vec<QaPair> = read_rows(&dir.join("qa.parquet")).unwrap();
    let answers: Vec<Answer> = read_rows(&dir.join("answers.parquet")).unwrap();
    assert_eq!(answers.len(), qa.len());
    assert_eq!(qa.len(), 60 * 6);
    for (pair, answer) in qa.iter().zip(&answers) {
        assert_eq!(
            (&answer.question, &answer.answer, answer.person_id),
            (&pair.question, &pair.answer, pair.person_id)
        );
        assert_eq!(
            answer.exact_match,
            u32::from(answer.generated == answer.answer)
        );
        assert!(answer.first_token_match <= 1);
        assert!(!answer.generated.contains('\n') && answer.generated.trim() == answer.generated);
    }
    let table = std::fs::read_to_string(dir.join("qa.md")).unwrap();
    for attribute in ATTRIBUTES {
        assert!(table.contains(&format!("| {attribute} | 60 |")), "{table}");
    }
    assert!(table.contains("| all | 360 |"), "{table}");

    // hidden, P-probing: six positions per entry, at the token before each value.
    probe_run(&[
        "hidden",
        "--bios",
        "bios.parquet",
        "--layers",
        "0,last",
        "-o",
        "hidden.parquet",
    ]);
    let bios: Vec<BioEntry> = read_rows(&dir.join("bios.parquet")).unwrap();
    let states = read_hidden(&dir.join("hidden.parquet")).unwrap();
    assert_eq!(states.len(), bios.len() * 6 * 2);
    assert!(states.iter().all(|s| s.vector.len() == 32));
    assert!(states
        .iter()
        .all(|s| s.vector.iter().all(|x| x.is_finite())));
    let tokenizer = tokenizers::Tokenizer::from_file(dir.join("inject/tokenizer.json")).unwrap();
    for (entry, states) in bios.iter().zip(states.chunks(12)) {
        let ids = tokenizer
            .encode(entry.text.as_str(), false)
            .unwrap()
            .get_ids()
            .to_vec();
        for (index, pair) in states.chunks(2).enumerate() {
            assert_eq!(
                (
                    pair[0].layer,
                    pair[1].layer,
                    pair[0].person_id,
                    pair[0].entry
                ),
                (0, 2, entry.person_id, entry.entry)
            );
            assert_eq!(pair[0].position, ATTRIBUTES[index]);
            assert_eq!(pair[0].token_index, pair[1].token_index);
            assert_ne!(pair[0].vector, pair[1].vector);
            // Input index k + 1 is text token k: the value begins at input index
            // token_index + 1, which is text token token_index.
            let rest = tokenizer
                .decode(&ids[pair[0].token_index as usize..], false)
                .unwrap();
            assert!(
                rest.trim_start().starts_with(entry.value(index)),
                "{}: `{rest}` should start with `{}`",
                ATTRIBUTES[index],
                entry.value(index)
            );
        }
    }
    // One row per entry, position and layer.
    let by_key: BTreeMap<_, _> = states
        .iter()
        .map(|s| {
            (
                (s.person_id, s.entry, s.position.clone(), s.layer),
                &s.vector,
            )
        })
        .collect();
    assert_eq!(by_key.len(), states.len());

    // A token index past an entry's end is refused, naming the file, the row and the flag.
    let output = Command::new(&probe)
        .args(with_model(&[
            "hidden",
            "--bios",
            "bios.parquet",
            "--positions",
            "index:900",
            "-o",
            "x.parquet",
        ]))
        .current_dir(dir)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("bios.parquet: row 0 (person ")
            && stderr.contains("--positions index:900 is outside the input"),
        "{stderr}"
    );
    assert!(!dir.join("x.parquet").exists());

    // hidden, Q-probing: end-of-text, the name, end-of-text.
    probe_run(&[
        "hidden",
        "--people",
        "people.parquet",
        "-o",
        "q-hidden.parquet",
    ]);
    let people: Vec<Person> = read_rows(&dir.join("people.parquet")).unwrap();
    let states = read_hidden(&dir.join("q-hidden.parquet")).unwrap();
    assert_eq!(states.len(), people.len());
    for (person, state) in people.iter().zip(&states) {
        let name_tokens = tokenizer.encode(person.name.as_str(), false).unwrap().len();
        assert_eq!(
            (
                state.person_id,
                state.entry,
                state.position.as_str(),
                state.layer
            ),
            (person.person_id, 0, "name_end", 2)
        );
        assert_eq!(state.token_index as usize, name_tokens + 1);
    }

    // score: four birth cities per person, the right one first or last.
    let cities: Vec<&str> = people.iter().map(|p| p.birth_city.as_str()).collect();
    let mut options = Vec::new();
    for (question, person) in people.iter().take(10).enumerate() {
        let mut choices: Vec<&str> = cities
            .iter()
            .copied()
            .filter(|&c| c != person.birth_city)
            .take(3)
            .collect();
        choices.insert(if question % 2 == 0 { 0 } else { 3 }, &person.birth_city);
        for (option_id, city) in choices.iter().enumerate() {
            options.push(ChoiceOption {
                question_id: question as u32,
                option_id: option_id as u32,
                prompt: format!("{} was born in", person.name),
                completion: format!(" {city}"),
                correct: u32::from(*city == person.birth_city),
                split: "birth-city".into(),
                subset: format!("question-{}", question % 2),
            });
        }
    }
    write_rows(&dir.join("options.parquet"), &options).unwrap();
    probe_run(&[
        "score",
        "--options",
        "options.parquet",
        "-o",
        "scores.parquet",
    ]);
    let scores: Vec<OptionScore> = read_rows(&dir.join("scores.parquet")).unwrap();
    assert_eq!(scores.len(), 40);
    for (option, score) in options.iter().zip(&scores) {
        assert_eq!(
            (
                score.question_id,
                score.option_id,
                score.correct,
                &score.split,
                &score.subset
            ),
            (
                option.question_id,
                option.option_id,
                option.correct,
                &option.split,
                &option.subset
            )
        );
        assert!(score.tokens >= 1 && score.logprob_sum < 0.0);
        assert!((score.logprob_mean * score.tokens as f64 - score.logprob_sum).abs() < 1e-9);
    }
    for question in scores.chunks(4) {
        let max = question
            .iter()
            .map(|s| s.logprob_sum)
            .fold(f64::MIN, f64::max);
        let chosen: Vec<bool> = question.iter().map(|s| s.chosen == 1).collect();
        let first_best = question.iter().position(|s| s.logprob_sum == max).unwrap();
        assert_eq!(chosen, (0..4).map(|i| i == first_best).collect::<Vec<_>>());
    }

    // fit linear-probe consumes both hidden files: one probe per layer × position × attribute,
    // trained on P_train people and scored on P_test people.
    run(
        &stage("fit"),
        &[
            "linear-probe",
            "--hidden",
            "hidden.parquet",
            "--people",
            "people.parquet",
            "-o",
            "p-probe",
        ],
        dir,
    );
    let probes: Vec<LinearProbeRow> = read_rows(&dir.join("p-probe/linear-probe.parquet")).unwrap();
    assert_eq!(probes.len(), 2 * 6 * 6);
    let train_people = people.iter().filter(|p| p.split == "train").count() as u32;
    for row in &probes {
        // multi2: two entries per person.
        assert_eq!(row.train_examples, 2 * train_people);
        assert_eq!(row.test_examples, 2 * (60 - train_people));
        assert!((0.0..=1.0).contains(&row.accuracy) && (0.0..=1.0).contains(&row.baseline));
    }
    let table = std::fs::read_to_string(dir.join("p-probe/linear-probe.md")).unwrap();
    assert!(
        table.contains("## Layer 2") && table.contains("| company_city |"),
        "{table}"
    );
    run(
        &stage("fit"),
        &[
            "linear-probe",
            "--hidden",
            "q-hidden.parquet",
            "--people",
            "people.parquet",
            "-o",
            "q-probe",
        ],
        dir,
    );
    let probes: Vec<LinearProbeRow> = read_rows(&dir.join("q-probe/linear-probe.parquet")).unwrap();
    assert_eq!(probes.len(), 6);
    assert!(probes
        .iter()
        .all(|r| r.position == "name_end" && r.layer == 2));
    // Hidden states record the biography set they were computed from: the people of another
    // `gen-facts bios` run are refused, naming both files.
    run(
        &stage("gen-facts"),
        &[
            "bios",
            "-n",
            "60",
            "--seed",
            "2",
            "-o",
            "other-bios.parquet",
            "--people",
            "other-people.parquet",
        ],
        dir,
    );
    let refused = Command::new(stage("fit"))
        .args(["linear-probe", "--hidden", "q-hidden.parquet", "--people"])
        .args(["other-people.parquet", "-o", "mixed-probe"])
        .current_dir(dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(
        stderr.contains("q-hidden.parquet") && stderr.contains("other-people.parquet"),
        "{stderr}"
    );
    assert!(!dir.join("mixed-probe").exists());

    // QA finetuning: P_train pairs with the pretraining tokenizer, answers-only loss, from the
    // pretrained checkpoint; then the answers of P_test people go into the QA figure.
    run(
        &stage("inject"),
        &[
            "-c",
            "bios.parquet",
            "-o",
            "qa-shards",
            "--tokenizer",
            "inject/tokenizer.json",
            "--qa",
            "qa.parquet",
            "--seq-len",
            "128",
            "--batch-size",
            "4",
            "--steps",
            "6",
        ],
        dir,
    );
    let qa_rows: Vec<ShardRow> =
        read_rows(&dir.join("qa-shards/shards/shard-00000.parquet")).unwrap();
    assert!(qa_rows
        .iter()
        .all(|r| r.source == "qa" && r.loss_mask.len() == 128));
    run(
        &stage("train"),
        &[
            "--shards",
            "qa-shards/shards/manifest.json",
            "--init",
            "run/checkpoints/step-000028",
            "--reset-step",
            "--out",
            "finetune",
        ],
        dir,
    );
    let finetune_model = [
        "--checkpoint",
        "finetune",
        "--tokenizer",
        "inject/tokenizer.json",
    ];
    run(
        &probe,
        &[
            &["generate"][..],
            &finetune_model,
            &[
                "--qa",
                "qa.parquet",
                "--split",
                "test",
                "--max-new-tokens",
                "12",
                "-o",
                "test-answers.parquet",
            ],
        ]
        .concat(),
        dir,
    );
    run(
        &stage("plot"),
        &[
            "bios-qa",
            "--answers",
            "answers.parquet",
            "test-answers.parquet",
            "--variants",
            "pretrained,finetuned",
            "-o",
            "bios-qa/bios-qa",
        ],
        dir,
    );
    assert!(dir.join("bios-qa/bios-qa.png").is_file());
    let table = std::fs::read_to_string(dir.join("bios-qa/bios-qa.md")).unwrap();
    let test_answers = (60 - train_people as usize) * 6;
    assert!(
        table.contains("| pretrained |") && table.contains(" | 360 |"),
        "{table}"
    );
    assert!(table.contains(&format!(" | {test_answers} |")), "{table}");
}
