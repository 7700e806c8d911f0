//! The run folder (`--out`): one trainer writes it at a time; a new run starts only in an empty
//! one, or in one that `--force` clears.
//!
//! A trainer holds an exclusive `flock` on the folder itself for as long as it runs. Everything
//! a run removes from its own folder — the temporary checkpoint folders of a killed run, or all
//! of it under `--force` — is removed while holding that lock, so a second trainer pointed at
//! the folder is refused before it can remove a live run's files. The kernel releases the lock
//! when its holder dies, `kill -9` included: a killed run never leaves its folder locked.

use std::fs::{File, TryLockError};
use std::path::Path;

use anyhow::{bail, Context, Result};

/// Held for the life of a training session; dropping it releases the folder.
pub struct RunFolderLock {
    _folder: File,
}

/// Takes the run folder `out` for this process, creating it if needed; refused while another
/// process holds it. On a filesystem without locks the run goes on unprotected, with a warning.
pub fn lock(out: &Path) -> Result<RunFolderLock> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let folder = File::open(out).with_context(|| format!("opening {}", out.display()))?;
    match folder.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => bail!(
            "{}: another train process is writing this run folder; wait for it to end, or give \
             another --out",
            out.display()
        ),
        Err(TryLockError::Error(e)) => tracing::warn!(
            "{}: cannot lock the run folder ({e}); nothing stops a second trainer from writing \
             it at the same time",
            out.display()
        ),
    }
    Ok(RunFolderLock { _folder: folder })
}

/// Refuses a non-empty output folder without `force`, and with it an output folder that holds
/// one of the run's `inputs` (paths named by their flags, which `--force` must not clear).
pub fn check_fresh(out: &Path, force: bool, inputs: &[(&str, Option<&Path>)]) -> Result<()> {
    if out.exists() && !out.is_dir() {
        bail!("--out {}: exists and is not a folder", out.display());
    }
    let empty = match std::fs::read_dir(out) {
        Ok(mut entries) => entries.next().is_none(),
        Err(_) => true,
    };
    if empty {
        return Ok(());
    }
    if !force {
        bail!(
            "--out {}: the folder is not empty (an earlier run's checkpoints or logs would mix \
             with this one's); give --force to clear it first, --resume {0} to continue the run \
             in it, or another --out",
            out.display()
        );
    }
    let out_abs = std::fs::canonicalize(out)?;
    for &(flag, path) in inputs {
        let Some(path) = path else { continue };
        if let Ok(abs) = std::fs::canonicalize(path) {
            if abs.starts_with(&out_abs) {
                bail!(
                    "--force would clear {} {} inside --out {}",
                    flag,
                    path.display(),
                    out.display()
                );
            }
        }
    }
    Ok(())
}

/// Empties `out` (`--force`); the caller holds its lock.
pub fn clear(out: &Path, _held: &RunFolderLock) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(out) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry
            .with_context(|| format!("clearing {}", out.display()))?
            .path();
        let removed = if path.is_dir() && !path.is_symlink() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.with_context(|| format!("--force: removing {}", path.display()))?;
    }
    tracing::info!("--force: cleared {}", out.display());
    Ok(())
}
