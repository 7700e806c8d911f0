//! Parquet round trips, the checks readers make, and atomic writing.

use std::sync::Arc;

use arrow_array::{ArrayRef, LargeStringArray, RecordBatch, StringViewArray, UInt32Array};
use arrow_schema::{DataType, Field, Schema};
use factlab_artifacts::{
    read_rows, write_rows, Artifact, ArtifactWriter, CorpusDocument, Knowledge, Probe, ProbeKind,
    ShardRow, Triple,
};
use parquet::arrow::ArrowWriter;

fn triple(s: &str, r: &str, o: &str) -> Triple {
    Triple {
        subject: s.into(),
        relation: r.into(),
        object: o.into(),
    }
}

fn knowledge() -> Vec<Knowledge> {
    vec![
        Knowledge {
            id: 0,
            dataset: "fictional".into(),
            entity: Some("Velth".into()),
            entity_type: Some("country".into()),
            text: "The capital of Velth is Oran.".into(),
            paraphrases: vec![
                "Velth is governed from Oran.".into(),
                "Oran is the seat of Velth.".into(),
            ],
            facts: vec![triple("Velth", "capital", "Oran")],
        },
        Knowledge {
            id: 1,
            dataset: "fictional-knowledge".into(),
            entity: None,
            entity_type: None,
            text: "Imported text.".into(),
            paraphrases: vec![],
            facts: vec![],
        },
    ]
}

fn write_raw(path: &std::path::Path, batch: RecordBatch) {
    let file = std::fs::File::create(path).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

#[test]
fn every_artifact_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.parquet");
    write_rows(&path, &knowledge()).unwrap();
    assert_eq!(read_rows::<Knowledge>(&path).unwrap(), knowledge());

    let probes = vec![Probe {
        id: 3,
        knowledge_id: 0,
        kind: ProbeKind::Composition,
        prompt: "The seat of the country bordering Zem is".into(),
        target: "Oran".into(),
        facts: vec![
            triple("Velth", "neighbour", "Zem"),
            triple("Velth", "capital", "Oran"),
        ],
    }];
    let path = dir.path().join("p.parquet");
    write_rows(&path, &probes).unwrap();
    assert_eq!(read_rows::<Probe>(&path).unwrap(), probes);

    let corpus_row = ShardRow {
        step: 4,
        row: 1,
        tokens: vec![5, 6, 7],
        source: "injected".into(),
        knowledge_ids: vec![0, 1],
        variants: vec![0, 2],
        loss_mask: Vec::new(),
    };
    let qa_row = ShardRow {
        row: 2,
        source: "qa".into(),
        loss_mask: vec![false, true, true],
        ..corpus_row.clone()
    };
    let shards = vec![corpus_row.clone(), qa_row];
    let path = dir.path().join("s.parquet");
    write_rows(&path, &shards).unwrap();
    assert_eq!(read_rows::<ShardRow>(&path).unwrap(), shards);

    // Shards written before the loss mask existed still read, every token a target.
    let old_schema = Schema::new(ShardRow::schema().fields()[..6].to_vec());
    let batch = ShardRow::to_batch(std::slice::from_ref(&corpus_row));
    let old = RecordBatch::try_new(Arc::new(old_schema), batch.columns()[..6].to_vec()).unwrap();
    let path = dir.path().join("old-shards.parquet");
    write_raw(&path, old);
    assert_eq!(read_rows::<ShardRow>(&path).unwrap(), vec![corpus_row]);
}

#[test]
fn large_and_view_strings_from_other_writers_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    for (name, column) in [
        (
            "large",
            Arc::new(LargeStringArray::from(vec!["a b", "c"])) as ArrayRef,
        ),
        (
            "view",
            Arc::new(StringViewArray::from(vec!["a b", "c"])) as ArrayRef,
        ),
    ] {
        let path = dir.path().join(format!("{name}.parquet"));
        let schema = Schema::new(vec![
            Field::new("text", column.data_type().clone(), true),
            Field::new("extra", DataType::UInt32, true),
        ]);
        let extra = Arc::new(UInt32Array::from(vec![1, 2])) as ArrayRef;
        write_raw(
            &path,
            RecordBatch::try_new(Arc::new(schema), vec![column, extra]).unwrap(),
        );
        let docs: Vec<CorpusDocument> = read_rows(&path).unwrap();
        assert_eq!(
            docs.iter().map(|d| d.text.as_str()).collect::<Vec<_>>(),
            ["a b", "c"]
        );
    }
}

#[test]
fn readers_name_the_file_column_expected_and_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corpus.parquet");
    let schema = Schema::new(vec![Field::new("body", DataType::Utf8, false)]);
    let column = Arc::new(arrow_array::StringArray::from(vec!["x"])) as ArrayRef;
    write_raw(
        &path,
        RecordBatch::try_new(Arc::new(schema), vec![column]).unwrap(),
    );
    let message = read_rows::<CorpusDocument>(&path).unwrap_err().to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(
        message.contains("column `text` is missing; expected utf8 (the file has: body)"),
        "{message}"
    );

    let path = dir.path().join("numbers.parquet");
    let schema = Schema::new(vec![Field::new("text", DataType::UInt32, false)]);
    let column = Arc::new(UInt32Array::from(vec![1])) as ArrayRef;
    write_raw(
        &path,
        RecordBatch::try_new(Arc::new(schema), vec![column]).unwrap(),
    );
    let message = read_rows::<CorpusDocument>(&path).unwrap_err().to_string();
    assert!(
        message.contains("column `text` has type uint32; expected utf8"),
        "{message}"
    );

    let path = dir.path().join("probes.parquet");
    let mut probe = Probe::to_batch(&[Probe {
        id: 0,
        knowledge_id: 0,
        kind: ProbeKind::Semantic,
        prompt: "p".into(),
        target: "t".into(),
        facts: vec![],
    }]);
    let kinds = Arc::new(arrow_array::StringArray::from(vec!["recall"])) as ArrayRef;
    let index = probe.schema().index_of("kind").unwrap();
    let mut columns = probe.columns().to_vec();
    columns[index] = kinds;
    probe = RecordBatch::try_new(probe.schema(), columns).unwrap();
    write_raw(&path, probe);
    let message = read_rows::<Probe>(&path).unwrap_err().to_string();
    assert!(
        message.contains(
            "column `kind`, row 0: is `recall`; expected memorization, semantic or composition"
        ),
        "{message}"
    );

    let path = dir.path().join("not-parquet.parquet");
    std::fs::write(&path, b"hello").unwrap();
    let message = read_rows::<CorpusDocument>(&path).unwrap_err().to_string();
    assert!(message.contains("not a readable Parquet file"), "{message}");
}

#[test]
fn unfinished_writes_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.parquet");
    let mut writer = ArtifactWriter::<Knowledge>::create(&path).unwrap();
    writer.write(&knowledge()).unwrap();
    drop(writer);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "a temporary file survived"
    );

    write_rows(&path, &knowledge()).unwrap();
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["k.parquet"]);
}

#[test]
fn biography_artifacts_round_trip_and_bad_spans_are_named() {
    use factlab_artifacts::{BioEntry, Person, QaPair};
    let dir = tempfile::tempdir().unwrap();
    let text = "Ada Lee Moss was born on May 2, 1950. She grew up in Austin, TX. She studied at \
                Rice University. She majored in Physics. She worked at Dell. She worked in \
                Round Rock, TX.";
    let value = |v: &str| {
        let start = text.find(v).unwrap() as u32;
        (start, start + v.len() as u32)
    };
    let spans: Vec<(u32, u32)> = [
        "May 2, 1950",
        "Austin, TX",
        "Rice University",
        "Physics",
        "Dell",
        "Round Rock, TX",
    ]
    .into_iter()
    .map(value)
    .collect();
    let entry = BioEntry {
        person_id: 0,
        variant: "single".into(),
        entry: 0,
        text: text.into(),
        value_starts: spans.iter().map(|s| s.0).collect(),
        value_ends: spans.iter().map(|s| s.1).collect(),
    };
    assert_eq!(entry.value(4), "Dell");
    let path = dir.path().join("bios.parquet");
    write_rows(&path, std::slice::from_ref(&entry)).unwrap();
    assert_eq!(read_rows::<BioEntry>(&path).unwrap(), vec![entry.clone()]);

    let person = Person {
        person_id: 0,
        name: "Ada Lee Moss".into(),
        first_name: "Ada".into(),
        middle_name: "Lee".into(),
        last_name: "Moss".into(),
        birth_date: "May 2, 1950".into(),
        birth_city: "Austin, TX".into(),
        university: "Rice University".into(),
        major: "Physics".into(),
        employer: "Dell".into(),
        company_city: "Round Rock, TX".into(),
        pronoun: "she".into(),
        split: "train".into(),
        group: "all".into(),
    };
    let path = dir.path().join("people.parquet");
    write_rows(&path, std::slice::from_ref(&person)).unwrap();
    assert_eq!(read_rows::<Person>(&path).unwrap(), vec![person]);

    let pair = QaPair {
        person_id: 0,
        attribute: "employer".into(),
        question: "Which company did Ada Lee Moss work for?".into(),
        answer: "Dell".into(),
        split: "train".into(),
    };
    assert_eq!(
        pair.prompt() + &pair.completion(),
        "Which company did Ada Lee Moss work for? Answer: Dell"
    );
    let path = dir.path().join("qa.parquet");
    write_rows(&path, std::slice::from_ref(&pair)).unwrap();
    assert_eq!(read_rows::<QaPair>(&path).unwrap(), vec![pair]);

    let mut bad = entry;
    bad.value_ends[2] = text.len() as u32 + 5;
    let path = dir.path().join("bad-bios.parquet");
    write_rows(&path, &[bad]).unwrap();
    let message = read_rows::<BioEntry>(&path).unwrap_err().to_string();
    assert!(
        message.contains("bad-bios.parquet")
            && message.contains("value_starts")
            && message.contains("university"),
        "{message}"
    );
}
