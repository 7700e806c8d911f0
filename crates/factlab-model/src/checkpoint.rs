//! Checkpoint folders: `step-NNNNNN/` holding `model.safetensors` and `config.json` that
//! `transformers.LlamaForCausalLM.from_pretrained` loads unchanged, plus whatever training state
//! the caller adds. A folder is filled under a temporary name and renamed when complete, and the
//! `latest` file beside the folders is replaced atomically after it, so a kill at any moment
//! leaves only complete checkpoints behind.

use std::path::{Path, PathBuf};

use candle_core::Device;

use crate::config::HfLlamaConfig;
use crate::{ModelConfig, ModelError, Params, Result};

pub const MODEL_FILE: &str = "model.safetensors";
pub const CONFIG_FILE: &str = "config.json";
pub const LATEST_FILE: &str = "latest";

pub fn step_folder_name(step: u64) -> String {
    format!("step-{step:06}")
}

/// Writes the model's two files into `dir`.
pub fn save_model(dir: &Path, config: &ModelConfig, params: &Params) -> Result<()> {
    params.save(&dir.join(MODEL_FILE))?;
    let text = serde_json::to_string_pretty(&config.to_hf()).expect("config serialises");
    let path = dir.join(CONFIG_FILE);
    std::fs::write(&path, format!("{text}\n")).map_err(|e| ModelError::io(&path, e))
}

/// Loads a model folder (ours, or a Hugging Face Llama folder with the same layout).
pub fn load_model(dir: &Path, device: &Device) -> Result<(ModelConfig, Params)> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| ModelError::io(&path, e))?;
    let hf: HfLlamaConfig =
        serde_json::from_str(&text).map_err(|e| ModelError::invalid(&path, e.to_string()))?;
    let config = ModelConfig::from_hf(&hf, &path)?;
    let params = Params::load(&config, &dir.join(MODEL_FILE), device)?;
    Ok((config, params))
}

/// Creates `parent/name` atomically: `fill` writes into a temporary folder beside it, which is
/// then synced and renamed. An existing folder of that name (left by a run that was killed
/// after writing it but before recording it as latest) is replaced.
pub fn write_folder_atomic(
    parent: &Path,
    name: &str,
    fill: impl FnOnce(&Path) -> Result<()>,
) -> Result<PathBuf> {
    std::fs::create_dir_all(parent).map_err(|e| ModelError::io(parent, e))?;
    let temp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    if temp.exists() {
        std::fs::remove_dir_all(&temp).map_err(|e| ModelError::io(&temp, e))?;
    }
    std::fs::create_dir(&temp).map_err(|e| ModelError::io(&temp, e))?;
    fill(&temp)?;
    for entry in std::fs::read_dir(&temp).map_err(|e| ModelError::io(&temp, e))? {
        let path = entry.map_err(|e| ModelError::io(&temp, e))?.path();
        std::fs::File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(|e| ModelError::io(&path, e))?;
    }
    let target = parent.join(name);
    if target.exists() {
        std::fs::remove_dir_all(&target).map_err(|e| ModelError::io(&target, e))?;
    }
    std::fs::rename(&temp, &target).map_err(|e| ModelError::io(&target, e))?;
    Ok(target)
}

/// Records `name` as the latest complete checkpoint in `parent`.
pub fn set_latest(parent: &Path, name: &str) -> Result<()> {
    factlab_artifacts::write_atomic(&parent.join(LATEST_FILE), format!("{name}\n").as_bytes())?;
    Ok(())
}

/// The latest complete checkpoint folder in `parent`, if any.
pub fn latest(parent: &Path) -> Result<Option<PathBuf>> {
    let path = parent.join(LATEST_FILE);
    match std::fs::read_to_string(&path) {
        Ok(name) => Ok(Some(parent.join(name.trim()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ModelError::io(&path, e)),
    }
}

/// Removes temporary folders left by a killed writer. Every one is taken for a dead writer's, so
/// the caller makes sure no other writer is filling `parent` (`train` holds its run folder's lock).
pub fn remove_partial_folders(parent: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry.map_err(|e| ModelError::io(parent, e))?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with('.') && name.contains(".tmp-") && path.is_dir() {
            std::fs::remove_dir_all(&path).map_err(|e| ModelError::io(&path, e))?;
        }
    }
    Ok(())
}
