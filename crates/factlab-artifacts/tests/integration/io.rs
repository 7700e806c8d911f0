//! Parquet round trips, the checks readers make, and atomic writing.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, LargeStringArray, ListArray, RecordBatch, StringViewArray, UInt32Array,
};
use arrow_schema::{DataType, Field, Schema};
use factlab_artifacts::{
    artifact_schemas, read_hidden, read_rows, write_rows, Answer, Artifact, ArtifactWriter,
    AugmentedRow, BioEntry, ChoiceAccuracyRow, ChoiceOption, CorpusDocument, DecayRow, DrawRow,
    EffectivityRow, HiddenState, HiddenWriter, Injection, Knowledge, LinearProbeRow, LogprobRow,
    OptionScore, Person, Probe, ProbeKind, QaPair, RetentionRow, ShardRow, TrainLogRow,
    TrajectoryRow, Triple,
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
            text: "Imported text — Ünïcödé, 東京.".into(),
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

/// Writes `rows` both ways (all at once and streamed), reads them back, and checks that the rows
/// exercise the schema: a null in every nullable column, an empty list in every list column that
/// cannot be null, and some text beyond ASCII.
fn round_trip<T>(dir: &Path, rows: Vec<T>, covered: &mut BTreeSet<&'static str>)
where
    T: Artifact + Sync + PartialEq + std::fmt::Debug,
{
    let batch = T::to_batch(&rows);
    for (field, column) in T::schema().fields().iter().zip(batch.columns()) {
        if field.is_nullable() {
            assert!(
                column.null_count() > 0,
                "{}: the round-trip rows have no null in nullable column `{}`",
                T::NAME,
                field.name()
            );
        } else if let Some(lists) = column.as_any().downcast_ref::<ListArray>() {
            assert!(
                (0..lists.len()).any(|row| lists.value_length(row) == 0),
                "{}: the round-trip rows have no empty list in column `{}`",
                T::NAME,
                field.name()
            );
        }
    }
    let has_text = T::schema()
        .fields()
        .iter()
        .any(|f| f.data_type().to_string().contains("Utf8"));
    assert!(
        !has_text || !format!("{rows:?}").is_ascii(),
        "{}: the round-trip rows have no text beyond ASCII",
        T::NAME
    );

    let path = dir.join(format!("{}.parquet", T::NAME));
    write_rows(&path, &rows).unwrap();
    assert_eq!(read_rows::<T>(&path).unwrap(), rows, "{}", T::NAME);
    let streamed = dir.join(format!("{}-streamed.parquet", T::NAME));
    let mut writer = ArtifactWriter::<T>::create(&streamed).unwrap();
    writer.write(&rows[..1]).unwrap();
    writer.write(&rows[1..]).unwrap();
    writer.finish().unwrap();
    assert_eq!(
        read_rows::<T>(&streamed).unwrap(),
        rows,
        "{} streamed",
        T::NAME
    );
    assert!(covered.insert(T::NAME), "{} is covered twice", T::NAME);
}

#[test]
fn every_artifact_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let mut covered = BTreeSet::new();

    round_trip(dir, knowledge(), &mut covered);
    round_trip(
        dir,
        vec![
            Probe {
                id: 3,
                knowledge_id: 0,
                kind: ProbeKind::Composition,
                prompt: "The seat of the country bordering Zëm is".into(),
                target: "Orán".into(),
                facts: vec![
                    triple("Velth", "neighbour", "Zëm"),
                    triple("Velth", "capital", "Orán"),
                ],
            },
            Probe {
                id: u32::MAX,
                knowledge_id: 1,
                kind: ProbeKind::Memorization,
                prompt: String::new(),
                target: "東京".into(),
                facts: vec![],
            },
            Probe {
                id: 4,
                knowledge_id: 1,
                kind: ProbeKind::Semantic,
                prompt: "p".into(),
                target: "t".into(),
                facts: vec![triple("", "", "")],
            },
        ],
        &mut covered,
    );
    round_trip(
        dir,
        vec![
            CorpusDocument {
                text: "Ünïcödé — text 🙂".into(),
            },
            CorpusDocument {
                text: String::new(),
            },
        ],
        &mut covered,
    );
    let corpus_row = ShardRow {
        step: 4,
        row: 1,
        tokens: vec![5, 6, u32::MAX],
        source: "injected".into(),
        knowledge_ids: vec![0, 1],
        variants: vec![0, 2],
        loss_mask: Vec::new(),
    };
    round_trip(
        dir,
        vec![
            corpus_row.clone(),
            ShardRow {
                row: 2,
                source: "qa — ü".into(),
                knowledge_ids: vec![],
                variants: vec![],
                loss_mask: vec![false, true, true],
                ..corpus_row.clone()
            },
            ShardRow {
                row: 3,
                tokens: vec![],
                ..corpus_row.clone()
            },
        ],
        &mut covered,
    );
    round_trip(
        dir,
        vec![
            TrainLogRow {
                step: 0,
                loss: 10.5,
                lr: 3e-4,
                grad_norm: f64::INFINITY,
                tokens: u64::MAX,
                tokens_per_s: 0.0,
            },
            TrainLogRow {
                step: 1,
                loss: -0.25,
                lr: 0.0,
                grad_norm: 1e-300,
                tokens: 0,
                tokens_per_s: 1234.5,
            },
        ],
        &mut covered,
    );
    round_trip(
        dir,
        vec![
            LogprobRow {
                run_id: "base-ü".into(),
                step: 0,
                probe_id: 1,
                knowledge_id: 2,
                kind: ProbeKind::Semantic,
                target_logprob: -3.5,
                first_token_logprob: -1.25,
                target_tokens: 2,
                foil_probe_id: Some(u32::MAX),
                foil_target_logprob: Some(f64::NEG_INFINITY),
                foil_first_token_logprob: Some(-0.5),
                foil_target_tokens: Some(3),
            },
            LogprobRow {
                run_id: String::new(),
                step: u32::MAX,
                probe_id: 0,
                knowledge_id: 0,
                kind: ProbeKind::Composition,
                target_logprob: f64::NEG_INFINITY,
                first_token_logprob: 0.0,
                target_tokens: 0,
                foil_probe_id: None,
                foil_target_logprob: None,
                foil_first_token_logprob: None,
                foil_target_tokens: None,
            },
        ],
        &mut covered,
    );
    round_trip(
        dir,
        vec![
            Injection {
                knowledge_id: 0,
                scenario: "paraphrase".into(),
                exposure: 0,
                step: 10,
                row: 3,
                variant: 1,
                offset: 0,
                length: 40,
                text_tokens: 41,
            },
            Injection {
                knowledge_id: u32::MAX,
                scenario: "einmal — once".into(),
                exposure: 9,
                step: 0,
                row: 0,
                variant: 0,
                offset: 7,
                length: 2,
                text_tokens: 90,
            },
        ],
        &mut covered,
    );

    let text = "Zoë Ørn Łukasz was born on May 2, 1950. She grew up in Zürich, ZH. She studied at \
                Université Laval. She majored in Physics. She worked at Dell. She worked in \
                Round Rock, TX.";
    let spans: Vec<(u32, u32)> = [
        "May 2, 1950",
        "Zürich, ZH",
        "Université Laval",
        "Physics",
        "Dell",
        "Round Rock, TX",
    ]
    .into_iter()
    .map(|v| {
        let start = text.find(v).unwrap() as u32;
        (start, start + v.len() as u32)
    })
    .collect();
    let entry = BioEntry {
        person_id: 0,
        variant: "single".into(),
        entry: 0,
        text: text.into(),
        value_starts: spans.iter().map(|s| s.0).collect(),
        value_ends: spans.iter().map(|s| s.1).collect(),
    };
    // A bio entry always has six spans, so its lists are never empty; the check below is told so.
    round_trip_bios(
        dir,
        vec![
            entry.clone(),
            BioEntry {
                person_id: 7,
                entry: 3,
                variant: "permute".into(),
                ..entry
            },
        ],
        &mut covered,
    );
    let person = Person {
        person_id: 0,
        name: "Zoë Ørn Łukasz".into(),
        first_name: "Zoë".into(),
        middle_name: "Ørn".into(),
        last_name: "Łukasz".into(),
        birth_date: "May 2, 1950".into(),
        birth_city: "Zürich, ZH".into(),
        university: "Université Laval".into(),
        major: "Physics".into(),
        employer: "Dell".into(),
        company_city: "Round Rock, TX".into(),
        pronoun: "she".into(),
        split: "train".into(),
        group: "all".into(),
    };
    round_trip(
        dir,
        vec![
            person.clone(),
            Person {
                person_id: 1,
                name: "A B C".into(),
                split: "test".into(),
                group: "celebrity".into(),
                ..person
            },
        ],
        &mut covered,
    );
    round_trip(
        dir,
        vec![
            QaPair {
                person_id: 0,
                attribute: "birth_city".into(),
                question: "Where was Zoë Ørn Łukasz born?".into(),
                answer: "Zürich, ZH".into(),
                split: "train".into(),
            },
            QaPair {
                person_id: 1,
                attribute: "employer".into(),
                question: String::new(),
                answer: String::new(),
                split: "test".into(),
            },
        ],
        &mut covered,
    );
    round_trip(
        dir,
        vec![
            Answer {
                person_id: 0,
                attribute: "birth_city".into(),
                split: "test".into(),
                question: "Where was Zoë born?".into(),
                answer: "Zürich, ZH".into(),
                generated: "Zürich, ZH".into(),
                exact_match: 1,
                first_token_match: 1,
            },
            Answer {
                person_id: 1,
                attribute: "major".into(),
                split: "train".into(),
                question: "q".into(),
                answer: "a".into(),
                generated: String::new(),
                exact_match: 0,
                first_token_match: 0,
            },
        ],
        &mut covered,
    );
    round_trip(
        dir,
        vec![
            ChoiceOption {
                question_id: 0,
                option_id: 0,
                prompt: "Is a glorp a blick? ".into(),
                completion: " ja — ✓".into(),
                correct: 1,
                split: "reversals".into(),
                subset: "r-0".into(),
            },
            ChoiceOption {
                question_id: 0,
                option_id: 1,
                prompt: "Is a glorp a blick? ".into(),
                completion: String::new(),
                correct: 0,
                split: "reversals".into(),
                subset: String::new(),
            },
        ],
        &mut covered,
    );
    round_trip(
        dir,
        vec![
            OptionScore {
                question_id: 0,
                option_id: 0,
                logprob_sum: -2.5,
                logprob_mean: -1.25,
                tokens: 2,
                chosen: 1,
                correct: 1,
                split: "syllogismes — é".into(),
                subset: "s".into(),
            },
            OptionScore {
                question_id: u32::MAX,
                option_id: 1,
                logprob_sum: f64::NEG_INFINITY,
                logprob_mean: -0.0,
                tokens: 0,
                chosen: 0,
                correct: 0,
                split: String::new(),
                subset: String::new(),
            },
        ],
        &mut covered,
    );
    round_trip(
        dir,
        vec![
            AugmentedRow {
                id: 0,
                source_id: 4,
                dataset: "reversals".into(),
                text: "Ein glorp ist ein blick — ✓".into(),
                strategy: "original".into(),
                backend: "none".into(),
                model: None,
                prompt_hash: None,
                temperature: None,
                top_p: None,
                max_tokens: None,
                sample_seed: None,
            },
            AugmentedRow {
                id: 1,
                source_id: 4,
                dataset: "reversals".into(),
                text: String::new(),
                strategy: "global".into(),
                backend: "served".into(),
                model: Some("SmolLM2-135M-Instruct".into()),
                prompt_hash: Some("ab12".into()),
                temperature: Some(0.7),
                top_p: Some(1.0),
                max_tokens: Some(u32::MAX),
                sample_seed: Some(u64::MAX),
            },
        ],
        &mut covered,
    );
    round_trip(
        dir,
        vec![
            effectivity("duplicate", "memorization", 0.5),
            effectivity("paraphrase — ü", "", f64::NEG_INFINITY),
        ],
        &mut covered,
    );
    round_trip(
        dir,
        vec![
            RetentionRow {
                run_id: "a".into(),
                scenario: "once".into(),
                kind: "semantic".into(),
                t: 0,
                mean: 1.0,
                probes: 5,
            },
            RetentionRow {
                run_id: "ü".into(),
                scenario: String::new(),
                kind: "composition".into(),
                t: u32::MAX,
                mean: -0.5,
                probes: 0,
            },
        ],
        &mut covered,
    );
    round_trip(
        dir,
        vec![
            DecayRow {
                run_id: "a — ü".into(),
                scenario: "once".into(),
                kind: "semantic".into(),
                a: 0.25,
                a_stderr: 0.01,
                a_ci_low: 0.2,
                a_ci_high: 0.31,
                intercept: 1.0,
                r_squared: 0.9,
                x_intercept_log10_steps: 4.0,
                x_intercept_log10_steps_ci_low: 3.5,
                x_intercept_log10_steps_ci_high: 4.6,
                x_intercept_log10_tokens: 9.5,
                tokens_per_step: 2048.0,
                points: 12,
            },
            DecayRow {
                run_id: String::new(),
                scenario: String::new(),
                kind: String::new(),
                a: f64::INFINITY,
                a_stderr: 0.0,
                a_ci_low: f64::NEG_INFINITY,
                a_ci_high: f64::INFINITY,
                intercept: -1.0,
                r_squared: 0.0,
                x_intercept_log10_steps: f64::NEG_INFINITY,
                x_intercept_log10_steps_ci_low: f64::NEG_INFINITY,
                x_intercept_log10_steps_ci_high: 0.0,
                x_intercept_log10_tokens: 0.0,
                tokens_per_step: 0.0,
                points: 0,
            },
        ],
        &mut covered,
    );
    round_trip(
        dir,
        vec![
            DrawRow {
                run_id: "ü".into(),
                scenario: "once".into(),
                kind: "composition".into(),
                draw: 0,
                effectivity: 0.3,
                control: Some(0.25),
                net: Some(0.05),
                first_token_net: Some(-0.01),
                specificity_net: Some(0.02),
                decay_a: Some(0.2),
                x_intercept_log10_steps: Some(3.1),
            },
            DrawRow {
                run_id: String::new(),
                scenario: String::new(),
                kind: String::new(),
                draw: u32::MAX,
                effectivity: -1e-12,
                control: None,
                net: None,
                first_token_net: None,
                specificity_net: None,
                decay_a: None,
                x_intercept_log10_steps: None,
            },
        ],
        &mut covered,
    );
    round_trip(
        dir,
        vec![
            TrajectoryRow {
                run_id: "ü".into(),
                scenario: "duplicate".into(),
                kind: "memorization".into(),
                step: 0,
                mean_delta: 0.0,
                probes: 5,
            },
            TrajectoryRow {
                run_id: "b".into(),
                scenario: "duplicate".into(),
                kind: "memorization".into(),
                step: u32::MAX,
                mean_delta: -1e-12,
                probes: 0,
            },
        ],
        &mut covered,
    );
    round_trip(
        dir,
        vec![
            LinearProbeRow {
                layer: 0,
                position: "birth_city".into(),
                task: "birth_city".into(),
                train_examples: 100,
                test_examples: 100,
                classes: 7,
                accuracy: 0.75,
                baseline: 0.2,
                ceiling: 0.9,
                ridge: 0.01,
            },
            LinearProbeRow {
                layer: 4,
                position: "index:3 — ü".into(),
                task: "birth_date".into(),
                train_examples: 0,
                test_examples: 0,
                classes: 0,
                accuracy: 0.0,
                baseline: 0.0,
                ceiling: 0.0,
                ridge: f64::MIN_POSITIVE,
            },
        ],
        &mut covered,
    );
    round_trip(
        dir,
        vec![
            ChoiceAccuracyRow {
                condition: "finetuned".into(),
                split: "reversals".into(),
                questions: 40,
                accuracy: 0.5,
                low: 0.35,
                high: 0.65,
                subsets: 4,
                chance: 0.5,
            },
            ChoiceAccuracyRow {
                condition: "icl — ü".into(),
                split: String::new(),
                questions: 0,
                accuracy: 1.0,
                low: 0.9,
                high: 1.0,
                subsets: 0,
                chance: 0.25,
            },
        ],
        &mut covered,
    );

    // Hidden states are no `Artifact` (their width is the file's): their own writer and reader.
    let states = vec![
        HiddenState {
            person_id: 0,
            entry: 1,
            position: "birth_city — ü".into(),
            token_index: 7,
            layer: 0,
            vector: vec![0.5, -1.0, f32::MIN_POSITIVE],
        },
        HiddenState {
            person_id: u32::MAX,
            entry: 0,
            position: String::new(),
            token_index: 0,
            layer: 3,
            vector: vec![0.0, f32::MAX, -0.0],
        },
    ];
    let path = dir.join("hidden.parquet");
    let mut writer = HiddenWriter::create(&path, 3).unwrap();
    writer.write(&states).unwrap();
    writer.finish(&[]).unwrap();
    assert_eq!(read_hidden(&path).unwrap(), states);
    covered.insert(HiddenState::NAME);

    // A new artifact in `artifact_schemas()` needs its case above.
    let listed: BTreeSet<&str> = artifact_schemas().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        covered, listed,
        "every artifact of artifact_schemas() needs a round-trip case here, and only those"
    );

    // Shards written before the loss mask existed still read, every token a target.
    let old_schema = Schema::new(ShardRow::schema().fields()[..6].to_vec());
    let batch = ShardRow::to_batch(std::slice::from_ref(&corpus_row));
    let old = RecordBatch::try_new(Arc::new(old_schema), batch.columns()[..6].to_vec()).unwrap();
    let path = dir.join("old-shards.parquet");
    write_raw(&path, old);
    assert_eq!(read_rows::<ShardRow>(&path).unwrap(), vec![corpus_row]);
}

/// [`round_trip`] for biography entries, whose span lists always hold six values.
fn round_trip_bios(dir: &Path, rows: Vec<BioEntry>, covered: &mut BTreeSet<&'static str>) {
    let path = dir.join("bios.parquet");
    write_rows(&path, &rows).unwrap();
    assert_eq!(read_rows::<BioEntry>(&path).unwrap(), rows);
    assert!(rows.iter().any(|r| !r.text.is_ascii()));
    assert!(covered.insert(BioEntry::NAME));
}

fn effectivity(scenario: &str, kind: &str, mean: f64) -> EffectivityRow {
    EffectivityRow {
        run_id: "base".into(),
        scenario: scenario.into(),
        kind: kind.into(),
        mean,
        ci_low: mean - 0.1,
        ci_high: mean + 0.1,
        probes: 5,
        injections: 10,
        lam_at_window_end: 0.3,
        first_token_mean: 0.2,
        first_token_ci_low: 0.1,
        first_token_ci_high: 0.3,
        control_mean: 0.0,
        control_ci_low: -0.1,
        control_ci_high: 0.1,
        control_probes: 5,
        net_mean: mean,
        net_ci_low: mean - 0.2,
        net_ci_high: mean + 0.2,
        first_token_net_mean: 0.2,
        first_token_net_ci_low: 0.0,
        first_token_net_ci_high: 0.4,
        // Foils scored in the first row of a table, not in the others.
        specificity_mean: (scenario == "duplicate").then_some(mean / 2.0),
        specificity_ci_low: (scenario == "duplicate").then_some(mean / 2.0 - 0.1),
        specificity_ci_high: (scenario == "duplicate").then_some(mean / 2.0 + 0.1),
        specificity_net_mean: (scenario == "duplicate").then_some(mean / 4.0),
        specificity_net_ci_low: (scenario == "duplicate").then_some(mean / 4.0 - 0.1),
        specificity_net_ci_high: (scenario == "duplicate").then_some(mean / 4.0 + 0.1),
    }
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
fn logprobs_written_before_the_foil_columns_read_with_no_foil() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logprobs.parquet");
    let scored = LogprobRow {
        run_id: "mid".into(),
        step: 3,
        probe_id: 4,
        knowledge_id: 1,
        kind: ProbeKind::Memorization,
        target_logprob: -2.5,
        first_token_logprob: -1.5,
        target_tokens: 3,
        foil_probe_id: Some(9),
        foil_target_logprob: Some(-4.0),
        foil_first_token_logprob: Some(-3.0),
        foil_target_tokens: Some(3),
    };
    let full = LogprobRow::to_batch(std::slice::from_ref(&scored));
    let old_columns: Vec<usize> = (0..full.num_columns())
        .filter(|&i| !full.schema().field(i).name().starts_with("foil_"))
        .collect();
    write_raw(&path, full.project(&old_columns).unwrap());
    let read: Vec<LogprobRow> = read_rows(&path).unwrap();
    assert_eq!(
        read,
        [LogprobRow {
            foil_probe_id: None,
            foil_target_logprob: None,
            foil_first_token_logprob: None,
            foil_target_tokens: None,
            ..scored
        }]
    );
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
