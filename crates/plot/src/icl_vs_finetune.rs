//! Lampinen et al. 2025 Figures 2–4 in miniature: multiple-choice accuracy per test split
//! (groups) and condition (bars: pretrained, finetuned, in context, finetuned on augmented
//! data), with Wilson 95 % intervals and each split's chance level. The two rules oracles are
//! labelled for what they measure: `augmented-rules` states the tests' own sentences (a recall
//! bound), `augmented-reworded` the same facts in words no test uses.

use std::fmt::Write as _;

use anyhow::{bail, Result};
use factlab_artifacts::ChoiceAccuracyRow;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::bios_qa::ATTRIBUTE_COLOURS;
use crate::canvas::{drawing, Figure, FONT};
use crate::figures::legend;

/// Conditions whose name alone would mislead, with what the figure and table call them.
const LABELS: [(&str, &str); 2] = [
    (
        "augmented-rules",
        "augmented-rules (test wording: recall bound)",
    ),
    (
        "augmented-reworded",
        "augmented-reworded (rules, other words)",
    ),
];

/// What the figure and the table call a condition.
fn label(condition: &str) -> &str {
    LABELS
        .iter()
        .find(|(name, _)| *name == condition)
        .map_or(condition, |(_, label)| label)
}

/// One dataset's accuracies: one panel of the figure.
pub struct ChoicePanel {
    pub title: String,
    pub rows: Vec<ChoiceAccuracyRow>,
    /// Conditions and splits in order of first appearance.
    conditions: Vec<String>,
    splits: Vec<String>,
}

impl ChoicePanel {
    /// `origin` names the file in errors.
    pub fn new(title: &str, rows: Vec<ChoiceAccuracyRow>, origin: &str) -> Result<Self> {
        if rows.is_empty() {
            bail!("{origin}: no rows; expected the table of `fit choice-accuracy`");
        }
        let mut conditions: Vec<String> = Vec::new();
        let mut splits: Vec<String> = Vec::new();
        for row in &rows {
            if !conditions.contains(&row.condition) {
                conditions.push(row.condition.clone());
            }
            if !splits.contains(&row.split) {
                splits.push(row.split.clone());
            }
        }
        if conditions.len() > ATTRIBUTE_COLOURS.len() {
            bail!(
                "{origin}: {} conditions; at most {} can be told apart in one figure",
                conditions.len(),
                ATTRIBUTE_COLOURS.len()
            );
        }
        Ok(ChoicePanel {
            title: title.to_string(),
            rows,
            conditions,
            splits,
        })
    }

    fn row(&self, condition: &str, split: &str) -> Option<&ChoiceAccuracyRow> {
        self.rows
            .iter()
            .find(|r| r.condition == condition && r.split == split)
    }
}

impl ChoicePanel {
    fn width(&self) -> u32 {
        300 + 170 * self.splits.len() as u32
    }

    /// `palette`: every condition of the figure, so that a condition has one colour in all panels.
    fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        palette: &[&String],
    ) -> Result<()> {
        let count = self.splits.len();
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, (FONT, 19))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(55)
            .build_cartesian_2d(-0.5..count as f64 - 0.5, 0.0..118.0)
            .map_err(drawing)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(count)
            .x_label_formatter(&|x| {
                let nearest = x.round();
                match self.splits.get(nearest as usize) {
                    Some(split) if (x - nearest).abs() < 1e-6 && nearest >= 0.0 => split.clone(),
                    _ => String::new(),
                }
            })
            .y_desc("multiple-choice accuracy (%)")
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 14))
            .draw()
            .map_err(drawing)?;
        let width = 0.8 / self.conditions.len() as f64;
        for (c, condition) in self.conditions.iter().enumerate() {
            let colour = palette
                .iter()
                .position(|p| *p == condition)
                .map_or(BLACK, |i| ATTRIBUTE_COLOURS[i % ATTRIBUTE_COLOURS.len()]);
            let placed: Vec<(f64, &ChoiceAccuracyRow)> = self
                .splits
                .iter()
                .enumerate()
                .filter_map(|(s, split)| {
                    self.row(condition, split)
                        .map(|row| (s as f64 - 0.4 + c as f64 * width, row))
                })
                .collect();
            chart
                .draw_series(placed.iter().map(|&(x0, row)| {
                    Rectangle::new(
                        [(x0, 0.0), (x0 + width * 0.9, 100.0 * row.accuracy)],
                        colour.filled(),
                    )
                }))
                .map_err(drawing)?
                .label(label(condition))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled())
                });
            chart
                .draw_series(placed.iter().map(|&(x0, row)| {
                    let x = x0 + width * 0.45;
                    PathElement::new(
                        vec![(x, 100.0 * row.low), (x, 100.0 * row.high)],
                        BLACK.stroke_width(1),
                    )
                }))
                .map_err(drawing)?;
        }
        let chance = self.splits.iter().enumerate().filter_map(|(s, split)| {
            let row = self.rows.iter().find(|r| &r.split == split)?;
            Some(PathElement::new(
                vec![
                    (s as f64 - 0.45, 100.0 * row.chance),
                    (s as f64 + 0.45, 100.0 * row.chance),
                ],
                BLACK.stroke_width(2),
            ))
        });
        chart
            .draw_series(chance)
            .map_err(drawing)?
            .label("chance")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], BLACK.stroke_width(2)));
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    }

    fn table(&self) -> String {
        let mut text = format!(
            "\n## {}\n\n| split | chance | {} |\n|---|---:|{}\n",
            self.title,
            self.conditions
                .iter()
                .map(|c| label(c))
                .collect::<Vec<_>>()
                .join(" | "),
            "---:|".repeat(self.conditions.len())
        );
        for split in &self.splits {
            let chance = self
                .rows
                .iter()
                .find(|r| &r.split == split)
                .map_or(f64::NAN, |r| r.chance);
            let cells: Vec<String> = self
                .conditions
                .iter()
                .map(|condition| {
                    self.row(condition, split).map_or("–".into(), |r| {
                        format!(
                            "{:.1} [{:.1}, {:.1}]",
                            100.0 * r.accuracy,
                            100.0 * r.low,
                            100.0 * r.high
                        )
                    })
                })
                .collect();
            let _ = writeln!(
                text,
                "| {split} | {:.1} | {} |",
                100.0 * chance,
                cells.join(" | ")
            );
        }
        text
    }
}

/// The figure: one panel per dataset, side by side.
pub struct IclVsFinetune {
    pub panels: Vec<ChoicePanel>,
}

impl Figure for IclVsFinetune {
    fn size(&self) -> (u32, u32) {
        (self.panels.iter().map(ChoicePanel::width).sum(), 480)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        let mut palette: Vec<&String> = Vec::new();
        for condition in self.panels.iter().flat_map(|p| &p.conditions) {
            if !palette.contains(&condition) {
                palette.push(condition);
            }
        }
        if palette.len() > ATTRIBUTE_COLOURS.len() {
            bail!(
                "{} conditions in all; at most {} can be told apart in one figure",
                palette.len(),
                ATTRIBUTE_COLOURS.len()
            );
        }
        let mut rest = area.clone();
        for panel in &self.panels {
            let (left, right) = rest.split_horizontally(panel.width());
            panel.draw(&left, &palette)?;
            rest = right;
        }
        Ok(())
    }

    fn table(&self) -> String {
        let mut text = String::from(
            "# In-context learning against finetuning (Lampinen et al. 2025)\n\nMultiple-choice \
             accuracy (%) per test split and condition, with its Wilson 95 % interval over the \
             split's questions in brackets; chance is what guessing scores. \
             `augmented-rules` is finetuned on the rules oracle in the tests' own wording: the \
             right options appear verbatim in its training data, so it bounds recall, not \
             inference. `augmented-reworded` is finetuned on the same derived facts in \
             templates no test uses.\n",
        );
        for panel in &self.panels {
            text.push_str(&panel.table());
        }
        text
    }
}
