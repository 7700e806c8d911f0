//! Saving a checkpoint: the logs, then the step folder, then the `latest` pointer.

use anyhow::{Context, Result};
use factlab_artifacts::outputs::{set_of, write_rows_made_from};
use factlab_artifacts::{write_rows, Artifact, Injection, Knowledge};
use factlab_model::checkpoint::{self, step_folder_name};

use super::{Session, CHECKPOINTS_DIR, LOGPROBS_FILE, STATE_FILE, TRAIN_LOG_FILE};

impl Session {
    /// Logs first, then the checkpoint: whatever the moment of a kill, the logs on disk cover
    /// the latest checkpoint, and a resume trims them back to it.
    pub(super) fn save(&mut self) -> Result<()> {
        let out = self.state.config.out.clone();
        write_rows(&out.join(TRAIN_LOG_FILE), &self.log)?;
        if let Some(probes) = &self.state.config.probes {
            // The injections the shards carry and the knowledge the probes were written with
            // (their set is the knowledge's): `fit` checks both against its other inputs.
            let injections = self.stream.manifest().injections.clone();
            let knowledge = set_of(probes)?.map(|set| set.id);
            let made_from: Vec<(&str, &str)> = injections
                .iter()
                .map(|id| (Injection::NAME, id.as_str()))
                .chain(knowledge.iter().map(|id| (Knowledge::NAME, id.as_str())))
                .collect();
            write_rows_made_from(&out.join(LOGPROBS_FILE), &self.logprobs, &made_from)?;
        }
        self.state.rng = self.rng.state();
        let folder = out.join(CHECKPOINTS_DIR);
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("creating {}", folder.display()))?;
        let name = step_folder_name(u64::from(self.state.step));
        let state_text = serde_json::to_string_pretty(&self.state.to_saved(&out)?)? + "\n";
        let step = self.state.step;
        checkpoint::write_folder_atomic(&folder, &name, |dir| {
            self.weights
                .save(dir, &self.state.config.model, &self.optimizer)?;
            let path = dir.join(STATE_FILE);
            std::fs::write(&path, &state_text)
                .map_err(|e| factlab_model::ModelError::io(&path, e))?;
            test_hold(step);
            Ok(())
        })?;
        checkpoint::set_latest(&folder, &name)?;
        tracing::info!(
            step = self.state.step,
            "saved checkpoint {}",
            folder.join(&name).display()
        );
        Ok(())
    }
}

/// Test hook: with `FACTLAB_TRAIN_TEST_HOLD=STEP:FILE` in the environment, the save of step
/// STEP stops when its checkpoint is written under a temporary name, not yet renamed (the logs
/// already cover step STEP), creates FILE and waits there to be killed. The kill-and-resume
/// tests use it to SIGKILL a run at the same point every time.
fn test_hold(step: u32) {
    let Ok(value) = std::env::var("FACTLAB_TRAIN_TEST_HOLD") else {
        return;
    };
    let Some((at, file)) = value.split_once(':') else {
        return;
    };
    if at.parse::<u32>().ok() != Some(step) {
        return;
    }
    let _ = std::fs::write(file, b"held\n");
    loop {
        std::thread::sleep(std::time::Duration::from_secs(60));
    }
}
