//! A shard folder made in the test: a word-level tokenizer, rows that count upwards through the
//! vocabulary (easy to learn, so the loss falls fast) and a few probes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use clap::Parser;
use factlab_artifacts::{write_rows, Probe, ProbeKind, ShardFile, ShardManifest, ShardRow};
use train::{Cli, Session};

pub const WORDS: u32 = 30;
pub const STEPS: u32 = 40;
pub const BATCH: u32 = 4;
pub const SEQ: u32 = 16;

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

pub fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_train"))
}

/// Runs `train` in this process with the given flags (not `--resume`).
pub fn train_in_process<S: AsRef<str>>(args: &[S]) -> anyhow::Result<()> {
    let flags = args.iter().map(|a| a.as_ref().to_owned());
    let cli = Cli::parse_from(std::iter::once("train".to_owned()).chain(flags));
    let (config, start) = train::cli::config_from_flags(&cli)?;
    Session::new(config, start)?.run(&cli.verbosity)
}

pub fn smoke_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines/models/smoke.toml")
}

fn word(i: u32) -> String {
    format!("w{i}")
}

/// Writes tokenizer.json, two shard files and manifest.json into `dir`; returns the manifest.
pub fn write_shards(dir: &Path) -> PathBuf {
    write_shards_with(dir, |_| {})
}

/// [`write_shards`] with every row passed through `edit` (its row index in the file, counting
/// from 0, is `step * BATCH + row`).
pub fn write_shards_with(dir: &Path, edit: impl Fn(&mut ShardRow)) -> PathBuf {
    let mut vocab = serde_json::Map::new();
    vocab.insert("<|endoftext|>".into(), 0.into());
    vocab.insert("<unk>".into(), 1.into());
    for i in 0..WORDS {
        vocab.insert(word(i), (i + 2).into());
    }
    let tokenizer = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null,
        "decoder": null, "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"}
    });
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string()).unwrap();
    let mut rng = factlab_rng::Rng::new(11);
    let rows: Vec<ShardRow> = (0..STEPS)
        .flat_map(|step| (0..BATCH).map(move |row| (step, row)))
        .map(|(step, row)| {
            let offset = rng.below(WORDS as usize) as u32;
            ShardRow {
                step,
                row,
                tokens: (0..SEQ).map(|i| (offset + i) % WORDS + 2).collect(),
                source: "corpus".into(),
                knowledge_ids: vec![],
                variants: vec![],
                loss_mask: Vec::new(),
            }
        })
        .map(|mut row| {
            edit(&mut row);
            row
        })
        .collect();
    let half = (STEPS / 2 * BATCH) as usize;
    let mut shards = Vec::new();
    for (i, part) in [&rows[..half], &rows[half..]].into_iter().enumerate() {
        let file = format!("shard-{i:05}.parquet");
        write_rows(&dir.join(&file), part).unwrap();
        shards.push(ShardFile {
            file,
            first_step: part[0].step,
            last_step: part[part.len() - 1].step,
            rows: part.len() as u64,
        });
    }
    let manifest = ShardManifest {
        format: ShardManifest::FORMAT.into(),
        tokenizer: "tokenizer.json".into(),
        seq_len: SEQ,
        batch_size: BATCH,
        start_step: 0,
        steps: STEPS,
        eos_token_id: 0,
        shards,
        injections: None,
    };
    let path = dir.join("manifest.json");
    manifest.save(&path).unwrap();
    path
}

/// Probes whose targets continue the counting pattern.
pub fn write_probes(dir: &Path) -> PathBuf {
    let probes: Vec<Probe> = (0..6u32)
        .map(|i| Probe {
            id: i,
            knowledge_id: i / 3,
            kind: ProbeKind::ALL[i as usize % 3],
            prompt: (i..i + 4).map(word).collect::<Vec<_>>().join(" "),
            target: (i + 4..i + 4 + 1 + i % 2)
                .map(word)
                .collect::<Vec<_>>()
                .join(" "),
            facts: vec![],
        })
        .collect();
    let path = dir.join("probes.parquet");
    write_rows(&path, &probes).unwrap();
    path
}

/// Runs the command with the test hold at step 12 and SIGKILLs it there: its step-12
/// checkpoint written under a temporary name but not renamed, the logs already covering it, the
/// step-8 checkpoint the latest. The same point every time, however fast training is.
pub fn kill_at_step_12(command: &mut Command, out: &Path) {
    drop(hold_at_step_12(command, out));
    let checkpoints = out.join("checkpoints");
    assert_eq!(
        std::fs::read_to_string(checkpoints.join("latest"))
            .unwrap()
            .trim(),
        "step-000008"
    );
    assert!(!checkpoints.join("step-000012").exists());
    assert!(std::fs::read_dir(&checkpoints).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with(".step-000012.tmp-")));
}

/// A run waiting at its test hold. Dropping it SIGKILLs the run, so a test that fails while
/// holding one leaves no process behind (a held run never ends by itself).
pub struct HeldRun(Child);

impl Drop for HeldRun {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the command with the test hold at step 12 and returns once the run waits there, alive
/// and holding its run folder, its step-12 checkpoint under a temporary name.
pub fn hold_at_step_12(command: &mut Command, out: &Path) -> HeldRun {
    let ready = out.with_extension("held");
    let mut child = command
        .env("FACTLAB_TRAIN_TEST_HOLD", format!("12:{}", ready.display()))
        .spawn()
        .unwrap();
    while !ready.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before its hold at step 12"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    HeldRun(child)
}
