//! Physics of LMs 3.1 Figure 6 in miniature: Q-probe accuracy (an attribute read linearly from
//! the hidden state at the end of the name alone) beside QA accuracy, per attribute and variant.
//! The paper's point is that they go together: a model answers questions about an attribute
//! when the attribute is already stored at the name.

use std::fmt::Write as _;

use anyhow::{bail, Result};
use factlab_artifacts::{LinearProbeRow, ATTRIBUTES};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::bios_qa::{attribute_tick, VariantAccuracy};
use crate::canvas::{drawing, Figure, FONT};
use crate::figures::legend;

const Q_POSITION: &str = "name_end";
const Q_COLOUR: RGBColor = RGBColor(31, 119, 180);
const QA_COLOUR: RGBColor = RGBColor(255, 127, 14);
const CEILING_COLOUR: RGBColor = RGBColor(150, 150, 150);

/// One variant's Q-probes at its deepest layer, beside its QA accuracy.
pub struct VariantQProbes {
    pub layer: u32,
    /// Q-probe accuracy, the majority-label baseline and the ceiling (the share of P_test
    /// whose label P_train has) per attribute, in `ATTRIBUTES` order.
    pub accuracy: [f64; 6],
    pub baseline: [f64; 6],
    pub ceiling: [f64; 6],
    pub qa: VariantAccuracy,
}

impl VariantQProbes {
    /// `rows` are `fit linear-probe`'s rows of the Q-probe run; `origin` names their file.
    pub fn new(rows: &[LinearProbeRow], qa: VariantAccuracy, origin: &str) -> Result<Self> {
        let q_rows = || rows.iter().filter(|r| r.position == Q_POSITION);
        let Some(layer) = q_rows().map(|r| r.layer).max() else {
            bail!("{origin}: no Q-probing rows (position `{Q_POSITION}`); expected the table of `fit linear-probe` on `probe hidden --people`");
        };
        let mut accuracy = [f64::NAN; 6];
        let mut baseline = [f64::NAN; 6];
        let mut ceiling = [f64::NAN; 6];
        for row in q_rows().filter(|r| r.layer == layer) {
            if let Some(a) = ATTRIBUTES.iter().position(|a| *a == row.task) {
                accuracy[a] = row.accuracy;
                baseline[a] = row.baseline;
                ceiling[a] = row.ceiling;
            }
        }
        if let Some(a) = accuracy.iter().position(|a| a.is_nan()) {
            bail!(
                "{origin}: no Q-probe row for `{}` at layer {layer}; expected all six attributes",
                ATTRIBUTES[a]
            );
        }
        Ok(VariantQProbes {
            layer,
            accuracy,
            baseline,
            ceiling,
            qa,
        })
    }
}

pub struct QProbeQa {
    pub variants: Vec<VariantQProbes>,
}

impl Figure for QProbeQa {
    fn size(&self) -> (u32, u32) {
        (480 * self.variants.len().max(1) as u32, 440)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        let attributes = ATTRIBUTES.len();
        for (part, variant) in area
            .split_evenly((1, self.variants.len().max(1)))
            .iter()
            .zip(&self.variants)
        {
            let mut chart = ChartBuilder::on(part)
                .caption(
                    format!("{}: Q-probe and QA", variant.qa.variant),
                    (FONT, 17),
                )
                .margin(10)
                .x_label_area_size(55)
                .y_label_area_size(50)
                .build_cartesian_2d(-0.5..attributes as f64 - 0.5, 0.0..112.0)
                .map_err(drawing)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(attributes)
                .x_label_formatter(&attribute_tick)
                .y_desc("accuracy on P_test people (%)")
                .label_style((FONT, 11))
                .axis_desc_style((FONT, 13))
                .draw()
                .map_err(drawing)?;
            let series = [
                (
                    format!("Q-probe (layer {})", variant.layer),
                    Q_COLOUR,
                    variant.accuracy,
                ),
                ("QA exact match".to_string(), QA_COLOUR, variant.qa.accuracy),
            ];
            for (s, (label, colour, values)) in series.into_iter().enumerate() {
                let bars = values.into_iter().enumerate().map(move |(a, value)| {
                    let x0 = a as f64 - 0.4 + s as f64 * 0.4;
                    Rectangle::new([(x0, 0.0), (x0 + 0.36, 100.0 * value)], colour.filled())
                });
                chart
                    .draw_series(bars)
                    .map_err(drawing)?
                    .label(label)
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled())
                    });
            }
            // What a Q-probe that learned nothing scores (the majority label's share), and the
            // most one can score (the share of P_test whose label P_train has).
            for (label, colour, values) in [
                ("Q-probe baseline (majority label)", BLACK, variant.baseline),
                (
                    "Q-probe ceiling (label seen in P_train)",
                    CEILING_COLOUR,
                    variant.ceiling,
                ),
            ] {
                let marks = values.into_iter().enumerate().map(move |(a, v)| {
                    PathElement::new(
                        vec![(a as f64 - 0.42, 100.0 * v), (a as f64 + 0.02, 100.0 * v)],
                        colour.stroke_width(2),
                    )
                });
                chart
                    .draw_series(marks)
                    .map_err(drawing)?
                    .label(label)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 14, y)], colour.stroke_width(2))
                    });
            }
            legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        }
        Ok(())
    }

    fn table(&self) -> String {
        let mut text = String::from(
            "# Q-probe against QA accuracy (Physics of LMs 3.1, Figure 6)\n\nPer attribute: \
             accuracy (%) on P_test people of a linear probe on the hidden state at the end of \
             the name alone (baseline: the majority label's share; ceiling: the share of P_test \
             people whose label occurs among P_train's, the most a probe can score), and the \
             exact-match QA accuracy of the finetuned model.\n",
        );
        for variant in &self.variants {
            let _ = write!(
                text,
                "\n## {} (Q-probe layer {})\n\n| attribute | Q-probe | baseline | ceiling | QA |\n\
                 |---|---:|---:|---:|---:|\n",
                variant.qa.variant, variant.layer
            );
            for (a, attribute) in ATTRIBUTES.iter().enumerate() {
                let _ = writeln!(
                    text,
                    "| {attribute} | {:.1} | {:.1} | {:.1} | {:.1} |",
                    100.0 * variant.accuracy[a],
                    100.0 * variant.baseline[a],
                    100.0 * variant.ceiling[a],
                    100.0 * variant.qa.accuracy[a]
                );
            }
        }
        text
    }
}
