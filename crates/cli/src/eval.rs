//! `milliwatt eval`: top-1 accuracy, per-class accuracy and the confusion matrix on real data.
use crate::dataset::{DatasetSpec, Examples, SplitArg};
use crate::output::table;
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use mw_exec::Plan;
use mw_ir::{Graph, Limits};
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

pub struct EvalOptions {
    pub dataset: DatasetSpec,
    pub split: SplitArg,
    pub batch: usize,
    pub progress: bool,
}

#[derive(Debug, Serialize)]
pub struct ClassAccuracy {
    pub label: String,
    pub correct: usize,
    pub total: usize,
    pub accuracy: f64,
}

#[derive(Debug, Serialize)]
pub struct EvalReport {
    pub model: String,
    pub dataset: String,
    pub split: String,
    pub engine: String,
    /// Fraction of examples whose arg-max equals the label.
    pub top1: f64,
    pub correct: usize,
    pub total: usize,
    pub per_class: Vec<ClassAccuracy>,
    pub labels: Vec<String>,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
    pub seconds: f64,
    /// Arg-max per example, in dataset order.
    #[serde(skip)]
    pub predictions: Vec<usize>,
}

pub fn eval_file(model: &Path, options: &EvalOptions, limits: &Limits) -> Result<EvalReport> {
    let graph =
        mw_onnx::load(model, limits).with_context(|| format!("loading `{}`", model.display()))?;
    let mut report = eval_graph(graph, options, limits)?;
    report.model = model.display().to_string();
    Ok(report)
}

pub fn eval_graph(graph: Graph, options: &EvalOptions, limits: &Limits) -> Result<EvalReport> {
    let start = Instant::now();
    let examples = options.dataset.open(options.split)?;
    let plan = Plan::new(graph, *limits)?;
    let n = examples.len();
    if n == 0 {
        bail!("the dataset split `{}` has no examples", options.split);
    }
    let classes = examples.labels().len();
    let progress = progress_bar(options.progress, n as u64);
    let mut predictions = Vec::with_capacity(n);
    let mut start_index = 0;
    while start_index < n {
        let end = (start_index + options.batch).min(n);
        let input = examples.batch(start_index..end)?;
        let outputs = plan.run(vec![input])?;
        let scores = outputs
            .into_iter()
            .next()
            .context("the model has no outputs")?
            .cast(mw_tensor::DType::F32);
        predictions.extend(argmax_rows(scores.as_slice::<f32>()?, end - start_index)?);
        progress.inc((end - start_index) as u64);
        start_index = end;
    }
    progress.finish_and_clear();
    Ok(summarize(
        &examples,
        options,
        predictions,
        classes,
        start.elapsed().as_secs_f64(),
    ))
}

fn progress_bar(enabled: bool, n: u64) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(n);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
    {
        bar.set_style(style);
    }
    bar.set_message("eval");
    bar
}

/// Arg-max of each of `rows` equal rows; ties go to the lowest index, NaN never wins.
fn argmax_rows(scores: &[f32], rows: usize) -> Result<Vec<usize>> {
    if rows == 0 || scores.len() % rows != 0 {
        bail!(
            "model output of {} values does not split into {rows} rows",
            scores.len()
        );
    }
    let width = scores.len() / rows;
    Ok(scores
        .chunks(width)
        .map(|row| {
            let mut best = 0;
            for (i, &v) in row.iter().enumerate() {
                if v > row[best] || row[best].is_nan() && !v.is_nan() {
                    best = i;
                }
            }
            best
        })
        .collect())
}

fn summarize(
    examples: &Examples,
    options: &EvalOptions,
    predictions: Vec<usize>,
    classes: usize,
    seconds: f64,
) -> EvalReport {
    let width = classes.max(predictions.iter().map(|p| p + 1).max().unwrap_or(0));
    let mut confusion = vec![vec![0usize; width]; classes];
    for (&p, &t) in predictions.iter().zip(examples.targets()) {
        confusion[t][p] += 1;
    }
    let per_class: Vec<ClassAccuracy> = examples
        .labels()
        .iter()
        .enumerate()
        .map(|(c, label)| {
            let total: usize = confusion[c].iter().sum();
            let correct = confusion[c].get(c).copied().unwrap_or(0);
            ClassAccuracy {
                label: label.clone(),
                correct,
                total,
                accuracy: if total == 0 {
                    0.0
                } else {
                    correct as f64 / total as f64
                },
            }
        })
        .collect();
    let correct: usize = per_class.iter().map(|c| c.correct).sum();
    let total = predictions.len();
    EvalReport {
        model: String::new(),
        dataset: options.dataset.to_string(),
        split: options.split.to_string(),
        engine: "float".into(),
        top1: correct as f64 / total as f64,
        correct,
        total,
        per_class,
        labels: examples.labels().to_vec(),
        confusion,
        seconds,
        predictions,
    }
}

impl EvalReport {
    pub fn text(&self) -> String {
        let mut rows = vec![["class", "correct", "total", "accuracy"]
            .map(String::from)
            .to_vec()];
        for c in &self.per_class {
            rows.push(vec![
                c.label.clone(),
                c.correct.to_string(),
                c.total.to_string(),
                format!("{:.2} %", 100.0 * c.accuracy),
            ]);
        }
        let mut confusion = vec![std::iter::once("true \\ predicted".to_string())
            .chain(self.labels.iter().cloned())
            .collect::<Vec<_>>()];
        for (label, row) in self.labels.iter().zip(&self.confusion) {
            confusion.push(
                std::iter::once(label.clone())
                    .chain(row.iter().map(|v| v.to_string()))
                    .collect(),
            );
        }
        format!(
            "{} on {} ({} split, {} engine)\ntop-1: {:.2} % ({}/{}) in {:.2} s\n\n{}\n{}",
            self.model,
            self.dataset,
            self.split,
            self.engine,
            100.0 * self.top1,
            self.correct,
            self.total,
            self.seconds,
            table(&rows),
            table(&confusion)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_prefers_first_of_ties_and_skips_nan() {
        let s = [1.0, 3.0, 3.0, f32::NAN, 0.5, 0.2];
        assert_eq!(argmax_rows(&s, 2).unwrap(), vec![1, 1]);
        assert!(argmax_rows(&s, 4).is_err());
    }
}
