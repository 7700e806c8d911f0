//! Linear probes on frozen hidden states (Physics of LMs 3.1 §6): for every layer × position of
//! `probe hidden`'s output and every attribute, a linear classifier fitted on P_train people's
//! hidden states and scored on P_test people's.
//!
//! The classifier is ridge regression onto one-hot labels, solved in closed form: features
//! standardised with the training mean and deviation, a bias, `(XᵀX/n + λI) W = XᵀY/n`, and the
//! predicted label is the largest score. The paper trains a softmax probe by gradient descent
//! (with a rank-2 update of the embedding); a closed-form linear probe needs no learning-rate or
//! step count, is deterministic to the bit, and one factorisation serves all six attributes.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use factlab_artifacts::outputs::check_made_from;
use factlab_artifacts::{
    read_hidden, read_rows, write_atomic, write_rows, Artifact, BioEntry, HiddenState,
    LinearProbeRow, Person, ATTRIBUTES,
};

pub struct LinearProbeOptions {
    pub hidden: PathBuf,
    pub people: PathBuf,
    /// λ of the ridge penalty on standardised features.
    pub ridge: f64,
    pub output: PathBuf,
}

pub const LINEAR_PROBE_FILE: &str = "linear-probe.parquet";
pub const LINEAR_PROBE_TABLE: &str = "linear-probe.md";

/// Fits every probe, writes `linear-probe.parquet` and `linear-probe.md` into the output folder.
pub fn run_linear_probes(options: &LinearProbeOptions) -> Result<Vec<LinearProbeRow>> {
    if !(options.ridge.is_finite() && options.ridge > 0.0) {
        bail!("--ridge is {}; expected a positive number", options.ridge);
    }
    check_made_from(&options.hidden, BioEntry::NAME, &options.people)?;
    let people: HashMap<u32, Person> = read_rows::<Person>(&options.people)?
        .into_iter()
        .map(|p| (p.person_id, p))
        .collect();
    let states = read_hidden(&options.hidden)?;
    let mut groups: BTreeMap<(u32, String), Vec<&HiddenState>> = BTreeMap::new();
    for state in &states {
        if !people.contains_key(&state.person_id) {
            bail!(
                "{}: person {} is not in {}; were the two made from the same `gen-facts bios` run?",
                options.hidden.display(),
                state.person_id,
                options.people.display()
            );
        }
        groups
            .entry((state.layer, state.position.clone()))
            .or_default()
            .push(state);
    }
    let mut rows = Vec::new();
    for ((layer, position), states) in &groups {
        let (train, test): (Vec<&HiddenState>, Vec<&HiddenState>) = states
            .iter()
            .partition(|s| people[&s.person_id].split == "train");
        if train.is_empty() || test.is_empty() {
            bail!(
                "{}: layer {layer}, position {position} has {} P_train and {} P_test states; a probe needs both",
                options.hidden.display(),
                train.len(),
                test.len()
            );
        }
        let probe = RidgeProbe::fit(&train, options.ridge)
            .with_context(|| format!("layer {layer}, position {position}"))?;
        for (index, task) in ATTRIBUTES.iter().enumerate() {
            let label = |s: &HiddenState| task_label(&people[&s.person_id], index);
            let (accuracy, baseline, classes) = probe.score(&train, &test, label);
            rows.push(LinearProbeRow {
                layer: *layer,
                position: position.clone(),
                task: task.to_string(),
                train_examples: train.len() as u32,
                test_examples: test.len() as u32,
                classes: classes as u32,
                accuracy,
                baseline,
            });
        }
    }
    std::fs::create_dir_all(&options.output)
        .with_context(|| format!("creating {}", options.output.display()))?;
    write_rows(&options.output.join(LINEAR_PROBE_FILE), &rows)?;
    write_atomic(
        &options.output.join(LINEAR_PROBE_TABLE),
        table(&rows).as_bytes(),
    )?;
    Ok(rows)
}

/// The label a probe predicts: the month for birth dates ("March 7, 1952" or "7 of March,
/// 1952": the word that names a month), the whole value for the others.
fn task_label(person: &Person, attribute: usize) -> String {
    let value = person.values()[attribute];
    if ATTRIBUTES[attribute] == "birth_date" {
        if let Some(month) = value
            .split([' ', ','])
            .find(|w| w.chars().next().is_some_and(char::is_alphabetic) && *w != "of")
        {
            return month.to_string();
        }
    }
    value.to_string()
}

/// Standardisation and the Cholesky factor of `XᵀX/n + λI` over the training states.
struct RidgeProbe {
    mean: Vec<f64>,
    scale: Vec<f64>,
    /// Lower-triangular factor L of the (width + 1)² system, bias last.
    factor: Vec<f64>,
    width: usize,
}

impl RidgeProbe {
    fn fit(train: &[&HiddenState], ridge: f64) -> Result<Self> {
        let width = train[0].vector.len();
        if let Some(odd) = train.iter().find(|s| s.vector.len() != width) {
            bail!(
                "hidden states of person {} have {} floats, others {width}",
                odd.person_id,
                odd.vector.len()
            );
        }
        let n = train.len() as f64;
        let mut mean = vec![0.0; width];
        for state in train {
            for (m, &x) in mean.iter_mut().zip(&state.vector) {
                *m += f64::from(x) / n;
            }
        }
        let mut scale = vec![0.0; width];
        for state in train {
            for ((s, &x), m) in scale.iter_mut().zip(&state.vector).zip(&mean) {
                *s += (f64::from(x) - m).powi(2) / n;
            }
        }
        for s in &mut scale {
            *s = 1.0 / s.sqrt().max(1e-6);
        }
        let mut probe = RidgeProbe {
            mean,
            scale,
            factor: Vec::new(),
            width,
        };
        let size = width + 1;
        let mut gram = vec![0.0; size * size];
        for state in train {
            let x = probe.features(state);
            for i in 0..size {
                for j in 0..=i {
                    gram[i * size + j] += x[i] * x[j] / n;
                }
            }
        }
        for i in 0..width {
            gram[i * size + i] += ridge;
        }
        probe.factor = cholesky(gram, size).context("the ridge system is not positive definite")?;
        Ok(probe)
    }

    /// The standardised vector with the bias feature appended.
    fn features(&self, state: &HiddenState) -> Vec<f64> {
        state
            .vector
            .iter()
            .zip(&self.mean)
            .zip(&self.scale)
            .map(|((&x, m), s)| (f64::from(x) - m) * s)
            .chain(std::iter::once(1.0))
            .collect()
    }

    /// Fits the weights for `label` and returns (test accuracy, majority baseline, classes).
    fn score(
        &self,
        train: &[&HiddenState],
        test: &[&HiddenState],
        label: impl Fn(&HiddenState) -> String,
    ) -> (f64, f64, usize) {
        let size = self.width + 1;
        let mut classes: BTreeMap<String, usize> = BTreeMap::new();
        let mut counts: Vec<usize> = Vec::new();
        let train_labels: Vec<usize> = train
            .iter()
            .map(|s| {
                let next = classes.len();
                let class = *classes.entry(label(s)).or_insert(next);
                if class == counts.len() {
                    counts.push(0);
                }
                counts[class] += 1;
                class
            })
            .collect();
        let n = train.len() as f64;
        // Column c of XᵀY/n is the sum of class c's feature vectors over n.
        let mut weights = vec![vec![0.0; size]; classes.len()];
        for (state, &class) in train.iter().zip(&train_labels) {
            for (w, x) in weights[class].iter_mut().zip(self.features(state)) {
                *w += x / n;
            }
        }
        for column in &mut weights {
            solve(&self.factor, size, column);
        }
        let majority = (0..counts.len())
            .max_by_key(|&c| (counts[c], std::cmp::Reverse(c)))
            .expect("a probe has training examples");
        let (mut right, mut baseline) = (0usize, 0usize);
        for state in test {
            let truth = classes.get(&label(state)).copied();
            let x = self.features(state);
            let scores = weights
                .iter()
                .map(|w| w.iter().zip(&x).map(|(a, b)| a * b).sum::<f64>());
            let best = scores
                .enumerate()
                .fold((usize::MAX, f64::NEG_INFINITY), |best, (c, score)| {
                    if score > best.1 {
                        (c, score)
                    } else {
                        best
                    }
                })
                .0;
            right += usize::from(truth == Some(best));
            baseline += usize::from(truth == Some(majority));
        }
        let total = test.len() as f64;
        (right as f64 / total, baseline as f64 / total, classes.len())
    }
}

/// Cholesky factorisation of a symmetric positive definite matrix given by its lower triangle.
fn cholesky(mut a: Vec<f64>, size: usize) -> Option<Vec<f64>> {
    for j in 0..size {
        let diagonal = a[j * size + j] - (0..j).map(|k| a[j * size + k].powi(2)).sum::<f64>();
        if diagonal <= 0.0 || !diagonal.is_finite() {
            return None;
        }
        let pivot = diagonal.sqrt();
        a[j * size + j] = pivot;
        for i in j + 1..size {
            let dot: f64 = (0..j).map(|k| a[i * size + k] * a[j * size + k]).sum();
            a[i * size + j] = (a[i * size + j] - dot) / pivot;
        }
    }
    Some(a)
}

/// Solves `L Lᵀ x = b` in place.
fn solve(factor: &[f64], size: usize, b: &mut [f64]) {
    for i in 0..size {
        let dot: f64 = (0..i).map(|k| factor[i * size + k] * b[k]).sum();
        b[i] = (b[i] - dot) / factor[i * size + i];
    }
    for i in (0..size).rev() {
        let dot: f64 = (i + 1..size).map(|k| factor[k * size + i] * b[k]).sum();
        b[i] = (b[i] - dot) / factor[i * size + i];
    }
}

/// Accuracy per position (rows) and attribute (columns), one table per layer, in percent.
fn table(rows: &[LinearProbeRow]) -> String {
    let mut text = String::from(
        "# Linear probes on frozen hidden states\n\nAccuracy on P_test people (%) of a linear \
         classifier fitted on P_train people's hidden states; in brackets, the majority baseline. \
         Positions: the token just before each attribute's value (P-probing), or the end of the \
         name (Q-probing). birth_date is predicted by its month.\n",
    );
    let mut layers: BTreeMap<u32, Vec<&LinearProbeRow>> = BTreeMap::new();
    for row in rows {
        layers.entry(row.layer).or_default().push(row);
    }
    for (layer, rows) in layers {
        text.push_str(&format!(
            "\n## Layer {layer}\n\n| position | {} |\n|---|{}\n",
            ATTRIBUTES.join(" | "),
            "---:|".repeat(ATTRIBUTES.len())
        ));
        let mut positions: Vec<&str> = Vec::new();
        for row in &rows {
            if !positions.contains(&row.position.as_str()) {
                positions.push(&row.position);
            }
        }
        positions.sort_by_key(|p| ATTRIBUTES.iter().position(|a| a == p).unwrap_or(usize::MAX));
        for position in positions {
            let cells: Vec<String> = ATTRIBUTES
                .iter()
                .map(|task| {
                    rows.iter()
                        .find(|r| r.position == position && r.task == *task)
                        .map_or("–".into(), |r| {
                            format!("{:.1} ({:.1})", 100.0 * r.accuracy, 100.0 * r.baseline)
                        })
                })
                .collect();
            text.push_str(&format!("| {position} | {} |\n", cells.join(" | ")));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(person_id: u32, vector: Vec<f32>) -> HiddenState {
        HiddenState {
            person_id,
            entry: 0,
            position: "name_end".into(),
            token_index: 3,
            layer: 2,
            vector,
        }
    }

    #[test]
    fn cholesky_solves_a_known_system() {
        // [[4, 2], [2, 3]] x = [2, 5] has x = [-0.5, 2].
        let factor = cholesky(vec![4.0, 0.0, 2.0, 3.0], 2).unwrap();
        let mut b = vec![2.0, 5.0];
        solve(&factor, 2, &mut b);
        assert!(
            (b[0] + 0.5).abs() < 1e-12 && (b[1] - 2.0).abs() < 1e-12,
            "{b:?}"
        );
        assert!(cholesky(vec![1.0, 0.0, 2.0, 1.0], 2).is_none());
    }

    #[test]
    fn separable_classes_are_probed_and_noise_is_not() {
        // Three classes at the corners of a triangle in 4 dimensions (2 of them noise).
        let centre = |c: u32| match c {
            0 => [1.0, 0.0],
            1 => [0.0, 1.0],
            _ => [-1.0, -1.0],
        };
        let mut rng = factlab_rng::Rng::new(4);
        let mut make = |id: u32| {
            let [a, b] = centre(id % 3);
            let mut noise = || (rng.unit_f64() as f32 - 0.5) * 0.3;
            state(id, vec![a + noise(), b + noise(), noise(), noise()])
        };
        let train: Vec<HiddenState> = (0..60).map(&mut make).collect();
        let test: Vec<HiddenState> = (60..90).map(&mut make).collect();
        let train_refs: Vec<&HiddenState> = train.iter().collect();
        let test_refs: Vec<&HiddenState> = test.iter().collect();
        let probe = RidgeProbe::fit(&train_refs, 1e-3).unwrap();
        let (accuracy, baseline, classes) =
            probe.score(&train_refs, &test_refs, |s| (s.person_id % 3).to_string());
        assert_eq!(classes, 3);
        assert_eq!(accuracy, 1.0);
        assert!((baseline - 1.0 / 3.0).abs() < 1e-9);
        // The same labels shuffled across people: the features no longer tell them apart, so
        // the probe falls to about chance (1/3), far from the 100 % above.
        let mut shuffled: Vec<u32> = (0..90).map(|id| id % 3).collect();
        factlab_rng::Rng::new(9).shuffle(&mut shuffled);
        let (accuracy, _, _) = probe.score(&train_refs, &test_refs, |s| {
            shuffled[s.person_id as usize].to_string()
        });
        assert!(accuracy < 0.6, "{accuracy}");
    }

    #[test]
    fn birth_dates_are_probed_by_month() {
        let mut person = Person {
            person_id: 0,
            name: "A B C".into(),
            first_name: "A".into(),
            middle_name: "B".into(),
            last_name: "C".into(),
            birth_date: "March 7, 1952".into(),
            birth_city: "Austin, TX".into(),
            university: "Rice University".into(),
            major: "Physics".into(),
            employer: "Dell".into(),
            company_city: "Round Rock, TX".into(),
            pronoun: "she".into(),
            split: "train".into(),
            group: "all".into(),
        };
        assert_eq!(task_label(&person, 0), "March");
        person.birth_date = "7 of March, 1952".into();
        assert_eq!(task_label(&person, 0), "March");
        assert_eq!(task_label(&person, 5), "Round Rock, TX");
    }
}
