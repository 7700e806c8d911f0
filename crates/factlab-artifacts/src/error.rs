use std::path::PathBuf;

pub type Result<T, E = ArtifactError> = std::result::Result<T, E>;

/// Errors name the file (or `<stdin>`) and, where one is at fault, the column and row.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a readable Parquet file: {source}")]
    Parquet {
        path: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("{path}: column `{column}` is missing; expected {expected} (the file has: {found})")]
    MissingColumn {
        path: String,
        column: String,
        expected: String,
        found: String,
    },
    #[error("{path}: column `{column}` has type {found}; expected {expected}")]
    WrongType {
        path: String,
        column: String,
        expected: String,
        found: String,
    },
    #[error("{path}: column `{column}`, row {row}: {message}")]
    BadValue {
        path: String,
        column: String,
        row: usize,
        message: String,
    },
    #[error("{path}: schema file: {message}")]
    SchemaFile { path: PathBuf, message: String },
}

impl ArtifactError {
    pub(crate) fn bad_value(
        path: &str,
        column: &str,
        row: usize,
        message: impl Into<String>,
    ) -> Self {
        ArtifactError::BadValue {
            path: path.to_string(),
            column: column.to_string(),
            row,
            message: message.into(),
        }
    }
}
