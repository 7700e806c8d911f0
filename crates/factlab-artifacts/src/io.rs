//! Parquet files in and out: atomic writes, `-` for stdin/stdout, schema checks on read.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Schema};
use bytes::Bytes;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnChunk};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use rayon::prelude::*;
use tempfile::NamedTempFile;

use crate::outputs::{self, Digest};
use crate::schema_text::{canonical, format_type, ANY_LENGTH};
use crate::{Artifact, ArtifactError, Result};

const ROWS_PER_WRITE: usize = 8192;
const ROWS_PER_ROW_GROUP: usize = 64 * 1024;

/// How a path is named in messages: `-` is standard input or output.
pub fn display_path(path: &Path) -> String {
    if is_std_stream(path) {
        "<stdin/stdout>".to_string()
    } else {
        path.display().to_string()
    }
}

fn is_std_stream(path: &Path) -> bool {
    path.as_os_str() == "-"
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ArtifactError + '_ {
    move |source| ArtifactError::Io {
        path: display_path(path),
        source,
    }
}

/// A file being written under a temporary name beside its final path, or standard output; a
/// digest of every byte written (see [`crate::outputs::seal_together`]).
pub(crate) struct Sink {
    out: SinkOut,
    digest: Digest,
}

enum SinkOut {
    Temporary(BufWriter<NamedTempFile>),
    Stdout(BufWriter<std::io::Stdout>),
}

impl Sink {
    /// Creates the temporary `.NAME.XXXXXX.tmp` beside `path`, after removing the temporaries of
    /// `path` that killed writers left; the temporary stays locked while it is written, so that
    /// a concurrent writer's cleaning leaves it alone (see [`crate::outputs`]).
    pub(crate) fn create(path: &Path) -> Result<Self> {
        let digest = Digest::new();
        if is_std_stream(path) {
            return Ok(Sink {
                out: SinkOut::Stdout(BufWriter::new(std::io::stdout())),
                digest,
            });
        }
        let folder = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(folder).map_err(io_error(path))?;
        let stem = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let prefix = format!(".{stem}.");
        outputs::remove_stale(folder, &prefix, ".tmp", outputs::is_random_part);
        // Another try only if a cleaner removed the file before it was locked; a few at most,
        // in case a filesystem reports unstable inode numbers.
        let mut attempts = 0;
        let file = loop {
            let file = tempfile::Builder::new()
                .prefix(&prefix)
                .suffix(".tmp")
                .rand_bytes(outputs::RANDOM_CHARS)
                .tempfile_in(folder)
                .map_err(io_error(path))?;
            attempts += 1;
            if outputs::hold(file.as_file(), file.path()).map_err(io_error(path))? || attempts == 8
            {
                break file;
            }
        };
        Ok(Sink {
            out: SinkOut::Temporary(BufWriter::new(file)),
            digest,
        })
    }

    /// Makes the output visible under its final name (a rename, so readers never see half).
    pub(crate) fn commit(self, path: &Path) -> Result<()> {
        match self.out {
            SinkOut::Stdout(mut out) => out.flush().map_err(io_error(path)),
            SinkOut::Temporary(buffered) => {
                let file = buffered
                    .into_inner()
                    .map_err(|e| io_error(path)(e.into_error()))?;
                file.as_file().sync_all().map_err(io_error(path))?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    file.as_file()
                        .set_permissions(std::fs::Permissions::from_mode(0o644))
                        .map_err(io_error(path))?;
                }
                file.persist(path).map_err(|e| io_error(path)(e.error))?;
                Ok(())
            }
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = match &mut self.out {
            SinkOut::Temporary(w) => w.write(buf)?,
            SinkOut::Stdout(w) => w.write(buf)?,
        };
        self.digest.update(&buf[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.out {
            SinkOut::Temporary(w) => w.flush(),
            SinkOut::Stdout(w) => w.flush(),
        }
    }
}

/// Writes `bytes` to `path` atomically (or to stdout for `-`).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut sink = Sink::create(path)?;
    sink.write_all(bytes).map_err(io_error(path))?;
    sink.commit(path)
}

/// Streams rows of one artifact into a zstd Parquet file that appears only when `finish`ed.
/// Dropping the writer without `finish` removes the temporary file.
pub struct ArtifactWriter<T: Artifact> {
    writer: ArrowWriter<Sink>,
    path: PathBuf,
    row: PhantomData<fn(T)>,
}

/// How every artifact is written: zstd, row groups of 64k rows, no dictionaries.
pub(crate) fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("valid zstd level"),
        ))
        .set_max_row_group_row_count(Some(ROWS_PER_ROW_GROUP))
        // Long unique texts gain nothing from dictionaries and cost time; zstd does the work.
        .set_dictionary_enabled(false)
        .build()
}

impl<T: Artifact> ArtifactWriter<T> {
    pub fn create(path: &Path) -> Result<Self> {
        let sink = Sink::create(path)?;
        let writer = ArrowWriter::try_new(sink, Arc::new(T::schema()), Some(writer_properties()))
            .map_err(|source| ArtifactError::Parquet {
            path: display_path(path),
            source,
        })?;
        Ok(ArtifactWriter {
            writer,
            path: path.to_path_buf(),
            row: PhantomData,
        })
    }

    pub fn write(&mut self, rows: &[T]) -> Result<()> {
        for chunk in rows.chunks(ROWS_PER_WRITE) {
            self.writer
                .write(&T::to_batch(chunk))
                .map_err(|source| ArtifactError::Parquet {
                    path: display_path(&self.path),
                    source,
                })?;
        }
        Ok(())
    }

    pub fn finish(self) -> Result<()> {
        let sink = self
            .writer
            .into_inner()
            .map_err(|source| ArtifactError::Parquet {
                path: display_path(&self.path),
                source,
            })?;
        sink.commit(&self.path)
    }

    /// Every row written, the footer not yet: for files written as one set (see
    /// [`crate::outputs::seal_together`]).
    pub fn into_unsealed(self) -> Result<UnsealedFile> {
        let (writer, _) =
            self.writer
                .into_serialized_writer()
                .map_err(|source| ArtifactError::Parquet {
                    path: display_path(&self.path),
                    source,
                })?;
        UnsealedFile::new(writer, self.path, T::NAME)
    }
}

/// A Parquet file whose rows are all written and whose footer is not, still under its temporary
/// name; dropping it removes the temporary. [`crate::outputs::seal_together`] finishes it.
pub struct UnsealedFile {
    writer: SerializedFileWriter<Sink>,
    path: PathBuf,
    pub(crate) artifact: &'static str,
    /// Of every byte before the footer.
    pub(crate) digest: u64,
}

impl UnsealedFile {
    fn new(
        mut writer: SerializedFileWriter<Sink>,
        path: PathBuf,
        artifact: &'static str,
    ) -> Result<Self> {
        writer.flush().map_err(io_error(&path))?;
        let digest = writer.inner().digest.value();
        Ok(UnsealedFile {
            writer,
            path,
            artifact,
            digest,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the footer with `metadata` added and renames the file into place.
    pub(crate) fn seal(mut self, metadata: Vec<KeyValue>) -> Result<()> {
        for pair in metadata {
            self.writer.append_key_value_metadata(pair);
        }
        let sink = self
            .writer
            .into_inner()
            .map_err(|source| ArtifactError::Parquet {
                path: display_path(&self.path),
                source,
            })?;
        sink.commit(&self.path)
    }
}

/// Writes all `rows` to `path` (atomically; `-` for stdout).
///
/// The row groups are encoded and compressed in parallel, then written in order: every row group
/// holds the same rows and gets the same bytes whatever the thread count, so the file is the one
/// [`ArtifactWriter`] writes, sooner.
pub fn write_rows<T: Artifact + Sync>(path: &Path, rows: &[T]) -> Result<()> {
    write_rows_unsealed(path, rows)?.seal(Vec::new())
}

/// [`write_rows`] but for the footer and the rename: for files written as one set (see
/// [`crate::outputs::seal_together`]).
pub fn write_rows_unsealed<T: Artifact + Sync>(path: &Path, rows: &[T]) -> Result<UnsealedFile> {
    let parquet_error = |source| ArtifactError::Parquet {
        path: display_path(path),
        source,
    };
    let schema = Arc::new(T::schema());
    let writer = ArrowWriter::try_new(
        Sink::create(path)?,
        schema.clone(),
        Some(writer_properties()),
    )
    .map_err(parquet_error)?;
    let (mut file, row_groups) = writer.into_serialized_writer().map_err(parquet_error)?;
    let encoded: Vec<Vec<ArrowColumnChunk>> = rows
        .par_chunks(ROWS_PER_ROW_GROUP)
        .enumerate()
        .map(|(index, group)| {
            let mut columns = row_groups.create_column_writers(index)?;
            for chunk in group.chunks(ROWS_PER_WRITE) {
                let batch = T::to_batch(chunk);
                let mut writers = columns.iter_mut();
                for (field, array) in schema.fields().iter().zip(batch.columns()) {
                    for leaf in compute_leaves(field, array)? {
                        writers
                            .next()
                            .expect("one column writer per leaf")
                            .write(&leaf)?;
                    }
                }
            }
            columns.into_iter().map(|column| column.close()).collect()
        })
        .collect::<std::result::Result<_, _>>()
        .map_err(parquet_error)?;
    for group in encoded {
        let mut row_group = file.next_row_group().map_err(parquet_error)?;
        for column in group {
            column
                .append_to_row_group(&mut row_group)
                .map_err(parquet_error)?;
        }
        row_group.close().map_err(parquet_error)?;
    }
    UnsealedFile::new(file, path.to_path_buf(), T::NAME)
}

/// Record batches of a Parquet file, restricted to the expected columns, with string and list
/// flavours converted to the canonical ones (see [`canonical`]).
pub struct BatchReader {
    inner: ParquetRecordBatchReader,
    origin: String,
}

impl BatchReader {
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

impl Iterator for BatchReader {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next().map(|r| {
            r.map_err(|e| ArtifactError::Parquet {
                path: self.origin.clone(),
                source: e.into(),
            })
        })
    }
}

/// Opens `path` (`-` for stdin) and checks that every column of `expected` is there with the
/// expected type. Extra columns are allowed and not read; a nullable column may be absent (files
/// written before it existed), and then reads as nulls.
pub fn open_batches(path: &Path, expected: &Schema) -> Result<BatchReader> {
    let origin = if is_std_stream(path) {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    };
    let parquet_error = |source| ArtifactError::Parquet {
        path: origin.clone(),
        source,
    };
    if is_std_stream(path) {
        let mut buffer = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buffer)
            .map_err(|source| ArtifactError::Io {
                path: origin.clone(),
                source,
            })?;
        let bytes = Bytes::from(buffer);
        let metadata =
            ArrowReaderMetadata::load(&bytes, ArrowReaderOptions::new()).map_err(parquet_error)?;
        build_reader(bytes, metadata, expected, origin)
    } else {
        let file = File::open(path).map_err(io_error(path))?;
        let metadata =
            ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).map_err(parquet_error)?;
        build_reader(file, metadata, expected, origin)
    }
}

fn build_reader<R: parquet::file::reader::ChunkReader + 'static>(
    reader: R,
    metadata: ArrowReaderMetadata,
    expected: &Schema,
    origin: String,
) -> Result<BatchReader> {
    let parquet_error = |source| ArtifactError::Parquet {
        path: origin.clone(),
        source,
    };
    let found = metadata.schema().clone();
    let canonical_schema = Schema::new(
        found
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_data_type(canonical(f.data_type())))
            .collect::<Vec<_>>(),
    );
    let mut roots = Vec::new();
    for want in expected.fields() {
        let Some((index, have)) = canonical_schema.column_with_name(want.name()) else {
            if want.is_nullable() {
                continue;
            }
            let names: Vec<&str> = found.fields().iter().map(|f| f.name().as_str()).collect();
            return Err(ArtifactError::MissingColumn {
                path: origin,
                column: want.name().clone(),
                expected: format_type(want.data_type()),
                found: if names.is_empty() {
                    "no columns".into()
                } else {
                    names.join(", ")
                },
            });
        };
        if !type_matches(have.data_type(), want.data_type()) {
            return Err(ArtifactError::WrongType {
                path: origin,
                column: want.name().clone(),
                expected: format_type(want.data_type()),
                found: format_type(found.field(index).data_type()),
            });
        }
        roots.push(index);
    }
    let metadata = ArrowReaderMetadata::try_new(
        metadata.metadata().clone(),
        ArrowReaderOptions::new().with_schema(Arc::new(canonical_schema)),
    )
    .map_err(parquet_error)?;
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(reader, metadata);
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let inner = builder
        .with_projection(mask)
        .with_batch_size(8192)
        .build()
        .map_err(parquet_error)?;
    Ok(BatchReader { inner, origin })
}

/// Whether a file's column type is the one wanted; `fixed_size_list<T; *>` (a length of
/// [`ANY_LENGTH`]) wants a fixed-size list of T of any length.
fn type_matches(have: &DataType, want: &DataType) -> bool {
    match (have, want) {
        (DataType::FixedSizeList(have_item, n), DataType::FixedSizeList(want_item, ANY_LENGTH)) => {
            *n > 0 && format_type(have_item.data_type()) == format_type(want_item.data_type())
        }
        _ => format_type(have) == format_type(want),
    }
}

/// Reads every row of an artifact file (`-` for stdin).
pub fn read_rows<T: Artifact>(path: &Path) -> Result<Vec<T>> {
    read_converted(path, &T::schema(), T::from_batch)
}

/// Every row of a file whose columns `expected` names, converted batch by batch; a bad value's
/// row is counted from the start of the file.
pub(crate) fn read_converted<T>(
    path: &Path,
    expected: &Schema,
    convert: impl Fn(&RecordBatch, &str) -> Result<Vec<T>>,
) -> Result<Vec<T>> {
    let reader = open_batches(path, expected)?;
    let origin = reader.origin().to_string();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch?;
        let offset = rows.len();
        let chunk = convert(&batch, &origin).map_err(|e| match e {
            ArtifactError::BadValue {
                path,
                column,
                row,
                message,
            } => ArtifactError::BadValue {
                path,
                column,
                row: row + offset,
                message,
            },
            other => other,
        })?;
        rows.extend(chunk);
    }
    Ok(rows)
}
