//! Parquet files that users bring are read whatever their codec: pandas and pyarrow write snappy
//! by default, other tools gzip, lz4, brotli or zstd. Outputs stay zstd.
//!
//! The fixtures were written once by pyarrow 26.0.1 (`bench/.venv`), from
//! `crates/factlab-artifacts/tests/fixtures/`, with:
//!
//! ```text
//! /work/main/bench/.venv/bin/python - <<'EOF'
//! import pyarrow as pa, pyarrow.parquet as pq
//! texts = ["The capital of Velth is Oran.", "Ünïcødé text: 東京タワー, ½ and 🚀.", "", "A third document,\nover two lines."]
//! table = pa.table({"id": pa.array(range(len(texts)), pa.int64()), "text": texts})
//! pq.write_table(table, "corpus-snappy.parquet")
//! for codec in ["gzip", "lz4", "brotli", "zstd"]:
//!     pq.write_table(table, f"corpus-{codec}.parquet", compression=codec)
//! EOF
//! ```
//!
//! `corpus-snappy.parquet` is pyarrow's defaults unchanged (snappy, dictionary-encoded, nullable
//! `string` column); the `id` column stands for the other columns of a user's file, which a corpus
//! reader ignores.

use std::path::{Path, PathBuf};

use factlab_artifacts::{read_rows, write_rows, CorpusDocument};
use parquet::basic::Compression;
use parquet::file::reader::{FileReader, SerializedFileReader};

const TEXTS: [&str; 4] = [
    "The capital of Velth is Oran.",
    "Ünïcødé text: 東京タワー, ½ and 🚀.",
    "",
    "A third document,\nover two lines.",
];

fn fixture(codec: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("corpus-{codec}.parquet"))
}

/// The codec of every column chunk in the file, as its metadata records it.
fn codecs(path: &Path) -> Vec<Compression> {
    let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    reader
        .metadata()
        .row_groups()
        .iter()
        .flat_map(|group| group.columns().iter().map(|c| c.compression()))
        .collect()
}

#[test]
fn corpus_files_from_pyarrow_read_with_every_common_codec() {
    for codec in ["snappy", "gzip", "lz4", "brotli", "zstd"] {
        let path = fixture(codec);
        let found = codecs(&path);
        let expected = codec.to_uppercase();
        assert!(
            !found.is_empty()
                && found
                    .iter()
                    .all(|c| format!("{c:?}").starts_with(expected.as_str())),
            "{}: the fixture should be {expected}, found {found:?}",
            path.display()
        );
        let rows = read_rows::<CorpusDocument>(&path)
            .unwrap_or_else(|e| panic!("{codec}: {e}"))
            .into_iter()
            .map(|row| row.text)
            .collect::<Vec<_>>();
        assert_eq!(rows, TEXTS, "{codec}");
    }
}

#[test]
fn outputs_stay_zstd() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corpus.parquet");
    let rows: Vec<CorpusDocument> = TEXTS
        .iter()
        .map(|text| CorpusDocument {
            text: text.to_string(),
        })
        .collect();
    write_rows(&path, &rows).unwrap();
    let found = codecs(&path);
    assert!(
        !found.is_empty() && found.iter().all(|c| matches!(c, Compression::ZSTD(_))),
        "{found:?}"
    );
    assert_eq!(read_rows::<CorpusDocument>(&path).unwrap(), rows);
}
