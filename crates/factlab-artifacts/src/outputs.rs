//! What a stage leaves behind beyond one file: the temporaries of writers that were killed, and
//! the files one run writes together.
//!
//! **Stale temporaries.** Every output is written under a hidden temporary name beside it and
//! renamed when complete; a writer killed before the rename leaves the temporary. The next write
//! of the same output removes those of its temporaries whose writer is gone, and never one that a
//! live writer (another process, or another thread of this one) is still filling.
//!
//! A writer is known to be alive by an exclusive `flock` it holds on its temporary for as long as
//! the file is open ([`hold`]); the cleaner removes a temporary only if it can take that lock
//! itself, and removes it while holding it ([`remove_stale`]). The lock was chosen over a pid in
//! the name because the kernel releases it whenever the writer dies, `kill -9` included, so
//! neither a recycled pid (a dead writer's pid reused by a live process keeps its garbage
//! forever) nor a pid seen from another pid namespace or machine (containers, a shared
//! filesystem) can make the cleaner remove a live file or keep a dead one. `flock` locks belong
//! to the open file, not the process, so two writers of one output in one process are told
//! apart too. The one window — a cleaner locking a temporary between its creation and its
//! writer's lock — is closed by the writer: after locking it checks that the path still names
//! its file, and creates another if not.
//!
//! **Sets.** A run that writes several files that belong together (knowledge and its probes;
//! biographies, people and QA pairs; documents and their test options) renames them one after
//! another: a kill between two renames would leave a new file beside an old one. Such files are
//! written as one set ([`seal_together`]) and tied by their Parquet footers:
//!
//! - every member records the set id under [`SET_ID_KEY`]: a digest of the data of the set's
//!   main file (the first: knowledge, biographies, documents);
//! - every other member also records, under [`SET_MEMBERS_KEY`], the digest of each member's
//!   data (`knowledge=…, probes=…`).
//!
//! Digests, not random ids, because outputs are deterministic: the same inputs and seed give
//! the same ids and byte-identical files. The main file's footer depends on nothing but its own
//! data, so knowledge written with or without its probes is the same file. A reader that takes
//! two members calls [`check_same_set`], which fails, naming both files, when their set ids
//! differ (a main file and a member of another run) or their member digests do (two members
//! from runs with the same main file but other settings). Files without a set id (written
//! alone, or by another program that reads and writes the same schema) are not checked.

//!
//! **Made from.** A file computed from another run's set records that set's id in its footer
//! under [`MADE_FROM_KEY`] (`injections=…`), so that a reader given both checks they belong
//! together ([`check_made_from`]): logprobs name the injections their shards were packed with.
use std::fs::{File, TryLockError};
use std::io;
use std::path::Path;

use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::file::metadata::KeyValue;

use crate::io::display_path;
pub use crate::io::{write_rows_unsealed, UnsealedFile};
use crate::{ArtifactError, Result};

/// Footer key of the id shared by the files of one set.
pub const SET_ID_KEY: &str = "factlab.set";
/// Footer key of the members' data digests, e.g. `knowledge=…, probes=…` (not in the main file).
pub const SET_MEMBERS_KEY: &str = "factlab.set.members";
/// Footer key of the sets a file was computed from, e.g. `injections=…`.
pub const MADE_FROM_KEY: &str = "factlab.made-from";

/// Takes the writer's lock on the temporary just created at `path` as `file`; the lock lasts as
/// long as `file` is open. `false`: a cleaner removed the file before the lock was taken, and the
/// caller must create another.
///
/// On a filesystem without locks the file is written unlocked: there the cleaner cannot lock
/// either, and keeps every temporary, which is the safe side.
pub fn hold(file: &File, path: &Path) -> io::Result<bool> {
    if file.lock().is_err() {
        return Ok(true);
    }
    same_file(file, path)
}

#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let held = file.metadata()?;
    match std::fs::metadata(path) {
        Ok(named) => Ok(held.dev() == named.dev() && held.ino() == named.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(not(unix))]
fn same_file(_file: &File, path: &Path) -> io::Result<bool> {
    Ok(path.exists())
}

/// Removes the files of `folder` named `{prefix}{middle}{suffix}`, with `middle` accepted by
/// `is_middle`, whose writer no longer holds them; returns how many were removed. Best effort: a
/// folder or file that cannot be read or removed is left as it is.
pub fn remove_stale(
    folder: &Path,
    prefix: &str,
    suffix: &str,
    is_middle: impl Fn(&str) -> bool,
) -> usize {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(middle) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|n| n.strip_suffix(suffix))
        else {
            continue;
        };
        if !is_middle(middle) || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        let Ok(file) = File::open(&path) else {
            continue;
        };
        match file.try_lock() {
            // Removed while locked, so a writer that locks it later sees it gone (see `hold`).
            Ok(()) => removed += usize::from(std::fs::remove_file(&path).is_ok()),
            Err(TryLockError::WouldBlock) => {} // a live writer's
            Err(TryLockError::Error(_)) => {}   // no locks here: keep it, to be safe
        }
    }
    removed
}

/// A 64-bit digest of a byte stream, the same however the stream is cut into writes. Our own
/// code, so that a set id computed today is computed the same after any dependency upgrade; it
/// tells runs apart and is no defence against a forger.
#[derive(Clone, Debug)]
pub(crate) struct Digest {
    state: u64,
    pending: [u8; 8],
    pending_len: usize,
    length: u64,
}

const K1: u64 = 0x9E37_79B9_7F4A_7C15;
const K2: u64 = 0xC2B2_AE3D_27D4_EB4F;

fn fmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Digest {
    pub(crate) fn new() -> Self {
        Digest {
            state: 0x243F_6A88_85A3_08D3,
            pending: [0; 8],
            pending_len: 0,
            length: 0,
        }
    }

    fn mix(&mut self, word: u64) {
        self.state = (self.state ^ word.wrapping_mul(K1))
            .rotate_left(31)
            .wrapping_mul(K2);
    }

    pub(crate) fn update(&mut self, mut bytes: &[u8]) {
        self.length = self.length.wrapping_add(bytes.len() as u64);
        if self.pending_len > 0 {
            let take = (8 - self.pending_len).min(bytes.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&bytes[..take]);
            self.pending_len += take;
            bytes = &bytes[take..];
            if self.pending_len < 8 {
                return;
            }
            self.mix(u64::from_le_bytes(self.pending));
            self.pending_len = 0;
        }
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.mix(u64::from_le_bytes(word.try_into().expect("8 bytes")));
        }
        let rest = words.remainder();
        self.pending[..rest.len()].copy_from_slice(rest);
        self.pending_len = rest.len();
    }

    pub(crate) fn value(&self) -> u64 {
        let mut last = [0u8; 8];
        last[..self.pending_len].copy_from_slice(&self.pending[..self.pending_len]);
        let mut copy = self.clone();
        copy.mix(u64::from_le_bytes(last));
        fmix64(copy.state ^ fmix64(self.length))
    }
}

/// Writes the footers of `files` as one set, the first being the main file, and renames each
/// into place, in order; returns the set id (see the module's documentation).
pub fn seal_together(files: Vec<UnsealedFile>) -> Result<String> {
    seal_together_made_from(files, &[])
}

/// [`seal_together`], every member also recording the sets the files were computed from, as
/// `(artifact, set id)` pairs.
pub fn seal_together_made_from(
    files: Vec<UnsealedFile>,
    made_from: &[(&str, &str)],
) -> Result<String> {
    let Some(main) = files.first() else {
        return Ok(String::new());
    };
    debug_assert!(
        files
            .iter()
            .enumerate()
            .all(|(i, f)| files[..i].iter().all(|g| g.artifact != f.artifact)),
        "the members of a set are distinct artifacts"
    );
    let id = format!("{:016x}", main.digest);
    let members = files
        .iter()
        .map(|f| format!("{}={:016x}", f.artifact, f.digest))
        .collect::<Vec<_>>()
        .join(", ");
    for (index, file) in files.into_iter().enumerate() {
        let mut metadata = vec![KeyValue::new(SET_ID_KEY.to_string(), id.clone())];
        if index > 0 {
            metadata.push(KeyValue::new(SET_MEMBERS_KEY.to_string(), members.clone()));
        }
        metadata.extend(made_from_metadata(made_from));
        file.seal(metadata)?;
    }
    Ok(id)
}

/// What a file's footer says about the set it was written in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetRecord {
    pub id: String,
    /// `artifact=digest` of every member; `None` in the main file.
    pub members: Option<String>,
}

impl SetRecord {
    /// Whether two members' digest lists disagree about an artifact both list.
    fn members_disagree(&self, other: &SetRecord) -> bool {
        let (Some(mine), Some(theirs)) = (&self.members, &other.members) else {
            return false;
        };
        if mine == theirs {
            return false;
        }
        let parse = |list: &str| -> Vec<(String, String)> {
            list.split(", ")
                .filter_map(|m| m.split_once('='))
                .map(|(a, d)| (a.to_string(), d.to_string()))
                .collect()
        };
        let theirs = parse(theirs);
        parse(mine).iter().any(|(artifact, digest)| {
            theirs
                .iter()
                .any(|(other_artifact, other)| other_artifact == artifact && other != digest)
        })
    }

    fn describe(&self) -> String {
        match &self.members {
            Some(members) => format!("set {} ({members})", self.id),
            None => format!("set {}", self.id),
        }
    }
}

/// The value of `key` in the footer of the Parquet file at `path`; `None` for `-`.
fn footer_value(path: &Path, key: &str) -> Result<Option<String>> {
    if path.as_os_str() == "-" {
        return Ok(None);
    }
    let file = File::open(path).map_err(|source| ArtifactError::Io {
        path: display_path(path),
        source,
    })?;
    let metadata =
        ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).map_err(|source| {
            ArtifactError::Parquet {
                path: display_path(path),
                source,
            }
        })?;
    Ok(metadata
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.clone()))
}

/// The set a file was written in, from its footer. `None` for `-` and for a file written alone
/// or by another program.
pub fn set_of(path: &Path) -> Result<Option<SetRecord>> {
    let Some(id) = footer_value(path, SET_ID_KEY)? else {
        return Ok(None);
    };
    Ok(Some(SetRecord {
        id,
        members: footer_value(path, SET_MEMBERS_KEY)?,
    }))
}

/// Writes `rows` to `path` like [`crate::write_rows`], recording in the footer the ids of the
/// sets they were computed from, as `(artifact, set id)` pairs (see the module's documentation).
pub fn write_rows_made_from<T: crate::Artifact + Sync>(
    path: &Path,
    rows: &[T],
    made_from: &[(&str, &str)],
) -> Result<()> {
    write_rows_unsealed(path, rows)?.seal(made_from_metadata(made_from).into_iter().collect())
}

/// The footer entry recording `made_from` (`None` when it is empty).
pub(crate) fn made_from_metadata(made_from: &[(&str, &str)]) -> Option<KeyValue> {
    if made_from.is_empty() {
        return None;
    }
    let list = made_from
        .iter()
        .map(|(artifact, id)| format!("{artifact}={id}"))
        .collect::<Vec<_>>()
        .join(", ");
    Some(KeyValue::new(MADE_FROM_KEY.to_string(), list))
}

/// The id of the `artifact` set that the file at `path` records it was computed from.
pub fn made_from(path: &Path, artifact: &str) -> Result<Option<String>> {
    Ok(footer_value(path, MADE_FROM_KEY)?.and_then(|list| {
        list.split(", ")
            .filter_map(|pair| pair.split_once('='))
            .find_map(|(a, id)| (a == artifact).then(|| id.to_string()))
    }))
}

/// Fails, naming both files, when `product` records that it was computed from a set of
/// `artifact` other than the one `source` was written in. Files without the records (written
/// before them, alone, or by another program) are not checked.
pub fn check_made_from(product: &Path, artifact: &str, source: &Path) -> Result<()> {
    let Some(recorded) = made_from(product, artifact)? else {
        return Ok(());
    };
    let Some(source_set) = set_of(source)? else {
        return Ok(());
    };
    let recorded = recorded.as_str();
    if source_set.id == recorded {
        return Ok(());
    }
    Err(ArtifactError::Io {
        path: display_path(product),
        source: io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "was computed from other {artifact} than {}: it records {artifact} set {recorded}, \
                 the file is set {}; give the {artifact} of the run that made it",
                display_path(source),
                source_set.id
            ),
        ),
    })
}

/// Fails, naming both files, when `a` and `b` record that they were computed from different
/// sets of `artifact` (e.g. injections and logprobs from the knowledge of two `gen-facts` runs).
pub fn check_same_origin(a: &Path, b: &Path, artifact: &str) -> Result<()> {
    let (Some(from_a), Some(from_b)) = (made_from(a, artifact)?, made_from(b, artifact)?) else {
        return Ok(());
    };
    if from_a == from_b {
        return Ok(());
    }
    Err(ArtifactError::Io {
        path: display_path(a),
        source: io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "was computed from other {artifact} than {}: {artifact} set {from_a} against \
                 {from_b}; use the outputs of runs made from one {artifact} file",
                display_path(b)
            ),
        ),
    })
}

/// Fails when two of `files` were not written together: by different runs, or by a run that
/// was stopped between renaming them. The error names both files. Files without a set record
/// and `-` are not checked.
pub fn check_same_set(files: &[&Path]) -> Result<()> {
    let mut seen: Vec<(&Path, SetRecord)> = Vec::new();
    for &path in files {
        let Some(record) = set_of(path)? else {
            continue;
        };
        for (other, other_record) in &seen {
            if other_record.id != record.id || other_record.members_disagree(&record) {
                return Err(ArtifactError::Io {
                    path: display_path(path),
                    source: io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "does not belong with {}: they were written by different runs, or a \
                             run was stopped between writing them ({} against {}); write them \
                             again with one run",
                            display_path(other),
                            record.describe(),
                            other_record.describe()
                        ),
                    ),
                });
            }
        }
        seen.push((path, record));
    }
    Ok(())
}

/// The random part `tempfile` gives an output's temporary name: this many letters and digits.
pub(crate) const RANDOM_CHARS: usize = 6;

/// Whether `middle` is the random part of an output's temporary name.
pub(crate) fn is_random_part(middle: &str) -> bool {
    middle.len() == RANDOM_CHARS && middle.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_ignores_how_the_stream_is_cut() {
        let bytes: Vec<u8> = (0..100u8).collect();
        let mut whole = Digest::new();
        whole.update(&bytes);
        for cut in [1, 3, 7, 8, 9, 50] {
            let mut parts = Digest::new();
            for part in bytes.chunks(cut) {
                parts.update(part);
            }
            assert_eq!(parts.value(), whole.value(), "cut every {cut}");
        }
        let mut shorter = Digest::new();
        shorter.update(&bytes[..99]);
        assert_ne!(shorter.value(), whole.value());
        let mut padded = Digest::new();
        padded.update(&bytes[..99]);
        padded.update(&[0]);
        let mut zero_end = bytes[..99].to_vec();
        zero_end.push(0);
        let mut direct = Digest::new();
        direct.update(&zero_end);
        assert_eq!(padded.value(), direct.value());
        // Known answer, frozen: set ids in files are made of it, so changing the digest changes
        // the bytes every multi-file run writes for the same inputs and seed, and a file
        // written before the change no longer pairs with its partner rewritten after it.
        assert_eq!(whole.value(), 0x40D8_C716_D167_940F);
    }
}
