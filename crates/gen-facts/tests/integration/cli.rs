//! The `gen-facts` binary as a user runs it: counts, determinism across thread counts, piping,
//! and errors for bad input.

use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use factlab_artifacts::{read_rows, CorpusDocument, Knowledge, Probe, ProbeKind};

fn gen_facts() -> Command {
    Command::cargo_bin("gen-facts").unwrap()
}

fn run_ok(command: &mut Command) -> Vec<u8> {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{:?} failed: {}",
        command,
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn run_err(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(!output.status.success(), "{command:?} should have failed");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn fictional_writes_the_papers_counts() {
    let dir = tempfile::tempdir().unwrap();
    let (k, p) = (dir.path().join("k.parquet"), dir.path().join("p.parquet"));
    run_ok(
        gen_facts()
            .args(["fictional", "-n", "120", "--seed", "1", "-o"])
            .arg(&k)
            .arg("--probes")
            .arg(&p),
    );
    let knowledge: Vec<Knowledge> = read_rows(&k).unwrap();
    let probes: Vec<Probe> = read_rows(&p).unwrap();
    assert_eq!(knowledge.len(), 120);
    assert_eq!(
        knowledge.iter().map(|k| k.paraphrases.len()).sum::<usize>(),
        1080
    );
    assert_eq!(probes.len(), 1800);
    for kind in ProbeKind::ALL {
        assert_eq!(
            probes.iter().filter(|p| p.kind == kind).count(),
            600,
            "{kind:?}"
        );
    }
    let ids: Vec<u32> = knowledge.iter().map(|k| k.id).collect();
    assert_eq!(ids, (0..120).collect::<Vec<_>>());
}

#[test]
fn same_seed_gives_identical_bytes_whatever_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for threads in ["1", "2", "3"] {
        let k = dir.path().join(format!("k{threads}.parquet"));
        let p = dir.path().join(format!("p{threads}.parquet"));
        let c = dir.path().join(format!("c{threads}.parquet"));
        let o = dir.path().join(format!("o{threads}.parquet"));
        run_ok(
            gen_facts()
                .env("RAYON_NUM_THREADS", threads)
                .args(["fictional", "-n", "2100", "--seed", "7", "-o"])
                .arg(&k)
                .arg("--probes")
                .arg(&p),
        );
        run_ok(
            gen_facts()
                .env("RAYON_NUM_THREADS", threads)
                .args(["background", "--tokens", "300000", "--seed", "7", "-o"])
                .arg(&c),
        );
        run_ok(
            gen_facts()
                .env("RAYON_NUM_THREADS", threads)
                .args(["background", "--tokens", "300000", "--seed", "7"])
                .args(["--grammar", "knowledge", "-o"])
                .arg(&o),
        );
        outputs.push([&k, &p, &c, &o].map(|f| std::fs::read(f).unwrap()));
    }
    assert!(outputs[0] == outputs[1] && outputs[1] == outputs[2]);
    // The default is the disjoint grammar, and naming it changes nothing.
    assert_ne!(outputs[0][2], outputs[0][3]);
    let named = dir.path().join("named.parquet");
    run_ok(
        gen_facts()
            .args(["background", "--tokens", "300000", "--seed", "7"])
            .args(["--grammar", "disjoint", "-o"])
            .arg(&named),
    );
    assert_eq!(std::fs::read(&named).unwrap(), outputs[0][2]);
    let seed8 = dir.path().join("seed8.parquet");
    run_ok(
        gen_facts()
            .args(["background", "--tokens", "300000", "--seed", "8", "-o"])
            .arg(&seed8),
    );
    assert_ne!(std::fs::read(&seed8).unwrap(), outputs[0][2]);

    let other = dir.path().join("other.parquet");
    run_ok(
        gen_facts()
            .args(["fictional", "-n", "2100", "--seed", "8", "-o"])
            .arg(&other),
    );
    assert_ne!(std::fs::read(&other).unwrap(), outputs[0][0]);
}

#[test]
fn background_token_budget_is_met_and_not_far_exceeded() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("c.parquet");
    run_ok(
        gen_facts()
            .args(["background", "--tokens", "50000", "-o"])
            .arg(&c),
    );
    let docs: Vec<CorpusDocument> = read_rows(&c).unwrap();
    let tokens: u64 = docs
        .iter()
        .map(|d| gen_facts::approximate_tokens(&d.text))
        .sum();
    let last = gen_facts::approximate_tokens(&docs.last().unwrap().text);
    assert!(
        tokens >= 50_000 && tokens - last < 50_000,
        "{tokens} tokens in {} documents",
        docs.len()
    );
}

#[test]
fn stdout_output_equals_file_output() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("k.parquet");
    run_ok(
        gen_facts()
            .args(["fictional", "-n", "30", "--seed", "3", "-o"])
            .arg(&file),
    );
    let piped = run_ok(gen_facts().args(["fictional", "-n", "30", "--seed", "3", "-o", "-", "-q"]));
    assert_eq!(piped, std::fs::read(&file).unwrap());
}

#[test]
fn import_reads_the_release_format_from_a_file_or_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let (k, p) = (dir.path().join("k.parquet"), dir.path().join("p.parquet"));
    run_ok(
        gen_facts()
            .arg("import-fictional-knowledge")
            .arg(fixture("fictional_knowledge_sample.json"))
            .arg("-o")
            .arg(&k)
            .arg("--probes")
            .arg(&p),
    );
    let knowledge: Vec<Knowledge> = read_rows(&k).unwrap();
    let probes: Vec<Probe> = read_rows(&p).unwrap();
    assert_eq!(knowledge.len(), 2);
    assert_eq!(knowledge[0].paraphrases.len(), 1);
    assert!(knowledge[1].paraphrases.is_empty());
    assert_eq!(probes.len(), 15 + 5);
    let composition: Vec<&Probe> = probes
        .iter()
        .filter(|p| p.kind == ProbeKind::Composition)
        .collect();
    assert_eq!(composition[4].target, "Tarnel and Quessary");
    assert_eq!(composition[5].knowledge_id, 1);
    for probe in probes.iter().filter(|p| p.kind == ProbeKind::Memorization) {
        let text = &knowledge[probe.knowledge_id as usize].text;
        assert!(text.contains(&format!("{} {}", probe.prompt, probe.target)));
    }

    let json = std::fs::read(fixture("fictional_knowledge_sample.json")).unwrap();
    let mut child = gen_facts()
        .args(["import-fictional-knowledge", "-", "-o", "-", "-q"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &json).unwrap();
    let piped = child.wait_with_output().unwrap();
    assert!(piped.status.success());
    assert_eq!(piped.stdout, std::fs::read(&k).unwrap());
}

#[test]
fn malformed_release_files_name_the_entry_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let good = r#"{"train_context": "A B.", "mem_input": ["A"], "mem_target": ["B"],
        "gen_input": ["A"], "gen_target": ["B"], "hard_gen_input": ["A"], "hard_gen_target": ["B"]}"#;
    let cases = [
        ("not json", "not valid JSON".to_string()),
        (
            r#"{"train_context": "x"}"#,
            "the top level is an object; expected a list".to_string(),
        ),
        ("[]", "the list of entries is empty".to_string()),
        (
            &*format!("[{good}, 3]"),
            "entry 1 is a number; expected an object".to_string(),
        ),
        (
            &*good
                .replace(r#""train_context": "A B.","#, "")
                .replace('{', "[{")
                .replace("\"]}", "\"]}]"),
            "entry 0: field `train_context` is missing".to_string(),
        ),
        (
            &*format!(
                "[{}]",
                good.replace(r#""mem_target": ["B"]"#, r#""mem_target": "B""#)
            ),
            "entry 0: field `mem_target` is a string; expected a list of strings".to_string(),
        ),
        (
            &*format!(
                "[{}]",
                good.replace(r#""gen_target": ["B"]"#, r#""gen_target": ["B", "C"]"#)
            ),
            "entry 0: `gen_input` has 1 items but `gen_target` has 2".to_string(),
        ),
        (
            &*format!(
                "[{}]",
                good.replace(r#""hard_gen_input": ["A"]"#, r#""hard_gen_input": [7]"#)
            ),
            "entry 0: field `hard_gen_input`, item 0 is a number; expected a string".to_string(),
        ),
    ];
    for (i, (json, expected)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.json"));
        std::fs::write(&path, json).unwrap();
        let out = dir.path().join(format!("out{i}.parquet"));
        let stderr = run_err(
            gen_facts()
                .arg("import-fictional-knowledge")
                .arg(&path)
                .arg("-o")
                .arg(&out),
        );
        assert!(
            stderr.contains(expected.as_str()),
            "case {i}: expected `{expected}` in: {stderr}"
        );
        assert!(
            stderr.contains(&path.display().to_string()),
            "case {i} does not name the file: {stderr}"
        );
        assert!(!out.exists(), "case {i} left an output behind");
    }
}

#[test]
fn bad_arguments_and_data_files_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = run_err(
        gen_facts()
            .args(["background", "-o"])
            .arg(dir.path().join("c.parquet")),
    );
    assert!(stderr.contains("--documents"), "{stderr}");

    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/fictional");
    std::fs::copy(bundled.join("names.toml"), data.join("names.toml")).unwrap();
    let relations = std::fs::read_to_string(bundled.join("relations.toml")).unwrap();
    std::fs::write(
        data.join("relations.toml"),
        relations.replace(
            "\"{s} was named after {o}.\"",
            "\"{s} was named after {o} long ago.\"",
        ),
    )
    .unwrap();
    let stderr = run_err(
        gen_facts()
            .args(["fictional", "-n", "3", "-o"])
            .arg(dir.path().join("k.parquet"))
            .arg("--data")
            .arg(&data),
    );
    assert!(
        stderr.contains("relation `named_after`") && stderr.contains("must end with"),
        "{stderr}"
    );
    assert!(!dir.path().join("k.parquet").exists());
}

#[test]
fn background_help_explains_the_grammar_choice() {
    let help = String::from_utf8(run_ok(gen_facts().args(["background", "--help"]))).unwrap();
    for expected in [
        "--grammar <GRAMMAR>",
        "[default: disjoint]",
        "knowledge",
        "--grammar-data",
        "--grammar knowledge -o",
    ] {
        assert!(help.contains(expected), "`{expected}` not in:\n{help}");
    }
}

#[test]
fn a_bad_grammar_file_is_named_and_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let grammar = dir.path().join("grammar");
    std::fs::create_dir(&grammar).unwrap();
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/background");
    std::fs::copy(
        bundled.join("vocabulary.toml"),
        grammar.join("vocabulary.toml"),
    )
    .unwrap();
    let text = std::fs::read_to_string(bundled.join("grammar.toml")).unwrap();
    std::fs::write(
        grammar.join("grammar.toml"),
        text.replacen("{kilometres} kilometres", "{kilometers} kilometres", 1),
    )
    .unwrap();
    let out = dir.path().join("c.parquet");
    let stderr = run_err(
        gen_facts()
            .args(["background", "--documents", "3", "--grammar-data"])
            .arg(&grammar)
            .arg("-o")
            .arg(&out),
    );
    assert!(
        stderr.contains(&grammar.join("grammar.toml").display().to_string())
            && stderr.contains("topic `town`, opening 0: unknown placeholder `{kilometers}`"),
        "{stderr}"
    );
    assert!(!out.exists());

    let stderr = run_err(
        gen_facts()
            .args(["background", "--documents", "3", "--grammar", "knowledge"])
            .arg("--grammar-data")
            .arg(&grammar)
            .arg("-o")
            .arg(&out),
    );
    assert!(
        stderr.contains("--grammar-data is read by `--grammar disjoint` only"),
        "{stderr}"
    );
}
