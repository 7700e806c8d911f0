//! Figure 3: average effectivity per scenario × probe kind, one bar per run.
//!
//! When `fit` found a never-injected control, the filled bar is the net effectivity (E minus
//! the control's rise at the same steps) with its 95 % whiskers, and an outline shows the raw
//! effectivity, so the gap between the two is the part of the rise that any probe shows. Without
//! a control the filled bar is the raw effectivity.

use std::fmt::Write as _;

use anyhow::Result;
use factlab_artifacts::{EffectivityRow, ProbeKind};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::canvas::{drawing, Figure, FONT, RUN_COLOURS};
use crate::figures::{legend, scenario_order, KIND_SHORT};

pub struct EffectivityPanel {
    pub title: String,
    pub runs: Vec<String>,
}

pub struct Fig3 {
    pub panels: Vec<EffectivityPanel>,
    pub rows: Vec<EffectivityRow>,
}

/// What a bar shows: its height and whiskers, and the raw effectivity drawn as an outline.
struct Bar {
    value: f64,
    ci: (f64, f64),
    outline: Option<f64>,
}

impl Fig3 {
    fn scenarios(&self) -> Vec<String> {
        scenario_order(self.rows.iter().map(|r| r.scenario.as_str()))
    }

    fn row(&self, run: &str, scenario: &str, kind: &str) -> Option<&EffectivityRow> {
        self.rows
            .iter()
            .find(|r| r.run_id == run && r.scenario == scenario && r.kind == kind)
    }

    fn shown(&self, panel: &EffectivityPanel) -> Vec<&EffectivityRow> {
        self.rows
            .iter()
            .filter(|r| panel.runs.contains(&r.run_id))
            .collect()
    }

    /// Net bars when every row shown has a control.
    fn net(&self) -> bool {
        self.panels
            .iter()
            .flat_map(|p| self.shown(p))
            .all(|r| r.control_probes > 0 && r.net_mean.is_finite())
    }

    fn bar(&self, row: &EffectivityRow) -> Bar {
        if self.net() {
            Bar {
                value: row.net_mean,
                ci: (row.net_ci_low, row.net_ci_high),
                outline: Some(row.mean),
            }
        } else {
            Bar {
                value: row.mean,
                ci: (row.ci_low, row.ci_high),
                outline: None,
            }
        }
    }

    fn draw_panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        panel: &EffectivityPanel,
    ) -> Result<()> {
        let scenarios = self.scenarios();
        let bars: Vec<Bar> = self.shown(panel).into_iter().map(|r| self.bar(r)).collect();
        let values = || {
            bars.iter()
                .flat_map(|b| [b.value, b.ci.0, b.ci.1, b.outline.unwrap_or(0.0)])
        };
        let low = values().fold(0.0, f64::min);
        let high = values().fold(0.0, f64::max);
        let top = high + 0.45 * (high - low).max(1e-3);
        let categories = scenarios.len() * 3;
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, (FONT, 20))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5..categories as f64 - 0.5, low..top)
            .map_err(drawing)?;
        let y_desc = if self.net() {
            "net effectivity (Δℓ − control, nats/token)"
        } else {
            "effectivity (Δℓ, nats/token)"
        };
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .disable_x_mesh()
            .x_labels(categories)
            .x_label_formatter(&|x| {
                let nearest = x.round();
                if (x - nearest).abs() < 1e-6 && nearest >= 0.0 {
                    KIND_SHORT[nearest as usize % 3].to_string()
                } else {
                    String::new()
                }
            })
            .y_desc(y_desc)
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .draw()
            .map_err(drawing)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(-0.5, 0.0), (categories as f64 - 0.5, 0.0)],
                BLACK.mix(0.6).stroke_width(1),
            )))
            .map_err(drawing)?;
        for (s, scenario) in scenarios.iter().enumerate() {
            let centre = s as f64 * 3.0 + 1.0;
            chart
                .draw_series(std::iter::once(Text::new(
                    scenario.clone(),
                    (
                        centre - 0.05 * scenario.len() as f64,
                        high + 0.1 * (high - low).max(1e-3),
                    ),
                    (FONT, 15),
                )))
                .map_err(drawing)?;
        }
        let width = 0.8 / panel.runs.len() as f64;
        for (r, run) in panel.runs.iter().enumerate() {
            let colour = RUN_COLOURS[r % RUN_COLOURS.len()];
            let mut filled = Vec::new();
            let mut outlines = Vec::new();
            let mut whiskers = Vec::new();
            for (s, scenario) in scenarios.iter().enumerate() {
                for (k, kind) in ProbeKind::ALL.iter().enumerate() {
                    let Some(row) = self.row(run, scenario, kind.as_str()) else {
                        continue;
                    };
                    let bar = self.bar(row);
                    let x0 = (s * 3 + k) as f64 - 0.4 + r as f64 * width;
                    let x1 = x0 + width * 0.92;
                    let centre = x0 + width / 2.0;
                    filled.push(Rectangle::new(
                        [(x0, 0.0), (x1, bar.value)],
                        colour.filled(),
                    ));
                    if let Some(raw) = bar.outline {
                        outlines.push(Rectangle::new(
                            [(x0, 0.0), (x1, raw)],
                            colour.stroke_width(1),
                        ));
                    }
                    let (lo, hi) = bar.ci;
                    whiskers.push(PathElement::new(
                        vec![(centre, lo), (centre, hi)],
                        BLACK.stroke_width(1),
                    ));
                    for y in [lo, hi] {
                        whiskers.push(PathElement::new(
                            vec![(centre - width * 0.2, y), (centre + width * 0.2, y)],
                            BLACK.stroke_width(1),
                        ));
                    }
                }
            }
            chart
                .draw_series(filled)
                .map_err(drawing)?
                .label(run.clone())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled())
                });
            chart.draw_series(outlines).map_err(drawing)?;
            chart.draw_series(whiskers).map_err(drawing)?;
        }
        if self.net() {
            chart
                .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())
                .map_err(drawing)?
                .label("outline: raw (with control's rise)")
                .legend(|(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], BLACK.stroke_width(1))
                });
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    }
}

impl Figure for Fig3 {
    fn size(&self) -> (u32, u32) {
        (620 * self.panels.len() as u32, 460)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        let parts = area.split_evenly((1, self.panels.len()));
        for (part, panel) in parts.iter().zip(&self.panels) {
            self.draw_panel(part, panel)?;
        }
        Ok(())
    }

    fn table(&self) -> String {
        let mut md = String::from(
            "# Figure 3: average effectivity\n\nMean gain in ℓ (nats per token) from an injection to its local acquisition maximum; \"control\": the same gain of never-injected paragraphs' probes at the same steps; \"net\" = effectivity − control (the figure's bars when a control exists). 95 % paragraph-bootstrap intervals (paragraphs resampled with all their probes, within each scenario and within the control; see `fit --help`). \"First token\": net effectivity on the target's first token.\n\n| panel | run | scenario | kind | effectivity | 95 % CI | control | net | 95 % CI | first token net | 95 % CI | probes | control probes |\n|---|---|---|---|---:|---|---:|---:|---|---:|---|---:|---:|\n",
        );
        for panel in &self.panels {
            for run in &panel.runs {
                for scenario in self.scenarios() {
                    for kind in ProbeKind::ALL {
                        if let Some(r) = self.row(run, &scenario, kind.as_str()) {
                            let _ = writeln!(
                                md,
                                "| {} | {} | {} | {} | {:.4} | [{:.4}, {:.4}] | {:.4} | {:.4} | [{:.4}, {:.4}] | {:.4} | [{:.4}, {:.4}] | {} | {} |",
                                panel.title,
                                run,
                                scenario,
                                r.kind,
                                r.mean,
                                r.ci_low,
                                r.ci_high,
                                r.control_mean,
                                r.net_mean,
                                r.net_ci_low,
                                r.net_ci_high,
                                r.first_token_net_mean,
                                r.first_token_net_ci_low,
                                r.first_token_net_ci_high,
                                r.probes,
                                r.control_probes
                            );
                        }
                    }
                }
            }
        }
        md
    }
}
