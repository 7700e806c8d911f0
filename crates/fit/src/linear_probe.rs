//! Linear probes on frozen hidden states (Physics of LMs 3.1 §6): for every layer × position of
//! `probe hidden`'s output and every attribute, a linear classifier fitted on P_train people's
//! hidden states and scored on P_test people's.
//!
//! The classifier is ridge regression onto one-hot labels, solved in closed form: features
//! standardised with the training mean and deviation, a bias, `(XᵀX/n + λI) W = XᵀY/n`, and the
//! predicted label is the largest score. The paper trains a softmax probe by gradient descent
//! (with a rank-2 update of the embedding); a closed-form linear probe needs no learning-rate or
//! step count, is deterministic to the bit, and one factorisation serves all six attributes.
//!
//! λ is never chosen on P_test: given several, each probe is fitted with each on the `train`
//! people and scored on the `validation` people (`gen-facts bios --validation-fraction`), and the
//! best is refitted on both. Beside every accuracy stands its ceiling, the share of P_test whose
//! label occurs among the training labels: a probe can only answer labels it was fitted on, so
//! with few P_train people a low accuracy says little about what the hidden states encode.

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
    /// Candidate λ of the ridge penalty on standardised features; with more than one, each
    /// probe's is chosen on the validation people.
    pub ridges: Vec<f64>,
    pub output: PathBuf,
}

pub const LINEAR_PROBE_FILE: &str = "linear-probe.parquet";
pub const LINEAR_PROBE_TABLE: &str = "linear-probe.md";

/// One layer × position's hidden states by the split of their person.
#[derive(Default)]
struct Splits<'a> {
    train: Vec<&'a HiddenState>,
    validation: Vec<&'a HiddenState>,
    test: Vec<&'a HiddenState>,
}

/// Fits every probe, writes `linear-probe.parquet` and `linear-probe.md` into the output folder.
pub fn run_linear_probes(options: &LinearProbeOptions) -> Result<Vec<LinearProbeRow>> {
    if options.ridges.is_empty() {
        bail!("--ridge is empty; expected one or more positive numbers");
    }
    if let Some(bad) = options
        .ridges
        .iter()
        .find(|r| !(r.is_finite() && **r > 0.0))
    {
        bail!("--ridge has {bad}; expected positive numbers");
    }
    check_made_from(&options.hidden, BioEntry::NAME, &options.people)?;
    let people: HashMap<u32, Person> = read_rows::<Person>(&options.people)?
        .into_iter()
        .map(|p| (p.person_id, p))
        .collect();
    let states = read_hidden(&options.hidden)?;
    let mut groups: BTreeMap<(u32, String), Splits> = BTreeMap::new();
    for state in &states {
        let Some(person) = people.get(&state.person_id) else {
            bail!(
                "{}: person {} is not in {}; were the two made from the same `gen-facts bios` run?",
                options.hidden.display(),
                state.person_id,
                options.people.display()
            );
        };
        let splits = groups
            .entry((state.layer, state.position.clone()))
            .or_default();
        match person.split.as_str() {
            "train" => splits.train.push(state),
            "validation" => splits.validation.push(state),
            "test" => splits.test.push(state),
            other => bail!(
                "{}: person {} has split `{other}` (column `split`); expected train, validation or test",
                options.people.display(),
                state.person_id
            ),
        }
    }
    let mut rows = Vec::new();
    for ((layer, position), splits) in &groups {
        rows.extend(
            probe_group(*layer, position, splits, options, &people).with_context(|| {
                format!(
                    "{}: layer {layer}, position {position}",
                    options.hidden.display()
                )
            })?,
        );
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

/// The six attributes' probes at one layer and position: λ per attribute chosen on the
/// validation states (when there are several), then fitted on train and validation together.
fn probe_group(
    layer: u32,
    position: &str,
    splits: &Splits,
    options: &LinearProbeOptions,
    people: &HashMap<u32, Person>,
) -> Result<Vec<LinearProbeRow>> {
    if splits.train.is_empty() || splits.test.is_empty() {
        bail!(
            "{} train and {} test states; a probe needs both",
            splits.train.len(),
            splits.test.len()
        );
    }
    let label = |index: usize| move |s: &HiddenState| task_label(&people[&s.person_id], index);
    let chosen: Vec<f64> = match options.ridges.as_slice() {
        [only] => vec![*only; ATTRIBUTES.len()],
        _ if splits.validation.is_empty() => bail!(
            "--ridge offers {} values but no person has split `validation` to choose among them; \
             give one value, or people from `gen-facts bios --validation-fraction`",
            options.ridges.len()
        ),
        ridges => {
            let gram = Gram::new(&splits.train)?;
            // best[attribute] = (validation accuracy, λ); the larger λ wins ties.
            let mut best = vec![(f64::NEG_INFINITY, 0.0); ATTRIBUTES.len()];
            for &ridge in ridges {
                let probe = gram.probe(ridge)?;
                for (index, best) in best.iter_mut().enumerate() {
                    let accuracy = probe
                        .score(&splits.train, &splits.validation, label(index))
                        .accuracy;
                    if accuracy > best.0 || (accuracy == best.0 && ridge > best.1) {
                        *best = (accuracy, ridge);
                    }
                }
            }
            best.into_iter().map(|(_, ridge)| ridge).collect()
        }
    };
    let fitted: Vec<&HiddenState> = splits
        .train
        .iter()
        .chain(&splits.validation)
        .copied()
        .collect();
    let gram = Gram::new(&fitted)?;
    let mut probes: Vec<(f64, RidgeProbe)> = Vec::new();
    let mut rows = Vec::new();
    for (index, (task, &ridge)) in ATTRIBUTES.iter().zip(&chosen).enumerate() {
        if !probes.iter().any(|(r, _)| *r == ridge) {
            probes.push((ridge, gram.probe(ridge)?));
        }
        let probe = &probes
            .iter()
            .find(|(r, _)| *r == ridge)
            .expect("fitted above")
            .1;
        let scores = probe.score(&fitted, &splits.test, label(index));
        rows.push(LinearProbeRow {
            layer,
            position: position.to_string(),
            task: task.to_string(),
            train_examples: fitted.len() as u32,
            test_examples: splits.test.len() as u32,
            classes: scores.classes as u32,
            accuracy: scores.accuracy,
            baseline: scores.baseline,
            ceiling: scores.ceiling,
            ridge,
        });
    }
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

/// The training states' standardisation and `XᵀX/n` (bias last), shared by every λ.
struct Gram {
    mean: Vec<f64>,
    scale: Vec<f64>,
    /// Lower triangle of the (width + 1)² matrix.
    matrix: Vec<f64>,
    width: usize,
}

impl Gram {
    fn new(train: &[&HiddenState]) -> Result<Self> {
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
        let mut gram = Gram {
            mean,
            scale,
            matrix: Vec::new(),
            width,
        };
        let size = width + 1;
        let mut matrix = vec![0.0; size * size];
        for state in train {
            let x = gram.features(state);
            for i in 0..size {
                for j in 0..=i {
                    matrix[i * size + j] += x[i] * x[j] / n;
                }
            }
        }
        gram.matrix = matrix;
        Ok(gram)
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

    /// Factorises `XᵀX/n + λI` (the bias unpenalised).
    fn probe(&self, ridge: f64) -> Result<RidgeProbe<'_>> {
        let size = self.width + 1;
        let mut system = self.matrix.clone();
        for i in 0..self.width {
            system[i * size + i] += ridge;
        }
        let factor = cholesky(system, size).with_context(|| {
            format!("the ridge system with λ = {ridge} is not positive definite")
        })?;
        Ok(RidgeProbe { gram: self, factor })
    }
}

/// The Cholesky factor of one λ's system over the training states.
struct RidgeProbe<'a> {
    gram: &'a Gram,
    /// Lower-triangular factor L of the (width + 1)² system, bias last.
    factor: Vec<f64>,
}

/// What one probe scores on its test states.
struct Scores {
    accuracy: f64,
    /// Always answering the training set's most common label.
    baseline: f64,
    /// Share of test states whose label occurs in the training set.
    ceiling: f64,
    classes: usize,
}

impl RidgeProbe<'_> {
    /// Fits the weights for `label` on `train` (the states the Gram was made from) and scores
    /// them on `test`.
    fn score(
        &self,
        train: &[&HiddenState],
        test: &[&HiddenState],
        label: impl Fn(&HiddenState) -> String,
    ) -> Scores {
        let size = self.gram.width + 1;
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
            for (w, x) in weights[class].iter_mut().zip(self.gram.features(state)) {
                *w += x / n;
            }
        }
        for column in &mut weights {
            solve(&self.factor, size, column);
        }
        let majority = (0..counts.len())
            .max_by_key(|&c| (counts[c], std::cmp::Reverse(c)))
            .expect("a probe has training examples");
        let (mut right, mut baseline, mut seen) = (0usize, 0usize, 0usize);
        for state in test {
            let truth = classes.get(&label(state)).copied();
            let x = self.gram.features(state);
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
            seen += usize::from(truth.is_some());
        }
        let total = test.len() as f64;
        Scores {
            accuracy: right as f64 / total,
            baseline: baseline as f64 / total,
            ceiling: seen as f64 / total,
            classes: classes.len(),
        }
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

/// Accuracy per position (rows) and attribute (columns), one table per layer, in percent, each
/// beside its majority baseline and its ceiling.
fn table(rows: &[LinearProbeRow]) -> String {
    let mut text = String::from(
        "# Linear probes on frozen hidden states\n\nAccuracy on P_test people (%) of a linear \
         classifier fitted on P_train people's hidden states (its ridge penalty chosen on the \
         validation people held out of P_train); in brackets, the majority baseline and, after \
         ≤, the ceiling: the share of P_test people whose label occurs among P_train's, the \
         most a probe can score. Positions: the token just before each attribute's value \
         (P-probing), or the end of the name (Q-probing). birth_date is predicted by its \
         month.\n",
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
                            format!(
                                "{:.1} ({:.1}, ≤ {:.1})",
                                100.0 * r.accuracy,
                                100.0 * r.baseline,
                                100.0 * r.ceiling
                            )
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
        let gram = Gram::new(&train_refs).unwrap();
        let probe = gram.probe(1e-3).unwrap();
        let scores = probe.score(&train_refs, &test_refs, |s| (s.person_id % 3).to_string());
        assert_eq!(scores.classes, 3);
        assert_eq!(scores.accuracy, 1.0);
        assert_eq!(scores.ceiling, 1.0);
        assert!((scores.baseline - 1.0 / 3.0).abs() < 1e-9);
        // The same labels shuffled across people: the features no longer tell them apart, so
        // the probe falls to about chance (1/3), far from the 100 % above.
        let mut shuffled: Vec<u32> = (0..90).map(|id| id % 3).collect();
        factlab_rng::Rng::new(9).shuffle(&mut shuffled);
        let scores = probe.score(&train_refs, &test_refs, |s| {
            shuffled[s.person_id as usize].to_string()
        });
        assert!(scores.accuracy < 0.6, "{}", scores.accuracy);
        // A label no training person has: a tenth of the test people are out of reach.
        let scores = probe.score(&train_refs, &test_refs, |s| {
            if s.person_id % 10 == 0 && s.person_id >= 60 {
                "unseen".to_string()
            } else {
                (s.person_id % 3).to_string()
            }
        });
        assert!((scores.ceiling - 0.9).abs() < 1e-12, "{}", scores.ceiling);
        assert!((scores.accuracy - 0.9).abs() < 1e-12, "{}", scores.accuracy);
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
