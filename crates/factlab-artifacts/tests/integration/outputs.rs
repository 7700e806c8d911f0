//! Temporaries of killed writers are removed by the next write, those of live writers are kept;
//! files written as one set are tied by their set id, and a torn set is refused.

use std::fs::File;
use std::path::Path;

use factlab_artifacts::outputs::{check_same_set, seal_together, set_of, write_rows_unsealed};
use factlab_artifacts::{
    read_rows, write_rows, ArtifactWriter, CorpusDocument, Knowledge, Probe, ProbeKind,
};

fn documents(texts: &[&str]) -> Vec<CorpusDocument> {
    texts
        .iter()
        .map(|t| CorpusDocument {
            text: t.to_string(),
        })
        .collect()
}

fn knowledge(text: &str) -> Vec<Knowledge> {
    vec![Knowledge {
        id: 0,
        dataset: "fictional".into(),
        entity: None,
        entity_type: None,
        text: text.into(),
        paraphrases: vec![],
        facts: vec![],
    }]
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_killed_writers_temporary_is_removed_by_the_next_write_and_a_live_ones_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("k.parquet");
    // A killed writer's temporary: nobody holds its lock any more.
    std::fs::write(dir.path().join(".k.parquet.aB3xY9.tmp"), b"half a file").unwrap();
    // A live writer's temporary, locked as `Sink::create` locks it (here by this process: the
    // lock belongs to the open file, so the cleaner in this same process must respect it too).
    let live = dir.path().join(".k.parquet.LiVe42.tmp");
    let live_file = File::create(&live).unwrap();
    live_file.lock().unwrap();
    // Not temporaries of k.parquet: another output's, and names that only look alike.
    for other in [
        ".k.parquet.x.aB3xY9.tmp",
        ".k.parquet.toolong7.tmp",
        ".k.parquet.aB3xY9.tmp.png",
        "k.parquet.aB3xY9.tmp",
    ] {
        std::fs::write(dir.path().join(other), b"").unwrap();
    }

    write_rows(&out, &documents(&["a"])).unwrap();
    assert_eq!(
        names(dir.path()),
        [
            ".k.parquet.LiVe42.tmp",
            ".k.parquet.aB3xY9.tmp.png",
            ".k.parquet.toolong7.tmp",
            ".k.parquet.x.aB3xY9.tmp",
            "k.parquet",
            "k.parquet.aB3xY9.tmp",
        ]
    );

    // Once its writer is gone (the lock goes with the last handle), the next write removes it.
    drop(live_file);
    write_rows(&out, &documents(&["b"])).unwrap();
    assert!(!live.exists());
}

#[test]
fn a_second_writer_of_the_same_output_leaves_the_first_ones_temporary_alone() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("corpus.parquet");
    let mut first = ArtifactWriter::<CorpusDocument>::create(&out).unwrap();
    first.write(&documents(&["first"])).unwrap();
    // Another writer of the same output starts (and cleans) while the first is writing.
    write_rows(&out, &documents(&["second"])).unwrap();
    assert_eq!(names(dir.path()).len(), 2, "{:?}", names(dir.path()));
    first.write(&documents(&["still first"])).unwrap();
    first.finish().unwrap();
    assert_eq!(
        read_rows::<CorpusDocument>(&out).unwrap(),
        documents(&["first", "still first"])
    );
    assert_eq!(names(dir.path()), ["corpus.parquet"]);
}

/// A set of three: knowledge (the main file), a corpus and probes.
fn write_set(dir: &Path, text: &str, probe_target: &str) {
    let files = vec![
        write_rows_unsealed(&dir.join("knowledge.parquet"), &knowledge(text)).unwrap(),
        write_rows_unsealed(&dir.join("corpus.parquet"), &documents(&[text, "ü"])).unwrap(),
        write_rows_unsealed(&dir.join("probes.parquet"), &probes(probe_target)).unwrap(),
    ];
    seal_together(files).unwrap();
}

fn probes(target: &str) -> Vec<Probe> {
    vec![Probe {
        id: 0,
        knowledge_id: 0,
        kind: ProbeKind::Memorization,
        prompt: "The capital of Velth is".into(),
        target: target.into(),
        facts: vec![],
    }]
}

#[test]
fn files_of_one_set_carry_one_id_and_the_same_inputs_give_the_same_bytes() {
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    write_set(one.path(), "The capital of Velth is Oran.", "Oran");
    write_set(two.path(), "The capital of Velth is Oran.", "Oran");
    let main = set_of(&one.path().join("knowledge.parquet"))
        .unwrap()
        .unwrap();
    assert_eq!(main.members, None, "the main file depends on itself only");
    let corpus = set_of(&one.path().join("corpus.parquet")).unwrap().unwrap();
    assert_eq!(corpus.id, main.id);
    let members = corpus.members.unwrap();
    assert!(
        members.starts_with(&format!("knowledge={}, corpus=", main.id))
            && members.contains(", probes="),
        "{members}"
    );
    for name in ["knowledge.parquet", "corpus.parquet", "probes.parquet"] {
        assert_eq!(
            std::fs::read(one.path().join(name)).unwrap(),
            std::fs::read(two.path().join(name)).unwrap(),
            "{name}"
        );
    }
    assert_eq!(
        read_rows::<Knowledge>(&one.path().join("knowledge.parquet")).unwrap(),
        knowledge("The capital of Velth is Oran.")
    );
    // Files of two runs that wrote the same data belong together.
    check_same_set(&[
        &one.path().join("knowledge.parquet"),
        &two.path().join("corpus.parquet"),
        &one.path().join("probes.parquet"),
    ])
    .unwrap();

    // The main file is the same file whether or not other members are written with it.
    let alone = tempfile::tempdir().unwrap();
    let only = write_rows_unsealed(
        &alone.path().join("knowledge.parquet"),
        &knowledge("The capital of Velth is Oran."),
    )
    .unwrap();
    seal_together(vec![only]).unwrap();
    assert_eq!(
        std::fs::read(alone.path().join("knowledge.parquet")).unwrap(),
        std::fs::read(one.path().join("knowledge.parquet")).unwrap()
    );

    // A file written alone has no set and is not checked; `-` is not read.
    let plain = one.path().join("plain.parquet");
    write_rows(&plain, &documents(&["x"])).unwrap();
    assert_eq!(set_of(&plain).unwrap(), None);
    check_same_set(&[
        &one.path().join("knowledge.parquet"),
        &plain,
        Path::new("-"),
    ])
    .unwrap();
}

#[test]
fn a_torn_set_is_refused_naming_both_files() {
    let old = tempfile::tempdir().unwrap();
    let new = tempfile::tempdir().unwrap();
    write_set(old.path(), "old text", "Oran");
    write_set(new.path(), "new text", "Oran");
    // A run killed between its renames: the new knowledge beside the old corpus.
    std::fs::copy(
        new.path().join("knowledge.parquet"),
        old.path().join("knowledge.parquet"),
    )
    .unwrap();
    let knowledge = old.path().join("knowledge.parquet");
    let corpus = old.path().join("corpus.parquet");
    let message = check_same_set(&[&knowledge, &corpus])
        .unwrap_err()
        .to_string();
    assert!(
        message.contains(&knowledge.display().to_string())
            && message.contains(&corpus.display().to_string())
            && message.contains("different runs"),
        "{message}"
    );
}

#[test]
fn two_members_of_runs_with_the_same_main_file_but_other_data_are_refused() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    write_set(first.path(), "same text", "Oran");
    write_set(second.path(), "same text", "Zem");
    let corpus = first.path().join("corpus.parquet");
    let probes = second.path().join("probes.parquet");
    // Each belongs with the (identical) main file, but not with each other.
    check_same_set(&[&first.path().join("knowledge.parquet"), &probes]).unwrap();
    check_same_set(&[&second.path().join("knowledge.parquet"), &corpus]).unwrap();
    let message = check_same_set(&[&corpus, &probes]).unwrap_err().to_string();
    assert!(
        message.contains(&corpus.display().to_string())
            && message.contains(&probes.display().to_string()),
        "{message}"
    );
}
