//! The `schemas/` folder is the contract between stages: the code's Arrow schema and the file
//! must agree column by column, and every schema file must belong to an artifact in the code.

use std::collections::BTreeSet;
use std::path::PathBuf;

use factlab_artifacts::artifact_schemas;
use factlab_artifacts::schema_text::{format_type, SchemaFile};

fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

#[test]
fn code_and_schema_files_agree() {
    for (name, code) in artifact_schemas() {
        let path = schemas_dir().join(format!("{name}.toml"));
        let file = SchemaFile::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(file.name, name, "{}: `name` field", path.display());
        let documented = file.arrow_schema(&path).unwrap();
        let describe = |s: &arrow_schema::Schema| -> Vec<String> {
            s.fields()
                .iter()
                .map(|f| {
                    format!(
                        "{} {} nullable={}",
                        f.name(),
                        format_type(f.data_type()),
                        f.is_nullable()
                    )
                })
                .collect()
        };
        assert_eq!(
            describe(&code),
            describe(&documented),
            "{} disagrees with the code",
            path.display()
        );
        for column in &file.columns {
            assert!(
                !column.meaning.trim().is_empty(),
                "{name}.{} has no meaning",
                column.name
            );
        }
    }
}

#[test]
fn every_schema_file_belongs_to_an_artifact() {
    let in_code: BTreeSet<String> = artifact_schemas()
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    for entry in std::fs::read_dir(schemas_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            assert!(
                in_code.contains(&stem),
                "{} has no artifact in the code",
                path.display()
            );
        }
    }
}
