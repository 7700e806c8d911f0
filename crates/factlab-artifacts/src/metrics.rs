//! The tables `fit` writes and `plot` reads (Chang et al. 2024 §4).

use crate::flat::flat_artifact;

flat_artifact! {
    /// Mean effectivity of one scenario × probe kind in one run, with a bootstrap interval.
    EffectivityRow = "effectivity" {
        run_id: String,
        scenario: String,
        kind: String,
        mean: f64,
        ci_low: f64,
        ci_high: f64,
        probes: u32,
        injections: u32,
        lam_at_window_end: f64,
        first_token_mean: f64,
        first_token_ci_low: f64,
        first_token_ci_high: f64,
        control_mean: f64,
        control_ci_low: f64,
        control_ci_high: f64,
        control_probes: u32,
        net_mean: f64,
        net_ci_low: f64,
        net_ci_high: f64,
        first_token_net_mean: f64,
        first_token_net_ci_low: f64,
        first_token_net_ci_high: f64,
        specificity_mean: Option<f64>,
        specificity_ci_low: Option<f64>,
        specificity_ci_high: Option<f64>,
        specificity_net_mean: Option<f64>,
        specificity_net_ci_low: Option<f64>,
        specificity_net_ci_high: Option<f64>,
    }
}

flat_artifact! {
    /// Mean retainability R(t) after the last injection's local acquisition maximum.
    RetentionRow = "retention" {
        run_id: String,
        scenario: String,
        kind: String,
        t: u32,
        mean: f64,
        probes: u32,
    }
}

flat_artifact! {
    /// Least-squares fit of mean R against log10 t: the decay constant and where R reaches 0.
    DecayRow = "decay" {
        run_id: String,
        scenario: String,
        kind: String,
        a: f64,
        a_stderr: f64,
        a_ci_low: f64,
        a_ci_high: f64,
        intercept: f64,
        r_squared: f64,
        x_intercept_log10_steps: f64,
        x_intercept_log10_steps_ci_low: f64,
        x_intercept_log10_steps_ci_high: f64,
        x_intercept_log10_tokens: f64,
        tokens_per_step: f64,
        points: u32,
    }
}

flat_artifact! {
    /// One paragraph-bootstrap draw of one run × scenario × kind: every estimate `fit` reports,
    /// recomputed on the same resample of paragraphs (draw `draw` resamples alike in every group
    /// of one fit, so differences taken draw by draw are paired).
    DrawRow = "draws" {
        run_id: String,
        scenario: String,
        kind: String,
        draw: u32,
        effectivity: f64,
        control: Option<f64>,
        net: Option<f64>,
        first_token_net: Option<f64>,
        specificity_net: Option<f64>,
        decay_a: Option<f64>,
        x_intercept_log10_steps: Option<f64>,
    }
}

flat_artifact! {
    /// Mean Δℓ = ℓ(t) − ℓ(first evaluation) per scenario × kind at every evaluated step.
    TrajectoryRow = "trajectory" {
        run_id: String,
        scenario: String,
        kind: String,
        step: u32,
        mean_delta: f64,
        probes: u32,
    }
}

impl TrajectoryRow {
    /// The `scenario` of the rows of never-injected paragraphs' probes; no injection schedule
    /// may use it, so those rows are never mistaken for a scenario's.
    pub const CONTROL_SCENARIO: &'static str = "control";
}

flat_artifact! {
    /// Accuracy of one linear probe (Physics of LMs 3.1 §6): a classifier on the frozen hidden
    /// states of one layer at one position, predicting one attribute, trained on P_train people
    /// and tested on P_test people.
    LinearProbeRow = "linear-probe" {
        layer: u32,
        /// The hidden file's position label: the attribute whose value follows, `index:K` or
        /// `name_end`.
        position: String,
        /// The attribute predicted; `birth_date` is predicted by its month.
        task: String,
        train_examples: u32,
        test_examples: u32,
        /// Distinct labels among the training examples.
        classes: u32,
        accuracy: f64,
        /// Accuracy of always answering the training set's most common label.
        baseline: f64,
        /// Share of test examples whose label occurs among the training labels: the most any
        /// classifier over those labels can score.
        ceiling: f64,
        /// The ridge penalty λ the probe was fitted with (chosen on the validation people
        /// when several were offered).
        ridge: f64,
    }
}

flat_artifact! {
    /// Multiple-choice accuracy of one condition (a model, or a served model in context) on one
    /// test split (Lampinen et al. 2025): the share of questions whose highest-likelihood option
    /// is a right one.
    ChoiceAccuracyRow = "choice-accuracy" {
        /// What was scored, e.g. `pretrained`, `finetuned`, `icl`, `augmented`.
        condition: String,
        split: String,
        questions: u32,
        accuracy: f64,
        /// Wilson score 95 % interval of `accuracy` over the split's questions: lower bound.
        low: f64,
        /// Its upper bound.
        high: f64,
        subsets: u32,
        /// Mean over the questions of 1 / options: what guessing scores.
        chance: f64,
    }
}
