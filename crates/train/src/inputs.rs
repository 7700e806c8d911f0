//! What a run reads, and how a later command knows it is still the same: digests of the shard
//! manifest (with each shard file's length and Parquet footer), of the tokenizer (its canonical
//! form, whatever the JSON formatting) and of the probes, recorded in every checkpoint's
//! `state.json`. `--resume` refuses inputs that changed with [`InputsChanged`] (exit status
//! [`INPUTS_CHANGED_EXIT`]), so that a pipeline can start afresh in exactly that case; `--init`
//! refuses shards made with another tokenizer than its checkpoint's.

use std::fmt;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use factlab_artifacts::ShardManifest;
use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

/// Exit status of `train` when `--resume` finds that the run's inputs changed since it started
/// (and for nothing else): start the run afresh.
pub const INPUTS_CHANGED_EXIT: u8 = 3;

/// Digests of a run's inputs when it started.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputDigests {
    /// The shard manifest's bytes, and each shard's length and Parquet footer.
    pub shards: String,
    /// The tokenizer the manifest names, in canonical form.
    pub tokenizer: String,
    /// The probes file's bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probes: Option<String>,
}

/// `--resume` found inputs other than those the run started with.
#[derive(Debug)]
pub struct InputsChanged(pub String);

impl fmt::Display for InputsChanged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputsChanged {}

/// Whether `error` (or anything in its chain) is an [`InputsChanged`].
pub fn inputs_changed(error: &anyhow::Error) -> bool {
    error.chain().any(|e| e.is::<InputsChanged>())
}

/// FNV-1a 64 with a byte count: enough to notice a changed file, with no dependency.
struct Fnv {
    hash: u64,
    length: u64,
}

impl Fnv {
    fn new() -> Self {
        Fnv {
            hash: 0xcbf2_9ce4_8422_2325,
            length: 0,
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        self.length += bytes.len() as u64;
        for &byte in bytes {
            self.hash = (self.hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn finish(&self) -> String {
        format!("{}-{:016x}", self.length, self.hash)
    }
}

/// `<bytes>-<FNV-1a 64 in hex>` of a file.
pub fn file_fingerprint(path: &Path) -> Result<String> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut fnv = Fnv::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buffer)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        fnv.update(&buffer[..n]);
    }
    Ok(fnv.finish())
}

/// The manifest's bytes, then each shard file's length and Parquet footer (row groups, sizes
/// and statistics: regenerated shards differ there), without reading the shards' data.
pub fn shards_digest(manifest_path: &Path) -> Result<String> {
    let manifest = ShardManifest::load(manifest_path)?;
    let mut fnv = Fnv::new();
    fnv.update(
        &std::fs::read(manifest_path)
            .with_context(|| format!("reading {}", manifest_path.display()))?,
    );
    for path in manifest.shard_paths(manifest_path) {
        let footer = parquet_footer(&path)
            .with_context(|| format!("{}: reading the footer", path.display()))?;
        fnv.update(&footer);
    }
    Ok(fnv.finish())
}

/// The file's length (8 bytes) and its Parquet footer with the trailing length and magic.
fn parquet_footer(path: &Path) -> Result<Vec<u8>> {
    let mut file = std::fs::File::open(path)?;
    let length = file.metadata()?.len();
    let mut tail = length.to_le_bytes().to_vec();
    if length < 12 {
        return Ok(tail);
    }
    let mut end = [0u8; 8];
    file.seek(SeekFrom::End(-8))?;
    file.read_exact(&mut end)?;
    let footer = u64::from(u32::from_le_bytes([end[0], end[1], end[2], end[3]]));
    let take = (footer + 8).min(length);
    file.seek(SeekFrom::Start(length - take))?;
    let mut bytes = vec![0u8; take as usize];
    file.read_exact(&mut bytes)?;
    tail.extend(bytes);
    Ok(tail)
}

/// The tokenizer the manifest at `manifest_path` names.
pub fn tokenizer_path(manifest_path: &Path, manifest: &ShardManifest) -> PathBuf {
    manifest_path
        .parent()
        .unwrap_or(Path::new("."))
        .join(&manifest.tokenizer)
}

pub fn load_tokenizer(path: &Path) -> Result<Tokenizer> {
    Tokenizer::from_file(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Digest of the tokenizer's canonical serialisation: the same for the same model, added
/// tokens and pipeline, whatever the JSON formatting of the file.
pub fn tokenizer_digest(tokenizer: &Tokenizer, path: &Path) -> Result<String> {
    let text = tokenizer
        .to_string(false)
        .map_err(|e| anyhow::anyhow!("{}: serialising: {e}", path.display()))?;
    let mut fnv = Fnv::new();
    fnv.update(text.as_bytes());
    Ok(fnv.finish())
}

impl InputDigests {
    /// Digests of the shards at `manifest_path`, their tokenizer and the probes.
    pub fn of(manifest_path: &Path, probes: Option<&Path>) -> Result<Self> {
        let manifest = ShardManifest::load(manifest_path)?;
        let tokenizer_file = tokenizer_path(manifest_path, &manifest);
        let tokenizer = load_tokenizer(&tokenizer_file)?;
        Ok(InputDigests {
            shards: shards_digest(manifest_path)?,
            tokenizer: tokenizer_digest(&tokenizer, &tokenizer_file)?,
            probes: probes.map(file_fingerprint).transpose()?,
        })
    }

    /// [`InputsChanged`] naming the first input that differs from `saved`.
    pub fn check_unchanged(
        &self,
        saved: &InputDigests,
        manifest_path: &Path,
        probes: Option<&Path>,
        checkpoint: &Path,
    ) -> Result<()> {
        let changed = |what: String, now: &str, was: &str| {
            Err(anyhow::Error::new(InputsChanged(format!(
                "{what} changed since the run started (digest {now}, was {was} in {}); \
                 the run cannot resume on other data: start it afresh (exit status {})",
                checkpoint.join(crate::state::STATE_FILE).display(),
                INPUTS_CHANGED_EXIT
            ))))
        };
        if self.shards != saved.shards {
            return changed(
                format!("the shards of {}", manifest_path.display()),
                &self.shards,
                &saved.shards,
            );
        }
        if self.tokenizer != saved.tokenizer {
            let manifest = ShardManifest::load(manifest_path)?;
            return changed(
                format!(
                    "the tokenizer {} of {}",
                    tokenizer_path(manifest_path, &manifest).display(),
                    manifest_path.display()
                ),
                &self.tokenizer,
                &saved.tokenizer,
            );
        }
        if let (Some(now), Some(was), Some(path)) = (&self.probes, &saved.probes, probes) {
            if now != was {
                return changed(format!("the probes {}", path.display()), now, was);
            }
        }
        Ok(())
    }
}
