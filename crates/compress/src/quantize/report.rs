//! [`QuantizeReport`]: what the quantizer did to every layer, what it cost, and a text table.
use crate::calibrate::Candidate;
use serde::Serialize;
use std::fmt::Write;

/// The weights of one layer after quantization.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WeightReport {
    pub tensor: String,
    /// `per-channel`, `per-tensor` or `group-wise (N)`.
    pub granularity: String,
    /// `int8`, `int4`, `int2 (ternary)` or `binary`.
    pub format: String,
    /// Channel axis of the weight tensor (per-channel).
    pub axis: usize,
    pub scales: usize,
    pub scale_min: f32,
    pub scale_max: f32,
    pub scale_mean: f32,
    /// Largest stored `|w_q|` (at most 127).
    pub max_abs_q: u32,
    pub bias: Option<String>,
    /// Largest `|b_q|` of the int32 bias.
    pub bias_max_abs_q: Option<u64>,
    pub rounding: RoundingReport,
}

/// How one layer's weights were rounded, and the weight-only error of its output.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoundingReport {
    /// The rounding that produced the stored weights: `nearest`, `gptq` or `adaround`.
    pub method: String,
    /// Whether the float bias was corrected before quantization.
    pub bias_corrected: bool,
    /// Why the requested rounding or bias correction did not run on this layer.
    pub note: Option<String>,
    /// Layer-output SQNR (dB) over the calibration inputs of the float layer, with only the
    /// weights (and bias) quantized, under nearest rounding and the bias as it was. `None` when
    /// no input statistics were collected (int8 nearest without bias correction).
    pub weight_sqnr_nearest_db: Option<f64>,
    /// The same with the weights and bias actually stored.
    pub weight_sqnr_db: Option<f64>,
}

/// The proof that a layer's int32 accumulator holds the exact sum (`mw_kernels::int8::overflow`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AccumulatorReport {
    /// Terms summed per output (`C/g·kh·kw`, `K`, or the pooling window).
    pub reduction: usize,
    /// Largest `|w_q|` (1 for pooling).
    pub max_abs_weight: u32,
    /// Largest `|x_q − zx|` over the input's grid.
    pub max_abs_input: u64,
    /// Worst case `Σ|w·(x − zx)| + |bias|` over every input on the int8 grid.
    pub bound: u64,
    /// `2^31 - 1`.
    pub limit: u64,
    /// `log2(limit / bound)`: how many doublings of the reduction would still fit.
    pub headroom_bits: f64,
}

impl AccumulatorReport {
    pub(crate) fn new(
        reduction: usize,
        max_abs_weight: u32,
        max_abs_input: u64,
        bound: u64,
    ) -> AccumulatorReport {
        let limit = i32::MAX as u64;
        AccumulatorReport {
            reduction,
            max_abs_weight,
            max_abs_input,
            bound,
            limit,
            headroom_bits: (limit as f64 / bound.max(1) as f64).log2(),
        }
    }
}

/// One layer (a node or a fused group such as `Conv+Relu`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerReport {
    /// The main node's name.
    pub node: String,
    /// Every member node, in graph order.
    pub nodes: Vec<String>,
    /// Member op types joined by `+`.
    pub op: String,
    /// `integer`, or `float (kept: <reason>)`.
    pub engine: String,
    /// The layer's float output tensor.
    pub output: String,
    /// Its QuantizeLinear output in the QDQ graph.
    pub quantized_output: Option<String>,
    /// How the output range was chosen: `minmax`, `percentile(p)`, `entropy`, `mse`,
    /// `auto:<winner>`, `fixed` (Softmax) or `same as <input>` (data movement, max pooling).
    pub method: Option<String>,
    /// The clipping range `(lo, hi)` of the output.
    pub range: Option<(f32, f32)>,
    /// Observed `(min, max)` of the output on the calibration data.
    pub observed: Option<(f32, f32)>,
    pub scale: Option<f32>,
    pub zero_point: Option<i32>,
    /// `auto`: every candidate's range and held-back squared error.
    pub candidates: Vec<Candidate>,
    pub weight: Option<WeightReport>,
    pub accumulator: Option<AccumulatorReport>,
    /// Bytes of the weights as stored: int8 weights + int32 bias (+ f32 scales) when
    /// quantized, f32 otherwise.
    pub weight_bytes: u64,
    /// Bytes of the float weights and bias.
    pub float_weight_bytes: u64,
    /// Bytes of the output per example: 1 per element in int8, 4 in float.
    pub activation_bytes: u64,
    /// Output SQNR (dB) against the float graph with every quantized layer quantized.
    pub sqnr_db: Option<f64>,
    /// Output SQNR (dB) with only this layer quantized.
    pub sqnr_alone_db: Option<f64>,
    /// Model-output SQNR (dB) with only this layer quantized.
    pub model_sqnr_alone_db: Option<f64>,
    /// Fraction of calibration examples whose top-1 stays the float model's with only this
    /// layer quantized.
    pub top1_agreement_alone: Option<f64>,
}

/// A quantized model input.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InputReport {
    pub tensor: String,
    pub method: String,
    pub range: (f32, f32),
    pub observed: Option<(f32, f32)>,
    pub scale: f32,
    pub zero_point: i32,
    pub candidates: Vec<Candidate>,
    /// SQNR (dB) of the dequantized input against the float input.
    pub sqnr_db: Option<f64>,
}

/// One line of the sensitivity ranking.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sensitivity {
    pub node: String,
    pub op: String,
    /// Model-output SQNR (dB) with only this layer quantized (lower costs more).
    pub model_sqnr_db: Option<f64>,
    /// Top-1 agreement with the float model with only this layer quantized.
    pub top1_agreement: Option<f64>,
}

/// The whole model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelReport {
    /// Model-output SQNR (dB) of the QDQ model against the float model.
    pub output_sqnr_db: Option<f64>,
    /// Fraction of calibration examples whose top-1 equals the float model's.
    pub top1_agreement: Option<f64>,
    pub weight_bytes: u64,
    pub float_weight_bytes: u64,
    pub quantized_layers: usize,
    pub float_layers: usize,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Timing {
    pub calibrate_s: f64,
    pub build_s: f64,
    pub measure_s: f64,
    pub total_s: f64,
}

/// What [`super::quantize`] did, layer by layer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QuantizeReport {
    /// `w8a8`.
    pub scheme: String,
    /// e.g. `int8 symmetric per-channel`.
    pub weights: String,
    /// e.g. `int8 asymmetric per-tensor`.
    pub activations: String,
    /// `minmax`, `percentile(99.99)`, `entropy`, `mse` or `auto`.
    pub calibration: String,
    pub calibration_examples: usize,
    /// The requested weight rounding (`nearest`, `gptq`, `adaround`), `+ bias correction`.
    pub rounding: String,
    /// Cross-layer equalization of the float graph, when asked for.
    pub equalization: Option<crate::rounding::EqualizeReport>,
    /// Examples held back to score `auto` candidates (they also count in the final ranges).
    pub held_back_examples: usize,
    pub calibration_batches: usize,
    pub inputs: Vec<InputReport>,
    pub layers: Vec<LayerReport>,
    /// Quantized layers ranked by the cost of quantizing each alone, most costly first: lowest
    /// model-output SQNR, then lowest top-1 agreement, on the calibration data.
    pub sensitivity: Vec<Sensitivity>,
    /// `(node, reason)` of every layer left in float.
    pub kept_float: Vec<(String, String)>,
    pub model: ModelReport,
    pub timing: Timing,
}

fn db(v: Option<f64>) -> String {
    v.map_or("-".into(), |d| format!("{d:.1}"))
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let tail: String = s
        .chars()
        .rev()
        .take(n - 1)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}

fn aligned(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, s)| format!("{s:<w$}", w = widths[c]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
        if i == 0 {
            out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * cols.saturating_sub(1)));
            out.push('\n');
        }
    }
    out
}

impl QuantizeReport {
    /// A readable summary: one row per layer, then the sensitivity ranking and float layers.
    pub fn table(&self) -> String {
        let mut rows = vec![[
            "layer",
            "op",
            "engine",
            "method",
            "range",
            "scale",
            "zp",
            "w scales",
            "acc bound",
            "rounding",
            "w-only dB",
            "SQNR dB",
            "alone dB",
            "model alone dB",
            "W bytes",
            "act bytes",
        ]
        .map(String::from)
        .to_vec()];
        for l in &self.layers {
            let engine = if l.engine == "integer" {
                "int8".to_string()
            } else {
                "float".into()
            };
            rows.push(vec![
                short(&l.node, 28),
                l.op.clone(),
                engine,
                l.method
                    .clone()
                    .map(|m| short(&m, 22))
                    .unwrap_or("-".into()),
                l.range
                    .map_or("-".into(), |(a, b)| format!("[{a:.3}, {b:.3}]")),
                l.scale.map_or("-".into(), |s| format!("{s:.3e}")),
                l.zero_point.map_or("-".into(), |z| z.to_string()),
                l.weight.as_ref().map_or("-".into(), |w| {
                    format!("{:.1e}..{:.1e}", w.scale_min, w.scale_max)
                }),
                l.accumulator.as_ref().map_or("-".into(), |a| {
                    format!("{} ({:.1} b)", a.bound, a.headroom_bits)
                }),
                l.weight.as_ref().map_or("-".into(), |w| {
                    let r = &w.rounding;
                    let bc = if r.bias_corrected { "+bc" } else { "" };
                    let note = if r.note.is_some() { " (!)" } else { "" };
                    format!("{}{bc}{note}", r.method)
                }),
                l.weight.as_ref().map_or("-".into(), |w| {
                    let r = &w.rounding;
                    match (r.weight_sqnr_nearest_db, r.weight_sqnr_db) {
                        (Some(a), Some(b)) if r.method != "nearest" || r.bias_corrected => {
                            format!("{a:.1}→{b:.1}")
                        }
                        (_, b) => db(b),
                    }
                }),
                db(l.sqnr_db),
                db(l.sqnr_alone_db),
                db(l.model_sqnr_alone_db),
                l.weight_bytes.to_string(),
                l.activation_bytes.to_string(),
            ]);
        }
        let mut out = String::new();
        let _ = writeln!(
            out,
            "scheme {} (weights {}, activations {}), rounding {}, calibration {} on {} examples \
             ({} held back)",
            self.scheme,
            self.weights,
            self.activations,
            self.rounding,
            self.calibration,
            self.calibration_examples,
            self.held_back_examples
        );
        if let Some(e) = &self.equalization {
            let _ = writeln!(
                out,
                "cross-layer equalization: {} pairs in {} sweeps, {} skipped",
                e.pairs.len(),
                e.sweeps,
                e.skipped.len()
            );
        }
        for i in &self.inputs {
            let _ = writeln!(
                out,
                "input {}: {} range [{:.3}, {:.3}] scale {:.4e} zp {} SQNR {} dB",
                i.tensor,
                i.method,
                i.range.0,
                i.range.1,
                i.scale,
                i.zero_point,
                db(i.sqnr_db)
            );
        }
        out.push('\n');
        out.push_str(&aligned(&rows));
        let m = &self.model;
        let _ = writeln!(
            out,
            "\nmodel: output SQNR {} dB, top-1 agreement with float {} on the calibration data; \
             weights {} B (float {} B); {} layers int8, {} float",
            db(m.output_sqnr_db),
            m.top1_agreement
                .map_or("-".into(), |a| format!("{:.2} %", 100.0 * a)),
            m.weight_bytes,
            m.float_weight_bytes,
            m.quantized_layers,
            m.float_layers
        );
        if !self.sensitivity.is_empty() {
            out.push_str("\nsensitivity (quantized alone, most costly first):\n");
            for (k, s) in self.sensitivity.iter().take(10).enumerate() {
                let _ = writeln!(
                    out,
                    "  {}. {} ({}): model SQNR {} dB, top-1 agreement {}",
                    k + 1,
                    s.node,
                    s.op,
                    db(s.model_sqnr_db),
                    s.top1_agreement
                        .map_or("-".into(), |a| format!("{:.2} %", 100.0 * a))
                );
            }
        }
        let notes: Vec<_> = self
            .layers
            .iter()
            .filter_map(|l| Some((&l.node, l.weight.as_ref()?.rounding.note.as_ref()?)))
            .collect();
        if !notes.is_empty() {
            out.push_str("\nrounding notes (!):\n");
            for (n, why) in notes {
                let _ = writeln!(out, "  {n}: {why}");
            }
        }
        if !self.kept_float.is_empty() {
            out.push_str("\nkept in float:\n");
            for (n, why) in &self.kept_float {
                let _ = writeln!(out, "  {n}: {why}");
            }
        }
        let t = &self.timing;
        let _ = writeln!(
            out,
            "\ntime: {:.2} s (calibrate {:.2}, build {:.2}, measure {:.2})",
            t.total_s, t.calibrate_s, t.build_s, t.measure_s
        );
        out
    }
}
