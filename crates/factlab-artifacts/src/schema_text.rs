//! The small type language used in `schemas/*.toml` and in error messages:
//! `utf8`, `bool`, `uint32`, `uint64`, `int64`, `float32`, `float64`, `list<T>`,
//! `fixed_size_list<T; N>` and `struct<name: T, ...>`. List items and struct fields are non-null.
//! `fixed_size_list<T; *>` documents a list whose length is fixed within a file but chosen by
//! the writer, such as a model's hidden size.

use std::path::Path;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema};
use serde::Deserialize;

use crate::{ArtifactError, Result};

/// One `schemas/<name>.toml` file: the artifact's columns with their meanings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaFile {
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub written_by: Vec<String>,
    #[serde(default)]
    pub read_by: Vec<String>,
    #[serde(rename = "column")]
    pub columns: Vec<ColumnSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub type_text: String,
    #[serde(default)]
    pub nullable: bool,
    pub meaning: String,
}

impl SchemaFile {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| ArtifactError::Io {
            path: path.display().to_string(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ArtifactError::SchemaFile {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// The Arrow schema this file describes.
    pub fn arrow_schema(&self, path: &Path) -> Result<Schema> {
        let fields = self
            .columns
            .iter()
            .map(|c| {
                parse_type(&c.type_text)
                    .map(|dt| Field::new(&c.name, dt, c.nullable))
                    .map_err(|message| ArtifactError::SchemaFile {
                        path: path.to_path_buf(),
                        message: format!("column `{}`: {message}", c.name),
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Schema::new(fields))
    }
}

/// The length that stands for `*` in `fixed_size_list<T; *>`; no Arrow array has it.
pub const ANY_LENGTH: i32 = -1;

pub fn list_of(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(item, false)))
}

/// Writes a type in the schema language; types outside it fall back to Arrow's own spelling.
pub fn format_type(dt: &DataType) -> String {
    match dt {
        DataType::Utf8 => "utf8".into(),
        DataType::Boolean => "bool".into(),
        DataType::UInt32 => "uint32".into(),
        DataType::UInt64 => "uint64".into(),
        DataType::Int64 => "int64".into(),
        DataType::Float32 => "float32".into(),
        DataType::Float64 => "float64".into(),
        DataType::List(item) => format!("list<{}>", format_type(item.data_type())),
        DataType::FixedSizeList(item, ANY_LENGTH) => {
            format!("fixed_size_list<{}; *>", format_type(item.data_type()))
        }
        DataType::FixedSizeList(item, n) => {
            format!("fixed_size_list<{}; {n}>", format_type(item.data_type()))
        }
        DataType::Struct(fields) => {
            let inner: Vec<String> = fields
                .iter()
                .map(|f| format!("{}: {}", f.name(), format_type(f.data_type())))
                .collect();
            format!("struct<{}>", inner.join(", "))
        }
        other => format!("{other}").to_lowercase(),
    }
}

pub fn parse_type(text: &str) -> std::result::Result<DataType, String> {
    let mut parser = TypeParser { text, pos: 0 };
    let dt = parser.parse()?;
    parser.skip_space();
    if parser.pos != text.len() {
        return Err(format!(
            "unexpected `{}` in type `{text}`",
            &text[parser.pos..]
        ));
    }
    Ok(dt)
}

struct TypeParser<'a> {
    text: &'a str,
    pos: usize,
}

impl TypeParser<'_> {
    fn skip_space(&mut self) {
        while self.text[self.pos..].starts_with(' ') {
            self.pos += 1;
        }
    }

    fn word(&mut self) -> &str {
        self.skip_space();
        let rest = &self.text[self.pos..];
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    fn expect(&mut self, symbol: char) -> std::result::Result<(), String> {
        self.skip_space();
        if self.text[self.pos..].starts_with(symbol) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!(
                "expected `{symbol}` at offset {} in `{}`",
                self.pos, self.text
            ))
        }
    }

    fn parse(&mut self) -> std::result::Result<DataType, String> {
        let word = self.word().to_string();
        Ok(match word.as_str() {
            "utf8" => DataType::Utf8,
            "bool" => DataType::Boolean,
            "uint32" => DataType::UInt32,
            "uint64" => DataType::UInt64,
            "int64" => DataType::Int64,
            "float32" => DataType::Float32,
            "float64" => DataType::Float64,
            "list" => {
                self.expect('<')?;
                let item = self.parse()?;
                self.expect('>')?;
                list_of(item)
            }
            "fixed_size_list" => {
                self.expect('<')?;
                let item = self.parse()?;
                self.expect(';')?;
                self.skip_space();
                let n: i32 = if self.text[self.pos..].starts_with('*') {
                    self.pos += 1;
                    ANY_LENGTH
                } else {
                    self.word()
                        .parse()
                        .map_err(|_| format!("bad list length in `{}`", self.text))?
                };
                self.expect('>')?;
                DataType::FixedSizeList(Arc::new(Field::new_list_field(item, false)), n)
            }
            "struct" => {
                self.expect('<')?;
                let mut fields = Vec::new();
                loop {
                    let name = self.word().to_string();
                    self.expect(':')?;
                    fields.push(Field::new(name, self.parse()?, false));
                    self.skip_space();
                    if self.text[self.pos..].starts_with(',') {
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
                self.expect('>')?;
                DataType::Struct(Fields::from(fields))
            }
            "" => {
                return Err(format!(
                    "missing type at offset {} in `{}`",
                    self.pos, self.text
                ))
            }
            other => return Err(format!("unknown type `{other}`")),
        })
    }
}

/// The type a reader converts a file's column to before checking it: strings of every Arrow
/// flavour become `utf8` and large lists become lists (polars writes `Utf8View` and large lists;
/// Parquet stores them alike, so the reader can return them in the canonical form).
pub fn canonical(dt: &DataType) -> DataType {
    match dt {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::List(item) | DataType::LargeList(item) | DataType::ListView(item) => {
            DataType::List(Arc::new(Field::new(
                item.name(),
                canonical(item.data_type()),
                item.is_nullable(),
            )))
        }
        DataType::FixedSizeList(item, n) => DataType::FixedSizeList(
            Arc::new(Field::new(
                item.name(),
                canonical(item.data_type()),
                item.is_nullable(),
            )),
            *n,
        ),
        DataType::Struct(fields) => DataType::Struct(
            fields
                .iter()
                .map(|f| Field::new(f.name(), canonical(f.data_type()), f.is_nullable()))
                .collect::<Vec<_>>()
                .into(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_nested_types() {
        for text in [
            "utf8",
            "list<utf8>",
            "list<struct<subject: utf8, relation: utf8, object: utf8>>",
            "fixed_size_list<float32; 64>",
            "fixed_size_list<float32; *>",
            "list<uint32>",
        ] {
            assert_eq!(format_type(&parse_type(text).unwrap()), text);
        }
    }

    #[test]
    fn rejects_unknown_and_malformed_types() {
        assert!(parse_type("string")
            .unwrap_err()
            .contains("unknown type `string`"));
        assert!(parse_type("list<utf8").is_err());
        assert!(parse_type("utf8 extra").is_err());
    }
}
