//! Injection schedules: which knowledge items are injected, with which text, at which steps.
//!
//! A schedule file is data, not code: scenario groups with their sizes and exposure counts, and
//! Δ, the steps between two exposures of one item. See `pipelines/schedules/paper.toml`.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{bail, Context, Result};
use factlab_artifacts::Knowledge;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleFile {
    interval: u32,
    #[serde(rename = "group")]
    groups: Vec<Group>,
}

/// One scenario: `count` knowledge items, each injected `exposures` times, Δ steps apart.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub scenario: String,
    pub count: u32,
    pub exposures: u32,
    #[serde(default)]
    pub text: TextChoice,
}

/// Which text of an item is injected at exposure k.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextChoice {
    /// The original paragraph every time (the paper's duplicate and once scenarios).
    #[default]
    Original,
    /// The original at exposure 0, then paraphrase k at exposure k (the paraphrase scenario).
    Paraphrases,
}

#[derive(Clone, Debug)]
pub struct Schedule {
    origin: String,
    interval: u32,
    groups: Vec<Group>,
}

/// One planned exposure of one item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exposure {
    pub knowledge_id: u32,
    pub scenario: String,
    pub exposure: u32,
    /// Steps since the first continuation step (the paper's t).
    pub t: u32,
    pub variant: u32,
    pub text: String,
}

impl Schedule {
    /// Reads and checks a schedule file; `interval` replaces the file's Δ when given.
    pub fn load(path: &Path, interval: Option<u32>) -> Result<Self> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{origin}: cannot read the schedule"))?;
        let file: ScheduleFile = toml::from_str(&text)
            .with_context(|| format!("{origin}: not a valid schedule file"))?;
        let schedule = Schedule {
            origin,
            interval: interval.unwrap_or(file.interval),
            groups: file.groups,
        };
        schedule.check()?;
        Ok(schedule)
    }

    fn check(&self) -> Result<()> {
        let origin = &self.origin;
        if self.groups.is_empty() {
            bail!("{origin}: no `[[group]]`; expected at least one scenario group");
        }
        let mut names = BTreeSet::new();
        for (index, group) in self.groups.iter().enumerate() {
            let name = &group.scenario;
            if name.trim().is_empty() {
                bail!(
                    "{origin}: group {}: `scenario` is empty; expected a name such as `once`",
                    index + 1
                );
            }
            if !names.insert(name.as_str()) {
                bail!("{origin}: scenario `{name}` appears twice; expected distinct names");
            }
            if group.count == 0 {
                bail!(
                    "{origin}: scenario `{name}`: `count` is 0; expected at least 1 knowledge item"
                );
            }
            if group.exposures == 0 {
                bail!("{origin}: scenario `{name}`: `exposures` is 0; expected at least 1");
            }
            if group.exposures > 1 && self.interval == 0 {
                bail!("{origin}: `interval` is 0 but scenario `{name}` has {} exposures; expected Δ ≥ 1 steps between exposures", group.exposures);
            }
        }
        Ok(())
    }

    pub fn interval(&self) -> u32 {
        self.interval
    }

    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// Continuation steps needed to reach the last exposure.
    pub fn steps_needed(&self) -> u32 {
        let last = self
            .groups
            .iter()
            .map(|g| g.exposures - 1)
            .max()
            .unwrap_or(0);
        last * self.interval + 1
    }

    /// Every exposure, ordered by t, then by group as in the file, then by knowledge id. Groups
    /// take items in knowledge-id order: the first group the lowest ids, and so on.
    pub fn plan(&self, knowledge: &[Knowledge], knowledge_origin: &str) -> Result<Vec<Exposure>> {
        let mut items: Vec<&Knowledge> = knowledge.iter().collect();
        items.sort_by_key(|k| k.id);
        if let Some(pair) = items.windows(2).find(|w| w[0].id == w[1].id) {
            bail!("{knowledge_origin}: column `id`: knowledge id {} appears twice; expected unique ids", pair[0].id);
        }
        let wanted: u32 = self.groups.iter().map(|g| g.count).sum();
        if (items.len() as u64) < u64::from(wanted) {
            bail!(
                "{knowledge_origin}: has {} knowledge items; the schedule {} needs {wanted} ({})",
                items.len(),
                self.origin,
                self.groups
                    .iter()
                    .map(|g| format!("{} {}", g.scenario, g.count))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let mut exposures = Vec::new();
        let mut next_item = items.into_iter();
        for group in &self.groups {
            for item in next_item.by_ref().take(group.count as usize) {
                exposures.extend(self.item_exposures(group, item, knowledge_origin)?);
            }
        }
        let group_rank = |scenario: &str| self.groups.iter().position(|g| g.scenario == scenario);
        exposures.sort_by_key(|e| (e.t, group_rank(&e.scenario), e.knowledge_id));
        Ok(exposures)
    }

    fn item_exposures(
        &self,
        group: &Group,
        item: &Knowledge,
        knowledge_origin: &str,
    ) -> Result<Vec<Exposure>> {
        let paraphrases_needed = (group.exposures - 1) as usize;
        if group.text == TextChoice::Paraphrases && item.paraphrases.len() < paraphrases_needed {
            bail!(
                "{knowledge_origin}: column `paraphrases`: knowledge id {} has {} paraphrases; scenario `{}` of {} needs {paraphrases_needed} (one per exposure after the first)",
                item.id,
                item.paraphrases.len(),
                group.scenario,
                self.origin
            );
        }
        Ok((0..group.exposures)
            .map(|exposure| {
                let variant = match group.text {
                    TextChoice::Original => 0,
                    TextChoice::Paraphrases => exposure,
                };
                let text = match variant {
                    0 => item.text.clone(),
                    k => item.paraphrases[k as usize - 1].clone(),
                };
                Exposure {
                    knowledge_id: item.id,
                    scenario: group.scenario.clone(),
                    exposure,
                    t: exposure * self.interval,
                    variant,
                    text,
                }
            })
            .collect())
    }
}
