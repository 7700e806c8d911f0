//! `plot`: Chang et al. 2024 Figures 2–5 from `fit`'s tables and the QA accuracy of Physics of
//! LMs 3.1 from `probe`'s answers, as PNG and SVG with a Markdown
//! table of the plotted numbers beside each figure. Text uses a bundled DejaVu Sans, so no system
//! fonts are needed.

mod bios_qa;
mod canvas;
mod fig3;
mod figures;
mod icl_vs_finetune;
mod probe_positions;
mod q_probe_qa;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Result};
use factlab_artifacts::{read_rows, Injection};

pub use bios_qa::{BiosQa, VariantAccuracy};
pub use canvas::{save, Figure};
pub use fig3::{EffectivityPanel, Fig3};
pub use figures::{scenario_order, Fig2, Fig4, Fig5};
pub use icl_vs_finetune::{ChoicePanel, IclVsFinetune};
pub use probe_positions::{ProbePositions, VariantProbes};
pub use q_probe_qa::{QProbeQa, VariantQProbes};

/// Injection steps per scenario, shifted onto the logprobs' numbering.
pub fn injection_steps(path: &Path, step_offset: u32) -> Result<BTreeMap<String, Vec<u32>>> {
    let injections: Vec<Injection> = read_rows(path)?;
    let mut steps: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for injection in injections {
        steps
            .entry(injection.scenario)
            .or_default()
            .push(injection.step.saturating_sub(step_offset));
    }
    for list in steps.values_mut() {
        list.sort_unstable();
        list.dedup();
    }
    Ok(steps)
}

/// Fails with the runs a table does have when a requested run is missing.
pub fn check_runs<'a>(
    wanted: &[String],
    present: impl Iterator<Item = &'a str>,
    file: &Path,
) -> Result<()> {
    let present: Vec<&str> = present.collect();
    for run in wanted {
        if !present.contains(&run.as_str()) {
            let mut known = present.clone();
            known.sort();
            known.dedup();
            bail!(
                "{}: no rows for run `{run}`; runs in the file: {}",
                file.display(),
                known.join(", ")
            );
        }
    }
    Ok(())
}
