//! Physics of LMs 3.1 Figure 3: exact-match QA accuracy per augmentation variant and attribute,
//! from `probe generate`'s answers (one file per variant).

use std::fmt::Write as _;

use anyhow::{bail, Result};
use factlab_artifacts::{Answer, ATTRIBUTES};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::canvas::{drawing, Figure, FONT};
use crate::figures::legend;

/// Six attributes; the last two are for figures with more series (icl-vs-finetune's seven
/// conditions).
pub(crate) const ATTRIBUTE_COLOURS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// The attribute at a whole-numbered x tick (attributes placed at 0, 1, …), blank between ticks.
pub(crate) fn attribute_tick(x: &f64) -> String {
    let nearest = x.round();
    match ATTRIBUTES.get(nearest as usize) {
        Some(a) if (x - nearest).abs() < 1e-6 && nearest >= 0.0 => a.replace('_', " "),
        _ => String::new(),
    }
}

/// One variant's answers, reduced to accuracy per attribute.
pub struct VariantAccuracy {
    pub variant: String,
    /// Exact-match share per attribute, in `ATTRIBUTES` order, and the answers counted.
    pub accuracy: [f64; 6],
    pub answers: [usize; 6],
}

impl VariantAccuracy {
    /// `origin` names the file in errors.
    pub fn from_answers(variant: &str, answers: &[Answer], origin: &str) -> Result<Self> {
        let mut right = [0usize; 6];
        let mut total = [0usize; 6];
        for answer in answers {
            let Some(index) = ATTRIBUTES.iter().position(|a| *a == answer.attribute) else {
                bail!(
                    "{origin}: attribute `{}`; expected one of {ATTRIBUTES:?}",
                    answer.attribute
                );
            };
            total[index] += 1;
            right[index] += answer.exact_match as usize;
        }
        if total.contains(&0) {
            bail!("{origin}: some attribute has no answers; expected all six ({ATTRIBUTES:?})");
        }
        Ok(VariantAccuracy {
            variant: variant.to_string(),
            accuracy: std::array::from_fn(|i| right[i] as f64 / total[i] as f64),
            answers: total,
        })
    }

    fn mean(&self) -> f64 {
        self.accuracy.iter().sum::<f64>() / 6.0
    }
}

/// `multi5+permute+fullname` as `multi5`, `+permute`, `+fullname`: one line each.
fn variant_label_lines(variant: &str) -> Vec<String> {
    let mut parts = variant.split('+');
    let first = parts.next().unwrap_or_default().to_string();
    std::iter::once(first)
        .chain(parts.map(|part| format!("+{part}")))
        .collect()
}

pub struct BiosQa {
    pub variants: Vec<VariantAccuracy>,
}

impl Figure for BiosQa {
    fn size(&self) -> (u32, u32) {
        (260 + 90 * self.variants.len() as u32, 520)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        let count = self.variants.len();
        let mut chart = ChartBuilder::on(area)
            .caption("QA accuracy on P_test people (exact match)", (FONT, 20))
            .margin(12)
            .x_label_area_size(70)
            .y_label_area_size(55)
            .build_cartesian_2d(-0.5..count as f64 - 0.5, 0.0..118.0)
            .map_err(drawing)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            // plotters draws a label on one line: the variants' names are written below the
            // axis instead, one `+` part per line
            .x_labels(0)
            .y_desc("accuracy (%)")
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 14))
            .draw()
            .map_err(drawing)?;
        let width = 0.8 / ATTRIBUTES.len() as f64;
        for (a, attribute) in ATTRIBUTES.iter().enumerate() {
            let colour = ATTRIBUTE_COLOURS[a];
            let bars = self.variants.iter().enumerate().map(|(v, variant)| {
                let x0 = v as f64 - 0.4 + a as f64 * width;
                Rectangle::new(
                    [(x0, 0.0), (x0 + width * 0.9, 100.0 * variant.accuracy[a])],
                    colour.filled(),
                )
            });
            chart
                .draw_series(bars)
                .map_err(drawing)?
                .label(attribute.replace('_', " "))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled())
                });
        }
        chart
            .draw_series(self.variants.iter().enumerate().map(|(v, variant)| {
                let mean = 100.0 * variant.mean();
                PathElement::new(
                    vec![(v as f64 - 0.42, mean), (v as f64 + 0.42, mean)],
                    BLACK.stroke_width(2),
                )
            }))
            .map_err(drawing)?
            .label("mean of the six")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 12, y)], BLACK.stroke_width(2)));
        let base = area.get_base_pixel();
        for (v, variant) in self.variants.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(v as f64, 0.0));
            for (line, part) in variant_label_lines(&variant.variant).iter().enumerate() {
                area.draw(&Text::new(
                    part.clone(),
                    (x - base.0, y - base.1 + 8 + 15 * line as i32),
                    (FONT, 12)
                        .into_font()
                        .color(&BLACK)
                        .pos(Pos::new(HPos::Center, VPos::Top)),
                ))
                .map_err(drawing)?;
            }
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    }

    fn table(&self) -> String {
        let mut text = String::from(
            "# QA accuracy per knowledge augmentation (Physics of LMs 3.1, Figure 3)\n\n\
             Exact match (%) of greedy answers to the questions about P_test people, after \
             pretraining on the variant's biographies and finetuning on P_train's QA.\n\n",
        );
        let _ = writeln!(
            text,
            "| variant | {} | mean | answers |\n|---|{}---:|---:|",
            ATTRIBUTES.join(" | "),
            "---:|".repeat(ATTRIBUTES.len())
        );
        for variant in &self.variants {
            let cells: Vec<String> = variant
                .accuracy
                .iter()
                .map(|a| format!("{:.1}", 100.0 * a))
                .collect();
            let _ = writeln!(
                text,
                "| {} | {} | {:.1} | {} |",
                variant.variant,
                cells.join(" | "),
                100.0 * variant.mean(),
                variant.answers.iter().sum::<usize>()
            );
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_labels_break_before_each_plus() {
        assert_eq!(
            variant_label_lines("multi5+permute+fullname"),
            ["multi5", "+permute", "+fullname"]
        );
        assert_eq!(variant_label_lines("single"), ["single"]);
    }
}
