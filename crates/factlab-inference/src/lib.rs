//! Intervals and verdicts from bootstrap draws, shared by `fit` (which draws) and `plot findings`
//! (which judges).
//!
//! - [`Resampled`]: an estimate with its draws; estimates of one fit share their resamples draw
//!   by draw, so differences are paired.
//! - [`expansion_factor`]: the small-sample correction that stretches percentile draws to the
//!   width of a t interval.
//! - [`across_seeds`]: seeds first, then paragraphs within them.
//! - [`rule`]: the decision rule of `docs/fidelity.md`, calibrated by simulation (fit's tests).
//! - [`findings`]: the findings of Chang et al. 2024 Figure 3 and Table 2 that `plot findings`
//!   judges, and the check that the rise is specific to the injected paragraph.

mod draws;
pub mod findings;
mod quantiles;
pub mod rule;

pub use draws::{across_seeds, quantile, Resampled};
pub use quantiles::{expansion_factor, normal_quantile, student_t_quantile};
