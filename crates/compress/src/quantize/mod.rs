//! INT8 post-training quantization (W8A8) of a float graph into a standard ONNX QDQ graph.
//!
//! [`quantize`]`(graph, batches, &config)` returns the QDQ graph and a [`QuantizeReport`]:
//!
//! 1. **Simplify**: `mw_ir::passes::simplify` (constants folded, Identity/Dropout removed,
//!    BatchNormalization folded into the preceding Conv/Gemm).
//!    With [`QuantizeConfig::equalize`], cross-layer equalization (`crate::rounding::equalize`)
//!    then rescales the float graph (data-free, before calibration).
//! 2. **Layers**: nodes are grouped into layers (`Conv [→ Relu|Clip]`, `MatMul [→ Add bias]
//!    [→ Relu|Clip]`, `Gemm`, `Add`, pooling, `Concat`, `Softmax`, data movement); anything else,
//!    layers named in [`QuantizeConfig::keep_float`], and the first/last weighted layer when the
//!    rules ask, stay in float (the report says why). Data movement follows its neighbours.
//! 3. **Calibration** (one streaming pass; see `calib`): the float graph runs over the batches with
//!    `mw_exec::Plan::run_observed`, each activation input and output of a quantized layer feeding
//!    a [`HistogramObserver`](crate::calibrate::HistogramObserver). Memory: the histograms, plus the
//!    input batches themselves (kept for the `auto` and measurement passes; for KWS's 440 clips,
//!    0.9 MB) — never activations across batches. Ranges come from [`RangeChoice`]: one
//!    [`Method`](crate::calibrate::Method) for every tensor, or `auto`: per tensor, the candidate
//!    (MinMax, Percentile, Entropy, Mse) whose range, computed on the other examples, gives the
//!    lowest squared fake-quantization error on the held-back examples (every
//!    [`QuantizeConfig::holdout_every`]-th); the winner is then applied to all examples. Only the
//!    data the caller passes is used: give it the calibration split, never the evaluation split.
//!    When the rounding needs them (see `round`), the same runs also feed every weighted layer's
//!    input statistics (`XᵀX`, `Σx`; K×K f64 per layer and Conv group) to a
//!    [`HessianCollector`](crate::rounding::HessianCollector): no second pass.
//! 4. **Parameters**: activations per tensor, int8 (or uint8) asymmetric, `qparams_from_range`;
//!    data movement and max pooling reuse their input's parameters; Softmax outputs use scale
//!    1/256 from the bottom of the grid. Weights int8 symmetric `[-127, 127]` per output channel
//!    (axis 0 of Conv `[M, C/g, kh, kw]`, axis 1 of MatMul `[K, N]`, the N axis of Gemm's B) or
//!    per tensor, rounded per [`QuantizeConfig::rounding`] (nearest, GPTQ or AdaRound on the same
//!    grid and scales; a layer the method cannot handle keeps nearest and the report says why),
//!    with optional bias correction of the float bias first; biases int32 with scale `s_x · s_w` and zero point 0. ReLU/Clip after a layer are
//!    fused: the QuantizeLinear sits after the activation.
//! 5. **Overflow proof**: for every weighted layer, `mw_kernels::int8::overflow` bounds
//!    `reduction · max|w_q| · max|x_q − zx| + max|b_q|` over the whole int8 input grid; a layer
//!    whose bound exceeds `2^31 − 1` (or whose bias does not fit int32) stays float or is refused,
//!    per [`OverflowPolicy`]. The report gives each bound.
//! 6. **QDQ graph**: built by one `mw_ir::rewrite` patch, in the layout of QUANT_DESIGN.md; value
//!    names are documented in `build` (`t_q`, `t_dq`, `W_q`...).
//! 7. **Measurement** ([`QuantizeConfig::measure`]): the QDQ graph runs in the float engine (fake
//!    quantization) beside the float graph over the calibration batches; each layer's output is
//!    compared (SQNR) with every quantized layer quantized, and, in one graph per layer, with only
//!    that layer quantized — which also gives the model-output SQNR and top-1 agreement with the
//!    float model behind the sensitivity ranking (label-free: lowest model-output SQNR first).
//!
//! Steps 1–3 are [`Calibration::new`], steps 4–7 [`Calibration::quantize`]: a search over
//! per-layer formats calibrates once and finishes the pass per configuration.
//!
//! Deterministic: the same graph, batches and configuration give the same graph, bit for bit.
//! The model must have one float32 input whose axis 0 is the batch.

mod assemble;
mod build;
mod calib;
mod config;
mod error;
mod layers;
mod measure;
mod params;
mod report;
mod round;
mod trim;
mod weights;

pub use config::{
    ActivationType, OverflowPolicy, QuantizeConfig, RangeChoice, Scheme, WeightFormat,
    WeightRounding,
};
pub use error::QuantizeError;
pub use measure::SQNR_EXACT_DB;
pub use report::{
    AccumulatorReport, InputReport, LayerReport, ModelReport, QuantizeReport, RoundingReport,
    Sensitivity, Timing, WeightReport,
};

use layers::{Kind, Status, View};
use mw_exec::Plan;
use mw_ir::infer::{infer_facts, Bindings, Facts};
use mw_ir::{DType, Graph, ValueId};
use mw_tensor::Tensor;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Instant;

/// Quantizes `graph` with calibration `batches` (one tensor per batch for the model's input).
pub fn quantize<I>(
    graph: Graph,
    batches: I,
    config: &QuantizeConfig,
) -> Result<(Graph, QuantizeReport), QuantizeError>
where
    I: IntoIterator<Item = Tensor>,
{
    try_quantize(
        graph,
        batches.into_iter().map(Ok::<Tensor, Infallible>),
        config,
    )
}

/// [`quantize`] over fallible batches (e.g. decoded from files); the first error stops it.
pub fn try_quantize<I, E>(
    graph: Graph,
    batches: I,
    config: &QuantizeConfig,
) -> Result<(Graph, QuantizeReport), QuantizeError>
where
    I: IntoIterator<Item = Result<Tensor, E>>,
    E: std::fmt::Display,
{
    Calibration::new(graph, batches, config)?.quantize(&config.layer_formats)
}

/// Steps 1–3 of the pass (simplify, layers, calibration): everything that does not depend on
/// [`QuantizeConfig::layer_formats`]. [`Calibration::quantize`] finishes the pass for any
/// per-layer formats, giving the graph and report [`quantize`] gives for the same config with
/// those formats — so many format choices share one calibration pass.
pub struct Calibration {
    graph: Graph,
    facts: Facts,
    config: QuantizeConfig,
    equalization: Option<crate::rounding::EqualizeReport>,
    layers: Vec<layers::Layer>,
    user_kept: Vec<bool>,
    plan: Plan,
    observed: calib::Observed,
    targets: round::Targets,
    calibrated: Vec<Option<calib::Calibrated>>,
    calibrate_s: f64,
}

impl Calibration {
    /// Simplifies and calibrates `graph` for `config` (its `layer_formats` are checked here,
    /// and again by [`Calibration::quantize`] for the formats it is given).
    pub fn new<I, E>(
        mut graph: Graph,
        batches: I,
        config: &QuantizeConfig,
    ) -> Result<Calibration, QuantizeError>
    where
        I: IntoIterator<Item = Result<Tensor, E>>,
        E: std::fmt::Display,
    {
        let start = Instant::now();
        validate(config)?;
        mw_ir::passes::simplify(&mut graph)?;
        check_model(&graph, config)?;
        let equalization = if config.equalize {
            let (g, r) = crate::rounding::equalize(&graph)?;
            graph = g;
            Some(r)
        } else {
            None
        };
        let facts = infer_facts(&graph, &Bindings::batch(1), &config.limits)?;
        let view = View::new(&graph, &facts);
        let mut layers = layers::find_layers(&view);
        layers::apply_keep_rules(
            &view,
            &mut layers,
            &config.keep_float,
            config.keep_first,
            config.keep_last,
        )?;
        params::check_layer_formats(&view, &layers, config)?;
        let user_kept: Vec<bool> = layers
            .iter()
            .map(|l| l.kind == Kind::Move && !l.quantized())
            .collect();
        layers::settle_data_movement(&view, &mut layers, &user_kept);

        let watch = watched(&layers);
        let plan = Plan::new(graph.clone(), config.limits)?;
        let scheme = config.activations.scheme();
        let cands = if round::needed(config) {
            round::candidates(&graph, &layers)
        } else {
            Vec::new()
        };
        let mut collector = match cands.is_empty() {
            true => None,
            false => Some(round::collector(&graph, &cands)?),
        };
        let observed = calib::observe(
            &plan,
            &watch,
            batches,
            config.holdout_every,
            config.bins,
            collector.as_mut(),
        )?;
        let hessians = match collector {
            Some(c) => c.finish()?,
            None => Vec::new(),
        };
        let targets = round::targets(cands, hessians);
        let calibrated = calib::choose_ranges(
            &plan,
            &observed,
            &watch,
            &config.ranges,
            scheme,
            config.holdout_every,
        )?;
        Ok(Calibration {
            graph,
            facts,
            config: config.clone(),
            equalization,
            layers,
            user_kept,
            plan,
            observed,
            targets,
            calibrated,
            calibrate_s: start.elapsed().as_secs_f64(),
        })
    }

    /// Steps 4–7 (parameters, overflow proof, QDQ graph, measurement) with `layer_formats` in
    /// place of the configuration's.
    pub fn quantize(
        &self,
        layer_formats: &BTreeMap<String, (WeightFormat, ActivationType)>,
    ) -> Result<(Graph, QuantizeReport), QuantizeError> {
        let start = Instant::now();
        let config = &QuantizeConfig {
            layer_formats: layer_formats.clone(),
            ..self.config.clone()
        };
        let graph = &self.graph;
        check_opset_21(graph, config)?;
        let view = View::new(graph, &self.facts);
        let mut layers = self.layers.clone();
        params::check_layer_formats(&view, &layers, config)?;
        let (tensors, weights) = loop {
            let tensors = params::resolve(&view, &layers, &self.calibrated, config)?;
            let (weights, refused) =
                params::prepare_weights(&view, &layers, &tensors, config, &self.targets)?;
            if refused.is_empty() {
                break (tensors, weights);
            }
            for (i, reason) in refused {
                if config.overflow == OverflowPolicy::Refuse {
                    let layer = graph.node(layers[i].nodes[0]).name.clone();
                    return Err(QuantizeError::Overflow { layer, reason });
                }
                layers[i].status = Status::Float(reason);
            }
            layers::settle_data_movement(&view, &mut layers, &self.user_kept);
        };
        let parts = build::Parts {
            graph,
            layers: &layers,
            tensors: &tensors,
            weights: &weights,
            equalization: self.equalization.as_ref(),
        };
        let selected: Vec<bool> = layers.iter().map(|l| l.quantized()).collect();
        let built = build::build(&parts, &selected)?;
        let build_s = start.elapsed().as_secs_f64();

        let measured = if config.measure {
            Some(assemble::measure_all(
                &parts,
                &built,
                &self.plan,
                &self.observed.batches,
                config,
            )?)
        } else {
            None
        };
        let finish_s = start.elapsed().as_secs_f64();
        let timing = Timing {
            calibrate_s: self.calibrate_s,
            build_s,
            measure_s: finish_s - build_s,
            total_s: self.calibrate_s + finish_s,
        };
        let report = assemble::report(
            &parts,
            &view,
            &built,
            measured.as_ref(),
            &self.observed,
            config,
            timing,
        );
        Ok((built.graph, report))
    }
}

fn validate(c: &QuantizeConfig) -> Result<(), QuantizeError> {
    if c.holdout_every == 1 {
        return Err(QuantizeError::Config(
            "holdout_every = 1 would hold back every example".into(),
        ));
    }
    if let Some(g) = c.group_size {
        if g == 0 || !c.per_channel {
            return Err(QuantizeError::Config(format!(
                "group size {g} needs per-channel weights and a size of at least 1"
            )));
        }
    }
    if let RangeChoice::Auto(m) = &c.ranges {
        if m.is_empty() {
            return Err(QuantizeError::Config("auto needs candidate methods".into()));
        }
    }
    Ok(())
}

/// Ops whose attributes became inputs between the model's opset and 21 cannot be written at
/// opset 21 unchanged; sub-8-bit weights, groups and int16 activations need opset 21.
fn check_opset_21(g: &Graph, c: &QuantizeConfig) -> Result<(), QuantizeError> {
    let overridden = c
        .layer_formats
        .values()
        .any(|&(w, a)| w != WeightFormat::Int8 || a == ActivationType::Int16);
    let lowbit = c.weights != WeightFormat::Int8
        || c.group_size.is_some()
        || c.activations == ActivationType::Int16
        || overridden;
    if !lowbit || g.meta.opset >= 18 {
        return Ok(());
    }
    let stale = g
        .nodes
        .iter()
        .find(|n| n.op.op_type().starts_with("Reduce") && n.op.attrs().get("axes").is_some());
    match stale {
        Some(_) => Err(QuantizeError::Opset {
            opset: g.meta.opset,
            reason: "int4 weights, groups and int16 activations are written at opset 21, where \
                     Reduce* ops take axes as an input; convert the model to opset 18 or later",
        }),
        None => Ok(()),
    }
}

fn check_model(g: &Graph, c: &QuantizeConfig) -> Result<(), QuantizeError> {
    check_opset_21(g, c)?;
    let (need, why) = if c.per_channel {
        (
            13,
            "per-channel QuantizeLinear/DequantizeLinear need opset 13",
        )
    } else {
        (10, "QuantizeLinear/DequantizeLinear need opset 10")
    };
    if g.meta.opset != 0 && g.meta.opset < need {
        return Err(QuantizeError::Opset {
            opset: g.meta.opset,
            reason: why,
        });
    }
    let inputs: Vec<_> = g
        .inputs
        .iter()
        .filter(|&&i| g.value(i).konst.is_none())
        .collect();
    let ok = inputs.len() == 1 && g.value(*inputs[0]).dtype == Some(DType::F32);
    if !ok {
        let list: Vec<String> = inputs
            .iter()
            .map(|&&i| {
                let v = g.value(i);
                format!("`{}` {:?}", v.name, v.dtype)
            })
            .collect();
        return Err(QuantizeError::Inputs(format!("[{}]", list.join(", "))));
    }
    Ok(())
}

/// Activation inputs and outputs of the quantized layers, in graph order, without repeats.
fn watched(layers: &[layers::Layer]) -> Vec<ValueId> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for l in layers.iter().filter(|l| l.quantized()) {
        for &v in l.inputs.iter().chain(std::iter::once(&l.outputs[0])) {
            if seen.insert(v) {
                out.push(v);
            }
        }
    }
    out
}
