//! Quantization parameters of every tensor on the int8 path, and of every weighted layer.
use super::calib::Calibrated;
use super::config::QuantizeConfig;
use super::layers::{Kind, Layer, View};
use super::report::RoundingReport;
use super::round::{round_layer, Targets};
use super::weights::{
    accumulator_bound, quantize_bias, quantize_weights, Bound, QBias, QWeights, WeightLayout,
};
use super::QuantizeError;
use crate::calibrate::{qparams_from_range, Candidate, QParams, QScheme};
use mw_ir::ValueId;

/// How one activation tensor is quantized.
#[derive(Clone, Debug)]
pub(crate) struct QTensor {
    pub qparams: QParams,
    /// `minmax`, `percentile(99.99)`, `auto:mse`, `fixed` (Softmax) or `same as <input>`.
    pub method: String,
    pub range: (f32, f32),
    /// Observed `(min, max)`, for calibrated tensors.
    pub observed: Option<(f32, f32)>,
    pub candidates: Vec<Candidate>,
}

/// Scale `1/2^bits` from the bottom of the grid: `[0, 255/256]` for a probability in 8 bits.
pub(crate) fn softmax_qparams(scheme: QScheme) -> QParams {
    QParams {
        scale: 1.0 / (1u32 << scheme.bits()) as f32,
        zero_point: scheme.qmin(),
        scheme,
    }
}

fn own(
    view: &View,
    v: ValueId,
    calibrated: &[Option<Calibrated>],
    scheme: QScheme,
) -> Result<QTensor, QuantizeError> {
    let name = &view.g.value(v).name;
    let c = calibrated[v.0]
        .as_ref()
        .ok_or_else(|| QuantizeError::calib(name, crate::calibrate::CalibError::NoData))?;
    Ok(QTensor {
        qparams: qparams_from_range(c.range, scheme).map_err(|e| QuantizeError::calib(name, e))?,
        method: c.method.clone(),
        range: c.range,
        observed: Some(c.observed),
        candidates: c.candidates.clone(),
    })
}

/// Parameters of every input and output of the quantized layers (indexed by value id): a layer's
/// output has its own calibrated range, except data movement and max pooling (the input's
/// parameters) and Softmax ([`softmax_qparams`]); an input produced outside the int8 path has its
/// own calibrated range.
pub(crate) fn resolve(
    view: &View,
    layers: &[Layer],
    calibrated: &[Option<Calibrated>],
    config: &QuantizeConfig,
) -> Result<Vec<Option<QTensor>>, QuantizeError> {
    let scheme = config.activations.scheme();
    let schemes = value_schemes(view, layers, config);
    let mut out: Vec<Option<QTensor>> = vec![None; view.g.values.len()];
    for layer in layers.iter().filter(|l| l.quantized()) {
        for &x in &layer.inputs {
            if out[x.0].is_none() {
                out[x.0] = Some(own(view, x, calibrated, schemes[x.0])?);
            }
        }
        let y = layer.output();
        let q = if layer.kind.inherits() {
            let x = layer.inputs[0];
            let mut q = out[x.0].clone().expect("input resolved above");
            q.method = format!("same as {}", view.g.value(x).name);
            q.observed = calibrated[y.0].as_ref().map(|c| c.observed);
            q.candidates.clear();
            q
        } else if layer.kind == Kind::Softmax {
            let qp = softmax_qparams(scheme);
            QTensor {
                qparams: qp,
                method: "fixed".into(),
                range: (0.0, 1.0 - qp.scale),
                observed: calibrated[y.0].as_ref().map(|c| c.observed),
                candidates: Vec::new(),
            }
        } else {
            own(view, y, calibrated, schemes[y.0])?
        };
        out[y.0] = Some(q);
    }
    Ok(out)
}

/// The activation scheme of every value: `config.activations`, except the inputs of weighted
/// layers given another type in [`QuantizeConfig::layer_formats`], and, walking backwards, the
/// inputs of data movement and max pooling whose output was widened.
fn value_schemes(view: &View, layers: &[Layer], config: &QuantizeConfig) -> Vec<QScheme> {
    let mut out = vec![config.activations.scheme(); view.g.values.len()];
    if config.layer_formats.is_empty() {
        return out;
    }
    for layer in layers.iter().rev().filter(|l| l.quantized()) {
        let wanted = if layer.weight.is_some() {
            config
                .activation_type(&view.g.node(layer.nodes[0]).name)
                .scheme()
        } else if layer.kind.inherits() {
            out[layer.output().0]
        } else {
            continue;
        };
        for &x in &layer.inputs {
            if wanted.bits() > out[x.0].bits() {
                out[x.0] = wanted;
            }
        }
    }
    out
}

/// Names in [`QuantizeConfig::layer_formats`] that are no weighted layer's main node.
pub(crate) fn check_layer_formats(
    view: &View,
    layers: &[Layer],
    config: &QuantizeConfig,
) -> Result<(), QuantizeError> {
    for name in config.layer_formats.keys() {
        let known = layers
            .iter()
            .any(|l| l.weight.is_some() && &view.g.node(l.nodes[0]).name == name);
        if !known {
            return Err(QuantizeError::Config(format!(
                "layer_formats names `{name}`, which is no weighted layer's main node"
            )));
        }
    }
    Ok(())
}

/// The quantized weights of one weighted layer.
#[derive(Clone, Debug)]
pub(crate) struct LayerWeights {
    pub w: QWeights,
    pub bias: Option<QBias>,
    pub bound: Bound,
    pub rounding: RoundingReport,
}

/// Per layer its quantized weights, and the layers refused with the reason.
type Prepared = (Vec<Option<LayerWeights>>, Vec<(usize, String)>);

/// Quantizes the weights of every quantized weighted layer (rounded as configured, with the
/// statistics in `targets`). Layers whose bias does not fit int32 or whose accumulator bound
/// exceeds `i32` come back in the second list with the reason.
pub(crate) fn prepare_weights(
    view: &View,
    layers: &[Layer],
    tensors: &[Option<QTensor>],
    config: &QuantizeConfig,
    targets: &Targets,
) -> Result<Prepared, QuantizeError> {
    let mut out = vec![None; layers.len()];
    let mut refused = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        let (Some(wu), true) = (layer.weight, layer.quantized()) else {
            continue;
        };
        let wv = view.g.value(wu.value);
        let t = wv.konst.as_deref().expect("weights are constants");
        let layout = WeightLayout {
            axis: wu.axis,
            per_channel: config.per_channel,
            groups: config.group_size.map(|g| (wu.in_axis, g)),
        };
        let format = config.weight_format(&view.g.node(layer.nodes[0]).name);
        let nearest =
            quantize_weights(t, layout, format).map_err(|e| QuantizeError::calib(&wv.name, e))?;
        let float_bias = layer.bias.map(|b| {
            view.g
                .value(b)
                .konst
                .as_deref()
                .expect("biases are constants")
        });
        let target = targets.get(i).and_then(|t| t.as_ref());
        let rounded = round_layer(view.g, layout, nearest, float_bias, target, config)?;
        let w = rounded.w;
        let input = &tensors[layer.inputs[0].0]
            .as_ref()
            .expect("inputs of quantized layers are resolved")
            .qparams;
        let bias = match &rounded.bias {
            None => None,
            Some(bt) => match quantize_bias(bt, input, &w) {
                Ok(q) => Some(q),
                Err(reason) => {
                    refused.push((i, reason));
                    continue;
                }
            },
        };
        match accumulator_bound(wu.reduction, &w, input, bias.as_ref()) {
            Ok(bound) => {
                out[i] = Some(LayerWeights {
                    w,
                    bias,
                    bound,
                    rounding: rounded.report,
                })
            }
            Err(b) => refused.push((
                i,
                format!(
                    "int32 accumulator bound {b} exceeds 2^31 - 1 (reduction {})",
                    wu.reduction
                ),
            )),
        }
    }
    Ok((out, refused))
}
