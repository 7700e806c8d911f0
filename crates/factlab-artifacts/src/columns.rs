//! Building Arrow columns from row fields, and reading them back with errors that name the file,
//! the column and the row.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, ListArray, RecordBatch, StringArray, StructArray,
    UInt32Array, UInt64Array,
};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{DataType, Field, Fields};

use crate::schema_text::format_type;
use crate::{ArtifactError, ProbeKind, Result, Triple};

pub(crate) fn triple_type() -> DataType {
    DataType::Struct(triple_fields())
}

fn triple_fields() -> Fields {
    Fields::from(vec![
        Field::new("subject", DataType::Utf8, false),
        Field::new("relation", DataType::Utf8, false),
        Field::new("object", DataType::Utf8, false),
    ])
}

/// Sized before filling: growing the value buffer of a batch of long texts step by step copied
/// it over and over.
pub(crate) fn utf8<'a>(values: impl Iterator<Item = &'a str> + Clone) -> ArrayRef {
    let bytes = values.clone().map(str::len).sum();
    let mut builder = StringBuilder::with_capacity(values.size_hint().0, bytes);
    values.for_each(|value| builder.append_value(value));
    Arc::new(builder.finish())
}

pub(crate) fn optional_utf8<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(values.collect::<StringArray>())
}

pub(crate) fn uint32(values: impl Iterator<Item = u32>) -> ArrayRef {
    Arc::new(values.collect::<UInt32Array>())
}

pub(crate) fn uint64(values: impl Iterator<Item = u64>) -> ArrayRef {
    Arc::new(values.collect::<UInt64Array>())
}

pub(crate) fn float64(values: impl Iterator<Item = f64>) -> ArrayRef {
    Arc::new(values.collect::<Float64Array>())
}

fn list(item_type: DataType, lengths: impl Iterator<Item = usize>, items: ArrayRef) -> ArrayRef {
    Arc::new(ListArray::new(
        Arc::new(Field::new_list_field(item_type, false)),
        OffsetBuffer::from_lengths(lengths),
        items,
        None,
    ))
}

pub(crate) fn utf8_lists<'a, S: AsRef<str> + 'a>(
    lists: impl Iterator<Item = &'a [S]> + Clone,
) -> ArrayRef {
    let items = utf8(lists.clone().flatten().map(|s| s.as_ref()));
    list(DataType::Utf8, lists.map(|l| l.len()), items)
}

pub(crate) fn uint32_lists<'a>(lists: impl Iterator<Item = &'a [u32]> + Clone) -> ArrayRef {
    let items = uint32(lists.clone().flatten().copied());
    list(DataType::UInt32, lists.map(|l| l.len()), items)
}

/// Lists of booleans where an empty list is stored as null (a column that is mostly absent).
pub(crate) fn bool_lists_or_null<'a>(lists: impl Iterator<Item = &'a [bool]> + Clone) -> ArrayRef {
    let items = BooleanArray::from_iter(lists.clone().flatten().map(|&b| Some(b)));
    let nulls = NullBuffer::from_iter(lists.clone().map(|l| !l.is_empty()));
    let field = Arc::new(Field::new("item", DataType::Boolean, false));
    Arc::new(ListArray::new(
        field,
        OffsetBuffer::from_lengths(lists.map(<[bool]>::len)),
        Arc::new(items),
        Some(nulls),
    ))
}

pub(crate) fn triple_lists<'a>(lists: impl Iterator<Item = &'a [Triple]> + Clone) -> ArrayRef {
    let all = || lists.clone().flatten();
    let items = StructArray::new(
        triple_fields(),
        vec![
            utf8(all().map(|t| t.subject.as_str())),
            utf8(all().map(|t| t.relation.as_str())),
            utf8(all().map(|t| t.object.as_str())),
        ],
        None,
    );
    list(triple_type(), lists.map(|l| l.len()), Arc::new(items))
}

/// Typed access to a batch's columns by name. The batch has already passed the schema check, so
/// a type mismatch here means a bug; nulls in required columns are user errors and reported.
pub(crate) struct Columns<'a> {
    batch: &'a RecordBatch,
    origin: &'a str,
}

impl<'a> Columns<'a> {
    pub fn new(batch: &'a RecordBatch, origin: &'a str) -> Self {
        Columns { batch, origin }
    }

    fn column(&self, name: &str) -> Result<&'a ArrayRef> {
        self.batch
            .column_by_name(name)
            .ok_or_else(|| ArtifactError::MissingColumn {
                path: self.origin.to_string(),
                column: name.to_string(),
                expected: "a column".into(),
                found: column_names(self.batch),
            })
    }

    fn downcast<T: 'static>(
        &self,
        name: &str,
        array: &'a dyn Array,
        expected: &str,
    ) -> Result<&'a T> {
        array
            .as_any()
            .downcast_ref::<T>()
            .ok_or_else(|| ArtifactError::WrongType {
                path: self.origin.to_string(),
                column: name.to_string(),
                expected: expected.to_string(),
                found: format_type(array.data_type()),
            })
    }

    fn no_nulls(&self, name: &str, array: &dyn Array) -> Result<()> {
        match array
            .nulls()
            .and_then(|n| (0..n.len()).find(|&i| n.is_null(i)))
        {
            Some(row) => Err(ArtifactError::bad_value(
                self.origin,
                name,
                row,
                "is null; expected a value",
            )),
            None => Ok(()),
        }
    }

    pub fn strings(&self, name: &str) -> Result<Vec<String>> {
        let array = self.column(name)?;
        let strings = self.downcast::<StringArray>(name, array.as_ref(), "utf8")?;
        self.no_nulls(name, strings)?;
        Ok(strings
            .iter()
            .map(|s| s.unwrap_or_default().to_string())
            .collect())
    }

    /// A nullable column may be absent from the file (see `open_batches`): every value is null.
    pub fn optional_strings(&self, name: &str) -> Result<Vec<Option<String>>> {
        if self.batch.column_by_name(name).is_none() {
            return Ok(vec![None; self.batch.num_rows()]);
        }
        let array = self.column(name)?;
        let strings = self.downcast::<StringArray>(name, array.as_ref(), "utf8")?;
        Ok(strings.iter().map(|s| s.map(str::to_string)).collect())
    }

    /// A nullable primitive column; absent from the file, it reads as all nulls.
    fn optional_primitives<A: PrimitiveValues + 'static>(
        &self,
        name: &str,
        expected: &str,
    ) -> Result<Vec<Option<A::Value>>> {
        let Some(array) = self.batch.column_by_name(name) else {
            return Ok(vec![None; self.batch.num_rows()]);
        };
        Ok(self
            .downcast::<A>(name, array.as_ref(), expected)?
            .options())
    }

    pub fn optional_uint32s(&self, name: &str) -> Result<Vec<Option<u32>>> {
        self.optional_primitives::<UInt32Array>(name, "uint32")
    }

    pub fn optional_uint64s(&self, name: &str) -> Result<Vec<Option<u64>>> {
        self.optional_primitives::<UInt64Array>(name, "uint64")
    }

    pub fn optional_float64s(&self, name: &str) -> Result<Vec<Option<f64>>> {
        self.optional_primitives::<Float64Array>(name, "float64")
    }

    pub fn uint32s(&self, name: &str) -> Result<Vec<u32>> {
        let array = self.column(name)?;
        let values = self.downcast::<UInt32Array>(name, array.as_ref(), "uint32")?;
        self.no_nulls(name, values)?;
        Ok(values.values().to_vec())
    }

    pub fn uint64s(&self, name: &str) -> Result<Vec<u64>> {
        let array = self.column(name)?;
        let values = self.downcast::<UInt64Array>(name, array.as_ref(), "uint64")?;
        self.no_nulls(name, values)?;
        Ok(values.values().to_vec())
    }

    pub fn float64s(&self, name: &str) -> Result<Vec<f64>> {
        let array = self.column(name)?;
        let values = self.downcast::<Float64Array>(name, array.as_ref(), "float64")?;
        self.no_nulls(name, values)?;
        Ok(values.values().to_vec())
    }

    pub fn probe_kinds(&self, name: &str) -> Result<Vec<ProbeKind>> {
        self.strings(name)?
            .iter()
            .enumerate()
            .map(|(row, text)| {
                ProbeKind::parse(text).ok_or_else(|| {
                    ArtifactError::bad_value(
                        self.origin,
                        name,
                        row,
                        format!("is `{text}`; expected memorization, semantic or composition"),
                    )
                })
            })
            .collect()
    }

    fn lists(&self, name: &str, expected: &str) -> Result<&'a ListArray> {
        let array = self.column(name)?;
        let lists = self.downcast::<ListArray>(name, array.as_ref(), expected)?;
        self.no_nulls(name, lists)?;
        Ok(lists)
    }

    fn split<T: Clone>(lists: &ListArray, items: Vec<T>) -> Vec<Vec<T>> {
        lists
            .offsets()
            .windows(2)
            .map(|w| items[w[0] as usize..w[1] as usize].to_vec())
            .collect()
    }

    pub fn string_lists(&self, name: &str) -> Result<Vec<Vec<String>>> {
        let lists = self.lists(name, "list<utf8>")?;
        let items = self.downcast::<StringArray>(name, lists.values().as_ref(), "list<utf8>")?;
        self.no_nulls(name, items)?;
        let items: Vec<String> = items
            .iter()
            .map(|s| s.unwrap_or_default().to_string())
            .collect();
        Ok(Self::split(lists, items))
    }

    pub fn uint32_lists(&self, name: &str) -> Result<Vec<Vec<u32>>> {
        let lists = self.lists(name, "list<uint32>")?;
        let items = self.downcast::<UInt32Array>(name, lists.values().as_ref(), "list<uint32>")?;
        self.no_nulls(name, items)?;
        let values = items.values();
        Ok(lists
            .offsets()
            .windows(2)
            .map(|w| values[w[0] as usize..w[1] as usize].to_vec())
            .collect())
    }

    /// Boolean lists of a nullable column; null, or the column absent, reads as an empty list.
    pub fn bool_lists_or_empty(&self, name: &str) -> Result<Vec<Vec<bool>>> {
        let Some(array) = self.batch.column_by_name(name) else {
            return Ok(vec![Vec::new(); self.batch.num_rows()]);
        };
        let expected = "list<bool>";
        let lists = self.downcast::<ListArray>(name, array.as_ref(), expected)?;
        let items = self.downcast::<BooleanArray>(name, lists.values().as_ref(), expected)?;
        self.no_nulls(name, items)?;
        Ok(lists
            .offsets()
            .windows(2)
            .enumerate()
            .map(|(row, w)| {
                if lists.is_null(row) {
                    Vec::new()
                } else {
                    (w[0] as usize..w[1] as usize)
                        .map(|i| items.value(i))
                        .collect()
                }
            })
            .collect())
    }

    pub fn triple_lists(&self, name: &str) -> Result<Vec<Vec<Triple>>> {
        let expected = format!("list<{}>", format_type(&triple_type()));
        let lists = self.lists(name, &expected)?;
        let items = self.downcast::<StructArray>(name, lists.values().as_ref(), &expected)?;
        let part = |field: &str| -> Result<Vec<String>> {
            let column = items
                .column_by_name(field)
                .ok_or_else(|| ArtifactError::WrongType {
                    path: self.origin.to_string(),
                    column: name.to_string(),
                    expected: expected.clone(),
                    found: format_type(items.data_type()),
                })?;
            let strings = self.downcast::<StringArray>(name, column.as_ref(), &expected)?;
            self.no_nulls(name, strings)?;
            Ok(strings
                .iter()
                .map(|s| s.unwrap_or_default().to_string())
                .collect())
        };
        let (subjects, relations, objects) = (part("subject")?, part("relation")?, part("object")?);
        let triples: Vec<Triple> = subjects
            .into_iter()
            .zip(relations)
            .zip(objects)
            .map(|((subject, relation), object)| Triple {
                subject,
                relation,
                object,
            })
            .collect();
        Ok(Self::split(lists, triples))
    }
}

/// The primitive arrays of nullable columns, read as options.
trait PrimitiveValues: Array {
    type Value: Copy;
    fn options(&self) -> Vec<Option<Self::Value>>;
}

macro_rules! primitive_values {
    ($array:ty, $value:ty) => {
        impl PrimitiveValues for $array {
            type Value = $value;
            fn options(&self) -> Vec<Option<$value>> {
                self.iter().collect()
            }
        }
    };
}

primitive_values!(Float64Array, f64);
primitive_values!(UInt32Array, u32);
primitive_values!(UInt64Array, u64);

pub(crate) fn column_names(batch: &RecordBatch) -> String {
    let names: Vec<&str> = batch
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    names.join(", ")
}
