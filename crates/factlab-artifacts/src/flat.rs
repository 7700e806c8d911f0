//! Artifacts whose columns are plain scalars (`utf8`, `uint32`, `uint64`, `float64`, probe kinds;
//! `Option` of `uint32` or `float64` for a nullable column) are declared with
//! [`flat_artifact!`]: one list of fields gives the struct, its schema and both conversions, so
//! the three cannot drift apart.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, UInt32Array};
use arrow_schema::DataType;

use crate::columns::{float64, uint32, uint64, utf8, Columns};
use crate::{ProbeKind, Result};

pub(crate) trait FlatColumn: Sized {
    const DATA_TYPE: DataType;
    /// A nullable column may also be absent from a file written before it existed.
    const NULLABLE: bool = false;
    fn build<'a>(values: impl Iterator<Item = &'a Self> + Clone) -> ArrayRef
    where
        Self: 'a;
    fn read(columns: &Columns, name: &str) -> Result<Vec<Self>>;
}

impl FlatColumn for String {
    const DATA_TYPE: DataType = DataType::Utf8;
    fn build<'a>(values: impl Iterator<Item = &'a Self> + Clone) -> ArrayRef {
        utf8(values.map(String::as_str))
    }
    fn read(columns: &Columns, name: &str) -> Result<Vec<Self>> {
        columns.strings(name)
    }
}

impl FlatColumn for u32 {
    const DATA_TYPE: DataType = DataType::UInt32;
    fn build<'a>(values: impl Iterator<Item = &'a Self> + Clone) -> ArrayRef {
        uint32(values.copied())
    }
    fn read(columns: &Columns, name: &str) -> Result<Vec<Self>> {
        columns.uint32s(name)
    }
}

impl FlatColumn for u64 {
    const DATA_TYPE: DataType = DataType::UInt64;
    fn build<'a>(values: impl Iterator<Item = &'a Self> + Clone) -> ArrayRef {
        uint64(values.copied())
    }
    fn read(columns: &Columns, name: &str) -> Result<Vec<Self>> {
        columns.uint64s(name)
    }
}

impl FlatColumn for f64 {
    const DATA_TYPE: DataType = DataType::Float64;
    fn build<'a>(values: impl Iterator<Item = &'a Self> + Clone) -> ArrayRef {
        float64(values.copied())
    }
    fn read(columns: &Columns, name: &str) -> Result<Vec<Self>> {
        columns.float64s(name)
    }
}

impl FlatColumn for Option<u32> {
    const DATA_TYPE: DataType = DataType::UInt32;
    const NULLABLE: bool = true;
    fn build<'a>(values: impl Iterator<Item = &'a Self> + Clone) -> ArrayRef {
        Arc::new(values.copied().collect::<UInt32Array>())
    }
    fn read(columns: &Columns, name: &str) -> Result<Vec<Self>> {
        columns.optional_uint32s(name)
    }
}

impl FlatColumn for Option<f64> {
    const DATA_TYPE: DataType = DataType::Float64;
    const NULLABLE: bool = true;
    fn build<'a>(values: impl Iterator<Item = &'a Self> + Clone) -> ArrayRef {
        Arc::new(values.copied().collect::<Float64Array>())
    }
    fn read(columns: &Columns, name: &str) -> Result<Vec<Self>> {
        columns.optional_float64s(name)
    }
}

/// Stored as `utf8`; reading checks every value is a known kind.
impl FlatColumn for ProbeKind {
    const DATA_TYPE: DataType = DataType::Utf8;
    fn build<'a>(values: impl Iterator<Item = &'a Self> + Clone) -> ArrayRef {
        utf8(values.map(|kind| kind.as_str()))
    }
    fn read(columns: &Columns, name: &str) -> Result<Vec<Self>> {
        columns.probe_kinds(name)
    }
}

macro_rules! flat_artifact {
    (
        $(#[$meta:meta])*
        $name:ident = $file:literal {
            $($(#[$field_meta:meta])* $field:ident: $ty:ty,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq)]
        pub struct $name {
            $($(#[$field_meta])* pub $field: $ty,)*
        }

        impl $crate::Artifact for $name {
            const NAME: &'static str = $file;

            fn schema() -> arrow_schema::Schema {
                arrow_schema::Schema::new(vec![$(
                    arrow_schema::Field::new(
                        stringify!($field),
                        <$ty as $crate::flat::FlatColumn>::DATA_TYPE,
                        <$ty as $crate::flat::FlatColumn>::NULLABLE,
                    ),
                )*])
            }

            fn to_batch(rows: &[Self]) -> arrow_array::RecordBatch {
                arrow_array::RecordBatch::try_new(
                    std::sync::Arc::new(Self::schema()),
                    vec![$(<$ty as $crate::flat::FlatColumn>::build(rows.iter().map(|r| &r.$field)),)*],
                )
                .expect(concat!("columns match the ", $file, " schema"))
            }

            fn from_batch(
                batch: &arrow_array::RecordBatch,
                origin: &str,
            ) -> $crate::Result<Vec<Self>> {
                let columns = $crate::columns::Columns::new(batch, origin);
                $(let mut $field =
                    <$ty as $crate::flat::FlatColumn>::read(&columns, stringify!($field))?.into_iter();)*
                Ok((0..batch.num_rows())
                    .map(|_| $name { $($field: $field.next().expect("column length is the batch's"),)* })
                    .collect())
            }
        }
    };
}

pub(crate) use flat_artifact;
