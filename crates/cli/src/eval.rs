//! `milliwatt eval`: top-1 accuracy, per-class accuracy and the confusion matrix on real data.
use crate::dataset::{DatasetSpec, Examples, SplitArg};
use crate::output::table;
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use mw_exec::Plan;
use mw_ir::passes::{integer_only, lower_qdq};
use mw_ir::{Graph, Limits};
use mw_tensor::{DType, Tensor};
use serde::Serialize;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Instant;

pub struct EvalOptions {
    pub dataset: DatasetSpec,
    pub split: SplitArg,
    pub batch: usize,
    pub progress: bool,
}

/// Which engine runs a model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Engine {
    /// Integer for quantized models (QuantizeLinear / DequantizeLinear or integer ops), else float.
    #[default]
    Auto,
    /// Lower the QDQ patterns to integer ops and run those (`mw_ir::passes::lower_qdq`).
    Integer,
    /// Run the graph as it is: a QDQ graph runs as fake quantization in float.
    Float,
}

impl FromStr for Engine {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Engine::Auto),
            "integer" | "int" => Ok(Engine::Integer),
            "float" => Ok(Engine::Float),
            other => bail!("unknown engine `{other}` (integer, float)"),
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Engine::Auto => "auto",
            Engine::Integer => "integer",
            Engine::Float => "float",
        })
    }
}

/// An op the integer engine runs in float, and why.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FallbackOp {
    pub node: String,
    pub op: String,
    pub reason: String,
}

/// How float features are quantized for a model whose input is 8-bit.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct InputQuantization {
    pub scale: f32,
    pub zero_point: i32,
    pub dtype: &'static str,
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
    /// `integer` or `float`: the engine that ran.
    pub engine: String,
    /// Ops the integer engine left in float (empty when it ran integer-only).
    pub fallback_float_ops: Vec<FallbackOp>,
    /// The quantization applied to the features when the model's input is 8-bit.
    pub input_quantization: Option<InputQuantization>,
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
    eval_file_with(model, options, Engine::Auto, limits)
}

/// [`eval_file`] on a chosen engine.
pub fn eval_file_with(
    model: &Path,
    options: &EvalOptions,
    engine: Engine,
    limits: &Limits,
) -> Result<EvalReport> {
    let graph =
        mw_onnx::load(model, limits).with_context(|| format!("loading `{}`", model.display()))?;
    let mut report = eval_graph_with(graph, options, engine, limits)?;
    report.model = model.display().to_string();
    Ok(report)
}

pub fn eval_graph(graph: Graph, options: &EvalOptions, limits: &Limits) -> Result<EvalReport> {
    eval_graph_with(graph, options, Engine::Auto, limits)
}

/// Whether `graph` is quantized: it has QuantizeLinear / DequantizeLinear or integer ops.
pub fn is_quantized(graph: &Graph) -> bool {
    graph.nodes.iter().any(|n| {
        let t = n.op.op_type();
        t == "QuantizeLinear" || t == "DequantizeLinear" || mw_ir::ops::quant::is_integer_op(t)
    })
}

/// The graph `engine` runs (lowered for the integer engine), the engine's name and the ops it
/// leaves in float.
pub fn prepare_engine(graph: Graph, engine: Engine) -> Result<(Graph, Engine, Vec<FallbackOp>)> {
    let engine = match engine {
        Engine::Auto if is_quantized(&graph) => Engine::Integer,
        Engine::Auto => Engine::Float,
        e => e,
    };
    if engine != Engine::Integer {
        return Ok((graph, engine, Vec::new()));
    }
    if !is_quantized(&graph) {
        bail!("the integer engine needs a quantized model (QDQ or QOperator); use --engine float");
    }
    let (lowered, report) = lower_qdq(&graph).context("lowering the QDQ graph")?;
    let lint = integer_only(&lowered, Some(&report)).context("checking the lowered graph")?;
    let fallback = lint
        .float_ops
        .into_iter()
        .map(|f| FallbackOp {
            node: f.node,
            op: f.op_type,
            reason: f.reason,
        })
        .collect();
    Ok((lowered, engine, fallback))
}

/// For a model whose (first) input is 8-bit: the scale and zero point of the first node that
/// reads it through data-movement ops — a DequantizeLinear, or an integer op (QLinearConv,
/// QLinearMatMul, `Mw…`), whose scale and zero point follow the tensor in its inputs — to quantize
/// float features with.
pub fn input_quantization(graph: &Graph) -> Result<Option<InputQuantization>> {
    let Some(&input) = graph
        .inputs
        .iter()
        .find(|i| graph.value(**i).konst.is_none())
    else {
        return Ok(None);
    };
    let dtype = match graph.value(input).dtype {
        Some(d @ (DType::I8 | DType::U8)) => d,
        _ => return Ok(None),
    };
    let consumers = graph.consumers();
    let mut v = input;
    for _ in 0..graph.nodes.len() {
        let Some(&first) = consumers.get(&v).and_then(|c| c.first()) else {
            break;
        };
        let n = graph.node(first);
        let op = n.op.op_type();
        if op == "DequantizeLinear" || mw_ir::ops::quant::is_integer_op(op) {
            let at = n.inputs.iter().position(|i| *i == Some(v)).unwrap_or(0);
            return quantization_at(graph, n, at, dtype).map(Some);
        }
        match op {
            "Reshape" | "Flatten" | "Transpose" | "Squeeze" | "Unsqueeze" | "Identity" => {
                v = n.outputs[0];
            }
            other => bail!(
                "the model's {} input is read by {other}, which states no quantization for it",
                dtype.name()
            ),
        }
    }
    bail!("the model's {} input is never dequantized", dtype.name())
}

/// The constant scale and zero point at inputs `at + 1` and `at + 2` of `n`.
fn quantization_at(
    graph: &Graph,
    n: &mw_ir::Node,
    at: usize,
    dtype: DType,
) -> Result<InputQuantization> {
    let konst = |i: usize| {
        n.inputs
            .get(i)
            .copied()
            .flatten()
            .and_then(|v| graph.value(v).konst.clone())
    };
    let scale = konst(at + 1)
        .with_context(|| format!("the input's scale at `{}` is not constant", n.name))?;
    let scale = match scale.as_slice::<f32>()? {
        [s] if s.is_finite() && *s > 0.0 => *s,
        _ => bail!("the input is not quantized per tensor with a positive scale"),
    };
    let zero_point = match konst(at + 2) {
        Some(z) => z.to_i64_vec()?.first().copied().unwrap_or(0) as i32,
        None => 0,
    };
    Ok(InputQuantization {
        scale,
        zero_point,
        dtype: dtype.name(),
    })
}

/// Quantizes f32 features as QuantizeLinear does (round half to even, saturate).
pub fn quantize_features(x: &Tensor, q: &InputQuantization) -> Result<Tensor> {
    let zp = match q.dtype {
        "u8" => Tensor::scalar(q.zero_point.clamp(0, 255) as u8),
        _ => Tensor::scalar(q.zero_point.clamp(-128, 127) as i8),
    };
    let op = mw_ir::build_op(
        "QuantizeLinear",
        &mw_ir::Attrs::new(),
        &mw_ir::BuildCtx {
            opset: 13,
            n_inputs: 3,
            n_outputs: 1,
        },
    )?
    .context("QuantizeLinear is registered")?;
    let scale = Tensor::scalar(q.scale);
    let mut out = op.eval(&[Some(x), Some(&scale), Some(&zp)])?;
    Ok(out.remove(0))
}

/// Evaluates on `engine`; the report names the engine that ran and its float fallbacks.
pub fn eval_graph_with(
    graph: Graph,
    options: &EvalOptions,
    engine: Engine,
    limits: &Limits,
) -> Result<EvalReport> {
    let start = Instant::now();
    let examples = options.dataset.open(options.split)?;
    let input_q = input_quantization(&graph)?;
    let (graph, engine, fallback) = prepare_engine(graph, engine)?;
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
        let mut input = examples.batch(start_index..end)?;
        if let Some(q) = &input_q {
            input = quantize_features(&input, q)?;
        }
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
    let mut report = summarize(
        &examples,
        options,
        predictions,
        classes,
        start.elapsed().as_secs_f64(),
    );
    report.engine = engine.to_string();
    report.fallback_float_ops = fallback;
    report.input_quantization = input_q;
    Ok(report)
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
    if rows == 0 || !scores.len().is_multiple_of(rows) {
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
        fallback_float_ops: Vec::new(),
        input_quantization: None,
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
            "{} on {} ({} split, {} engine)\n{}{}top-1: {:.2} % ({}/{}) in {:.2} s\n\n{}\n{}",
            self.model,
            self.dataset,
            self.split,
            self.engine,
            self.input_text(),
            self.fallback_text(),
            100.0 * self.top1,
            self.correct,
            self.total,
            self.seconds,
            table(&rows),
            table(&confusion)
        )
    }

    fn input_text(&self) -> String {
        match &self.input_quantization {
            Some(q) => format!(
                "features quantized to {} with scale {} and zero point {}\n",
                q.dtype, q.scale, q.zero_point
            ),
            None => String::new(),
        }
    }

    fn fallback_text(&self) -> String {
        if self.engine != "integer" {
            return String::new();
        }
        if self.fallback_float_ops.is_empty() {
            return "integer-only: no op falls back to float\n".into();
        }
        let mut s = format!(
            "{} ops fall back to float:\n",
            self.fallback_float_ops.len()
        );
        for f in &self.fallback_float_ops {
            s.push_str(&format!("  {} ({}): {}\n", f.node, f.op, f.reason));
        }
        s
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
