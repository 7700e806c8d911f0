//! Physics of LMs 3.1 Figure 5: P-probe accuracy at each position of a biography (the token just
//! before each attribute's value), one line per attribute predicted, one panel per variant.

use std::fmt::Write as _;

use anyhow::{bail, Result};
use factlab_artifacts::{LinearProbeRow, ATTRIBUTES};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::bios_qa::{attribute_tick, ATTRIBUTE_COLOURS};
use crate::canvas::{drawing, Figure, FONT};
use crate::figures::legend;

/// One variant's probes at its deepest layer.
pub struct VariantProbes {
    pub variant: String,
    pub rows: Vec<LinearProbeRow>,
}

impl VariantProbes {
    /// Keeps the P-probing rows (positions named by an attribute) of the deepest layer.
    pub fn new(variant: &str, rows: Vec<LinearProbeRow>, origin: &str) -> Result<Self> {
        let Some(layer) = rows
            .iter()
            .filter(|r| ATTRIBUTES.contains(&r.position.as_str()))
            .map(|r| r.layer)
            .max()
        else {
            bail!("{origin}: no P-probing rows (positions named by an attribute, e.g. `major`)");
        };
        Ok(VariantProbes {
            variant: variant.to_string(),
            rows: rows
                .into_iter()
                .filter(|r| r.layer == layer && ATTRIBUTES.contains(&r.position.as_str()))
                .collect(),
        })
    }

    fn row(&self, position: &str, task: &str) -> Option<&LinearProbeRow> {
        self.rows
            .iter()
            .find(|r| r.position == position && r.task == task)
    }
}

pub struct ProbePositions {
    pub variants: Vec<VariantProbes>,
}

impl Figure for ProbePositions {
    fn size(&self) -> (u32, u32) {
        (520 * self.variants.len().max(1) as u32, 440)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        let positions = ATTRIBUTES.len();
        for (part, variant) in area
            .split_evenly((1, self.variants.len().max(1)))
            .iter()
            .zip(&self.variants)
        {
            let mut chart = ChartBuilder::on(part)
                .caption(
                    format!(
                        "P-probes, {} (layer {})",
                        variant.variant, variant.rows[0].layer
                    ),
                    (FONT, 17),
                )
                .margin(10)
                .x_label_area_size(55)
                .y_label_area_size(50)
                .build_cartesian_2d(-0.3..positions as f64 - 0.7, 0.0..105.0)
                .map_err(drawing)?;
            chart
                .configure_mesh()
                .light_line_style(WHITE)
                .x_labels(positions)
                .x_label_formatter(&attribute_tick)
                .x_desc("probed at the token just before the value of")
                .y_desc("accuracy on P_test people (%)")
                .label_style((FONT, 11))
                .axis_desc_style((FONT, 13))
                .draw()
                .map_err(drawing)?;
            for (t, task) in ATTRIBUTES.iter().enumerate() {
                let colour = ATTRIBUTE_COLOURS[t];
                let points: Vec<(f64, f64)> = ATTRIBUTES
                    .iter()
                    .enumerate()
                    .filter_map(|(p, position)| {
                        variant
                            .row(position, task)
                            .map(|r| (p as f64, 100.0 * r.accuracy))
                    })
                    .collect();
                chart
                    .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
                    .map_err(drawing)?
                    .label(task.replace('_', " "))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 14, y)], colour.stroke_width(2))
                    });
                chart
                    .draw_series(
                        points
                            .into_iter()
                            .map(|p| Circle::new(p, 3, colour.filled())),
                    )
                    .map_err(drawing)?;
            }
            legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        }
        Ok(())
    }

    fn table(&self) -> String {
        let mut text = String::from(
            "# P-probe accuracy by position (Physics of LMs 3.1, Figure 5)\n\nAccuracy (%) on \
             P_test people of a linear probe on the hidden state at the token just before each \
             attribute's value (rows), predicting each attribute (columns); after ≤, its \
             ceiling: the share of P_test people whose label occurs among P_train's, the most a \
             probe can score.\n",
        );
        for variant in &self.variants {
            let _ = write!(
                text,
                "\n## {} (layer {})\n\n| position | {} |\n|---|{}\n",
                variant.variant,
                variant.rows[0].layer,
                ATTRIBUTES.join(" | "),
                "---:|".repeat(ATTRIBUTES.len())
            );
            for position in ATTRIBUTES {
                let cells: Vec<String> = ATTRIBUTES
                    .iter()
                    .map(|task| {
                        variant.row(position, task).map_or("–".into(), |r| {
                            format!("{:.1} (≤ {:.1})", 100.0 * r.accuracy, 100.0 * r.ceiling)
                        })
                    })
                    .collect();
                let _ = writeln!(text, "| before {position} | {} |", cells.join(" | "));
            }
        }
        text
    }
}
