//! Injection schedules: which knowledge items are injected, with which text, at which steps.
//!
//! A schedule file is data, not code: scenario groups with their sizes and exposure counts, and
//! Δ, the steps between two exposures of one item. See `pipelines/schedules/paper.toml`.
//!
//! Knowledge items that no group takes are never injected: they are the control group, probed
//! like the others, that shows how much of a rise is not specific to the injected fact.
//!
//! With `max_per_step = k`, the texts of one exposure round are spread over consecutive steps, k
//! per step, instead of all sharing the step t = exposure × Δ: a deviation from the paper that
//! keeps the injected share of a small batch within the paper's range. The first round takes one
//! item of every group in turn (item 0 of each group, then item 1, …), so that no scenario is
//! injected systematically later than another, and each item keeps its offset in later rounds,
//! so Δ between its exposures stays exact.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{bail, Context, Result};
use factlab_artifacts::Knowledge;
use factlab_cli::{positive, steps, Bounds};
use serde::Deserialize;

/// Upper bounds of a schedule's numbers (Δ and the last exposure: [`factlab_cli::MAX_STEPS`]).
const MAX_COUNT: u32 = 10_000_000;
const MAX_EXPOSURES: u32 = 100_000;
const MAX_PER_STEP: u32 = 1 << 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleFile {
    interval: u32,
    #[serde(default)]
    max_per_step: Option<u32>,
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
    max_per_step: Option<u32>,
    groups: Vec<Group>,
}

/// What a schedule does with a knowledge file: every exposure, and the items left out.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Ordered by step, then by the order the spread gives them.
    pub exposures: Vec<Exposure>,
    /// Ids of the items no group takes (the never-injected control), ascending.
    pub never_injected: Vec<u32>,
}

/// One planned exposure of one item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exposure {
    pub knowledge_id: u32,
    pub scenario: String,
    pub exposure: u32,
    /// Steps since the first continuation step (the paper's t): exposure × Δ, plus the item's
    /// place in the spread when `max_per_step` is set.
    pub t: u32,
    pub variant: u32,
    pub text: String,
}

impl Schedule {
    /// Reads and checks a schedule file; `interval` replaces the file's Δ and `max_per_step` its
    /// spread when given.
    pub fn load(path: &Path, interval: Option<u32>, max_per_step: Option<u32>) -> Result<Self> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{origin}: cannot read the schedule"))?;
        let file: ScheduleFile = toml::from_str(&text)
            .with_context(|| format!("{origin}: not a valid schedule file"))?;
        let schedule = Schedule {
            origin,
            interval: interval.unwrap_or(file.interval),
            max_per_step: max_per_step.or(file.max_per_step),
            groups: file.groups,
        };
        schedule.check()?;
        Ok(schedule)
    }

    fn check(&self) -> Result<()> {
        let origin = &self.origin;
        steps().check(&format!("{origin}: `interval`"), self.interval)?;
        if let Some(per_step) = self.max_per_step {
            positive::<u32>()
                .at_most(MAX_PER_STEP)
                .check(&format!("{origin}: `max_per_step`"), per_step)?;
        }
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
            positive::<u32>().at_most(MAX_COUNT).check(
                &format!("{origin}: scenario `{name}`: `count`"),
                group.count,
            )?;
            positive::<u32>().at_most(MAX_EXPOSURES).check(
                &format!("{origin}: scenario `{name}`: `exposures`"),
                group.exposures,
            )?;
            let last = (group.exposures - 1).checked_mul(self.interval);
            if last.is_none_or(|t| t > factlab_cli::MAX_STEPS) {
                bail!(
                    "{origin}: scenario `{name}`: {} exposures Δ = {} steps apart end past step {}; expected fewer exposures or a smaller `interval` (--interval)",
                    group.exposures,
                    self.interval,
                    factlab_cli::MAX_STEPS
                );
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

    pub fn max_per_step(&self) -> Option<u32> {
        self.max_per_step
    }

    /// Every exposure and the never-injected items. Groups take items in knowledge-id order: the
    /// first group the lowest ids, and so on; the items after the last group are left out.
    /// Without a spread, one step's exposures are ordered by group as in the file, then by
    /// knowledge id.
    pub fn plan(&self, knowledge: &[Knowledge], knowledge_origin: &str) -> Result<Plan> {
        let mut items: Vec<&Knowledge> = knowledge.iter().collect();
        items.sort_by_key(|k| k.id);
        if let Some(pair) = items.windows(2).find(|w| w[0].id == w[1].id) {
            bail!("{knowledge_origin}: column `id`: knowledge id {} appears twice; expected unique ids", pair[0].id);
        }
        let wanted: u64 = self.groups.iter().map(|g| u64::from(g.count)).sum();
        if (items.len() as u64) < wanted {
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
        // (place of the item in its group, group rank, exposure)
        let mut exposures: Vec<(u32, usize, Exposure)> = Vec::new();
        let mut next_item = items.into_iter();
        for (rank, group) in self.groups.iter().enumerate() {
            for (place, item) in next_item.by_ref().take(group.count as usize).enumerate() {
                for exposure in self.item_exposures(group, item, knowledge_origin)? {
                    exposures.push((place as u32, rank, exposure));
                }
            }
        }
        let never_injected = next_item.map(|k| k.id).collect();
        let exposures = match self.max_per_step {
            None => {
                exposures.sort_by_key(|(_, rank, e)| (e.t, *rank, e.knowledge_id));
                exposures.into_iter().map(|(_, _, e)| e).collect()
            }
            Some(per_step) => self.spread(exposures, per_step)?,
        };
        Ok(Plan {
            exposures,
            never_injected,
        })
    }

    /// Moves every item's exposures by the same offset: its place in the first round, taken
    /// group by group in turn, divided by `per_step`. So each step has at most `per_step` texts
    /// and each item keeps Δ between its exposures; a round must end before the next one starts.
    fn spread(
        &self,
        mut exposures: Vec<(u32, usize, Exposure)>,
        per_step: u32,
    ) -> Result<Vec<Exposure>> {
        let mut first_round: Vec<(u32, usize, u32)> = exposures
            .iter()
            .filter(|(_, _, e)| e.exposure == 0)
            .map(|(place, rank, e)| (*place, *rank, e.knowledge_id))
            .collect();
        first_round.sort_unstable();
        let offsets: BTreeMap<u32, u32> = first_round
            .iter()
            .enumerate()
            .map(|(index, (_, _, id))| (*id, index as u32 / per_step))
            .collect();
        let span = offsets.values().max().map_or(0, |last| last + 1);
        let repeated = self.groups.iter().any(|g| g.exposures > 1);
        if repeated && span > self.interval {
            bail!(
                "{}: {per_step} texts per step spread a round of {} texts over {span} steps, more than Δ = {}, into the next round; raise `max_per_step` or `interval`",
                self.origin,
                first_round.len(),
                self.interval
            );
        }
        for (_, _, exposure) in &mut exposures {
            exposure.t = exposure
                .t
                .checked_add(offsets[&exposure.knowledge_id])
                .context("an exposure's step overflows a step number")?;
        }
        exposures.sort_by_key(|(place, rank, e)| (e.t, *place, *rank));
        Ok(exposures.into_iter().map(|(_, _, e)| e).collect())
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
                    // At most (exposures - 1) × Δ ≤ MAX_STEPS, checked on load.
                    t: exposure * self.interval,
                    variant,
                    text,
                }
            })
            .collect())
    }
}
