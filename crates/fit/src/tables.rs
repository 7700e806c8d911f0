//! The table work of `fit` as polars lazy queries: the scored probes of every run, the injection
//! schedule per paragraph and per scenario, and the trajectory table.
//!
//! Means are never taken by polars: its grouped mean sums with Kahan compensation, which can
//! differ in the last bit from the plain left-to-right sum every other table uses. Groups are
//! collected as lists in probe id order instead and averaged by [`stats::mean`].

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Result};
use factlab_artifacts::{Injection, LogprobRow, TrajectoryRow};
use polars::prelude::*;

use crate::{stats, Group, ProbeSeries, Runs, Schedule};

/// The columns that name a group of probes, as the tables' rows are sorted.
pub(crate) const GROUP: [&str; 3] = ["run_id", "scenario", "kind"];

/// The injection schedule, per paragraph and per scenario.
pub(crate) struct Schedules {
    pub by_knowledge: BTreeMap<u32, Schedule>,
    /// Every injection step of each scenario, once per injected paragraph.
    pub by_scenario: BTreeMap<String, Vec<u32>>,
    /// `knowledge_id`, `scenario`: the paragraphs to join scored probes with.
    paragraphs: DataFrame,
}

/// The schedules of `injections`, with steps counted from `offset`; `origin` names the file in
/// errors.
pub(crate) fn schedules(injections: &[Injection], offset: u32, origin: &Path) -> Result<Schedules> {
    if let Some(row) = injections
        .iter()
        .position(|i| i.scenario == TrajectoryRow::CONTROL_SCENARIO)
    {
        bail!(
            "{}: column `scenario`, row {row}: `{}` names the never-injected paragraphs in fit's tables; give the scenario another name",
            origin.display(),
            TrajectoryRow::CONTROL_SCENARIO
        );
    }
    let frame = df!(
        "knowledge_id" => injections.iter().map(|i| i.knowledge_id).collect::<Vec<_>>(),
        "scenario" => injections.iter().map(|i| i.scenario.as_str()).collect::<Vec<_>>(),
        "step" => injections.iter().map(|i| i.step).collect::<Vec<_>>(),
    )?
    .lazy();

    // The first offending row is reported, as a reader going through the file would find it.
    let bad = frame
        .clone()
        .with_row_index("row", None)
        .with_column(
            col("scenario")
                .first()
                .over([col("knowledge_id")])?
                .alias("first_scenario"),
        )
        .filter(
            col("step")
                .lt(lit(offset))
                .or(col("scenario").neq(col("first_scenario"))),
        )
        .limit(1)
        .collect()?;
    if bad.height() > 0 {
        let row = u32s(&bad, "row")?[0];
        let step = u32s(&bad, "step")?[0];
        if step < offset {
            bail!(
                "{}: row {row}: injection step {step} is before --step-offset {offset}",
                origin.display()
            );
        }
        bail!(
            "{}: column `scenario`, row {row}: knowledge {} is in scenario `{}` and `{}`",
            origin.display(),
            u32s(&bad, "knowledge_id")?[0],
            strs(&bad, "first_scenario")?[0],
            strs(&bad, "scenario")?[0]
        );
    }

    // A paragraph injected twice at one step (two rows of one batch) counts that step once.
    let steps = frame.with_column(col("step") - lit(offset)).unique_stable(
        Some(cols(["knowledge_id", "step"])),
        UniqueKeepStrategy::First,
    );
    let by_knowledge = steps
        .clone()
        .group_by([col("knowledge_id")])
        .agg([
            col("scenario").first(),
            col("step").sort(Default::default()),
        ])
        .sort(["knowledge_id"], Default::default())
        .collect()?;
    let by_scenario = steps
        .group_by([col("scenario")])
        .agg([col("step").sort(Default::default())])
        .sort(["scenario"], Default::default())
        .collect()?;

    let by_knowledge_map = u32s(&by_knowledge, "knowledge_id")?
        .into_iter()
        .zip(strs(&by_knowledge, "scenario")?)
        .zip(u32_lists(&by_knowledge, "step")?)
        .map(|((k, scenario), steps)| {
            let scenario = scenario.to_string();
            (k, Schedule { scenario, steps })
        })
        .collect();
    let by_scenario_map = strs(&by_scenario, "scenario")?
        .into_iter()
        .map(str::to_string)
        .zip(u32_lists(&by_scenario, "step")?)
        .collect();
    Ok(Schedules {
        by_knowledge: by_knowledge_map,
        by_scenario: by_scenario_map,
        paragraphs: by_knowledge.select(["knowledge_id", "scenario"])?,
    })
}

/// The logprob rows of every run, one row per run × probe × step, sorted in that order.
///
/// A step scored twice (a file given twice, a rescored step) keeps its last score, so no step
/// counts twice; a probe keeps the kind and paragraph of its first row, so it is in one group.
pub(crate) fn observations(rows: &[LogprobRow]) -> Result<DataFrame> {
    let probe = [col("run_id"), col("probe_id")];
    Ok(df!(
        "run_id" => rows.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(),
        "probe_id" => rows.iter().map(|r| r.probe_id).collect::<Vec<_>>(),
        "step" => rows.iter().map(|r| r.step).collect::<Vec<_>>(),
        "knowledge_id" => rows.iter().map(|r| r.knowledge_id).collect::<Vec<_>>(),
        "kind" => rows.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>(),
        "target_logprob" => rows.iter().map(|r| r.target_logprob).collect::<Vec<_>>(),
        "first_token_logprob" => rows.iter().map(|r| r.first_token_logprob).collect::<Vec<_>>(),
        // ℓ(true) − ℓ(foil), where a foil was scored.
        "specificity" => rows
            .iter()
            .map(|r| r.foil_target_logprob.map(|foil| r.target_logprob - foil))
            .collect::<Vec<_>>(),
    )?
    .lazy()
    .with_columns([
        col("knowledge_id").first().over(probe.clone())?,
        col("kind").first().over(probe)?,
    ])
    .unique_stable(
        Some(cols(["run_id", "probe_id", "step"])),
        UniqueKeepStrategy::Last,
    )
    .sort(["run_id", "probe_id", "step"], Default::default())
    .collect()?)
}

/// Each probe's series of one score column of [`observations`], at the steps where it has a
/// value (a foil is scored at fewer steps than its probe); a probe with none has no series.
pub(crate) fn series(observations: &DataFrame, value: &str) -> Result<Runs> {
    let mut runs: Runs = BTreeMap::new();
    let values = observations.column(value)?.f64()?.iter();
    let columns = strs(observations, "run_id")?
        .into_iter()
        .zip(u32s(observations, "probe_id")?)
        .zip(u32s(observations, "step")?)
        .zip(u32s(observations, "knowledge_id")?)
        .zip(strs(observations, "kind")?);
    for (((((run, probe_id), step), knowledge_id), kind), v) in columns.zip(values) {
        let Some(v) = v else {
            continue;
        };
        runs.entry(run.to_string())
            .or_default()
            .entry(probe_id)
            .or_insert_with(|| ProbeSeries {
                kind: kind.to_string(),
                knowledge_id,
                values: BTreeMap::new(),
            })
            .values
            .insert(step, v);
    }
    Ok(runs)
}

/// Mean Δℓ from each probe's first evaluation, per run × scenario × kind × step; the probes of
/// never-injected paragraphs under scenario [`TrajectoryRow::CONTROL_SCENARIO`].
pub(crate) fn trajectory(
    observations: &DataFrame,
    schedules: &Schedules,
) -> Result<Vec<TrajectoryRow>> {
    let probe = [col("run_id"), col("probe_id")];
    let keys = [GROUP.as_slice(), &["step"]].concat();
    let table = observations
        .clone()
        .lazy()
        // Rows are sorted by step within a probe: the first is its first evaluation.
        .with_column(
            (col("target_logprob") - col("target_logprob").first().over(probe)?).alias("delta"),
        )
        .join(
            schedules.paragraphs.clone().lazy(),
            [col("knowledge_id")],
            [col("knowledge_id")],
            JoinArgs::new(JoinType::Left),
        )
        // A paragraph with no schedule was never injected.
        .with_column(col("scenario").fill_null(lit(TrajectoryRow::CONTROL_SCENARIO)))
        .group_by(keys.iter().map(|k| col(*k)).collect::<Vec<_>>())
        .agg([per_probe("delta")])
        .sort(keys, Default::default())
        .collect()?;
    let keys = group_keys(&table)?;
    let steps = u32s(&table, "step")?;
    let deltas = f64_lists(&table, "delta")?;
    Ok(keys
        .into_iter()
        .zip(steps)
        .zip(deltas)
        .map(|(((run_id, scenario, kind), step), deltas)| TrajectoryRow {
            run_id,
            scenario,
            kind,
            step,
            mean_delta: stats::mean(&deltas),
            probes: deltas.len() as u32,
        })
        .collect())
}

/// A column of a group's rows as one list, in probe id order: the order its mean was always
/// summed in.
pub(crate) fn per_probe(name: &str) -> Expr {
    col(name).sort_by([col("probe_id")], Default::default())
}

/// The [`GROUP`] columns of each row of `table`.
pub(crate) fn group_keys(table: &DataFrame) -> Result<Vec<Group>> {
    let [run, scenario, kind] = GROUP.map(|name| strs(table, name));
    Ok(run?
        .into_iter()
        .zip(scenario?)
        .zip(kind?)
        .map(|((r, s), k)| (r.to_string(), s.to_string(), k.to_string()))
        .collect())
}

pub(crate) fn strs<'a>(table: &'a DataFrame, name: &str) -> Result<Vec<&'a str>> {
    Ok(table.column(name)?.str()?.no_null_iter().collect())
}

/// Counts and steps, whatever integer type polars gave them (a sum or a row index).
pub(crate) fn u32s(table: &DataFrame, name: &str) -> Result<Vec<u32>> {
    let column = table.column(name)?.cast(&DataType::UInt32)?;
    Ok(column.u32()?.no_null_iter().collect())
}

/// A list column; a missing list (no match in a left join) is empty.
pub(crate) fn f64_lists(table: &DataFrame, name: &str) -> Result<Vec<Vec<f64>>> {
    let mut lists = Vec::new();
    for list in table.column(name)?.list()?.series_iter() {
        lists.push(match list {
            Some(values) => values.f64()?.no_null_iter().collect(),
            None => Vec::new(),
        });
    }
    Ok(lists)
}

/// A list column of steps or ids, whatever integer type the arithmetic on them gave.
pub(crate) fn u32_lists(table: &DataFrame, name: &str) -> Result<Vec<Vec<u32>>> {
    let mut lists = Vec::new();
    for list in table.column(name)?.list()?.series_iter() {
        let values = list.unwrap_or_default().cast(&DataType::UInt32)?;
        lists.push(values.u32()?.no_null_iter().collect());
    }
    Ok(lists)
}
