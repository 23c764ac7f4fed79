//! Weights to their integer grid (int8, int4, ternary int2 or binary; symmetric, per output
//! channel, per tensor or group-wise; see [`WeightFormat`]), biases to int32 with scale
//! `s_x · s_w` and zero point 0, and the proof that the int32 accumulator cannot overflow.
use super::config::WeightFormat;
use crate::calibrate::{
    qparams_from_range, round_half_to_even, CalibError, QParams, QScheme, MIN_SCALE,
};
use mw_kernels::int8::overflow::{check_accumulator_fits_i32, ActRange};
use mw_tensor::{Data, Tensor};

/// Which weights share a scale.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Granularity {
    PerTensor,
    /// One scale per index of the output-channel axis.
    PerChannel,
    /// One scale per output channel and per block of `group_size` consecutive indices of
    /// `in_axis` (and per index of every other axis): ONNX's blocked quantization. `shape` is
    /// the scale tensor's shape.
    Grouped {
        in_axis: usize,
        group_size: usize,
        shape: Vec<usize>,
    },
}

/// A weight tensor quantized to its integer grid.
#[derive(Clone, Debug)]
pub(crate) struct QWeights {
    /// The float weight's shape, in the format's element type (int8 or int4).
    pub q: Tensor,
    pub format: WeightFormat,
    /// Scales in row-major order of their layout: one, one per channel, or the blocked shape.
    pub scales: Vec<f32>,
    /// One scale per output channel (the largest of its groups), for the bias.
    pub channel_scales: Vec<f32>,
    pub granularity: Granularity,
    /// Largest `|q|`.
    pub max_abs: u32,
}

/// A bias quantized to int32 (shape `[n]`).
#[derive(Clone, Debug)]
pub(crate) struct QBias {
    pub q: Tensor,
    /// `s_x · s_w` per channel (one value when the weights are per tensor).
    pub scales: Vec<f32>,
    pub max_abs: u64,
}

/// The accumulator bound of one weighted layer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bound {
    pub reduction: usize,
    pub max_abs_input: u64,
    /// `reduction · max|w| · max|x − zx| + max|bias|`.
    pub bound: u64,
}

/// How the weights of a layer are laid out: the output-channel axis, and for group-wise scales
/// the input-channel axis and the group size.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WeightLayout {
    pub axis: usize,
    pub per_channel: bool,
    /// `(input-channel axis, group size)`.
    pub groups: Option<(usize, usize)>,
}

/// `q = clamp(round_half_to_even(w / s), -qmax, qmax)` (binary: `+1` for `w >= 0`, else `-1`)
/// with the scale of `w`'s slot under `layout` chosen by the format's rule.
pub(crate) fn quantize_weights(
    w: &Tensor,
    layout: WeightLayout,
    format: WeightFormat,
) -> Result<QWeights, CalibError> {
    let data = w
        .as_slice::<f32>()
        .map_err(|_| CalibError::DType(w.dtype()))?;
    let bad = data.iter().filter(|x| !x.is_finite()).count();
    if bad > 0 {
        return Err(CalibError::NonFiniteWeights(bad));
    }
    let shape = w.shape();
    if layout.axis >= shape.len().max(1) {
        return Err(CalibError::Axis {
            axis: layout.axis,
            rank: shape.len(),
        });
    }
    let (granularity, slot_of) = slots(shape, layout);
    let n_slots = slot_of.iter().max().map_or(1, |m| m + 1);
    let mut members: Vec<Vec<f32>> = vec![Vec::new(); n_slots];
    for (&x, &s) in data.iter().zip(&slot_of) {
        members[s].push(x);
    }
    let scales = members
        .iter()
        .map(|v| slot_scale(v, format))
        .collect::<Result<Vec<f32>, _>>()?;
    let qmax = format.qmax();
    let mut q = Vec::with_capacity(data.len());
    let mut max_abs = 0u32;
    for (&x, &s) in data.iter().zip(&slot_of) {
        let v = match format {
            WeightFormat::Binary => {
                if x >= 0.0 {
                    1
                } else {
                    -1
                }
            }
            _ => round_half_to_even(x / scales[s]).clamp(-qmax, qmax) as i8,
        };
        max_abs = max_abs.max(v.unsigned_abs() as u32);
        q.push(v);
    }
    let channels = if layout.per_channel {
        shape[layout.axis]
    } else {
        1
    };
    let inner: usize = shape[layout.axis + 1..].iter().product();
    let mut channel_scales = vec![0f32; channels];
    for (i, &s) in slot_of.iter().enumerate() {
        let c = if layout.per_channel {
            (i / inner.max(1)) % channels
        } else {
            0
        };
        channel_scales[c] = channel_scales[c].max(scales[s]);
    }
    let bad_dtype = |_| CalibError::DType(w.dtype());
    let q = Tensor::narrow(format.dtype(), shape.to_vec(), Data::I8(q)).map_err(bad_dtype)?;
    Ok(QWeights {
        q,
        format,
        scales,
        channel_scales,
        granularity,
        max_abs,
    })
}

/// The scale of every element of a weight of `shape` quantized under `layout` with `scales` (as
/// [`quantize_weights`] returned them), in the weight's element order.
pub(crate) fn element_scales(shape: &[usize], layout: WeightLayout, scales: &[f32]) -> Vec<f32> {
    let (_, slot_of) = slots(shape, layout);
    slot_of.iter().map(|&s| scales[s]).collect()
}

/// The granularity and, per element, the index of its scale.
fn slots(shape: &[usize], layout: WeightLayout) -> (Granularity, Vec<usize>) {
    let n: usize = shape.iter().product();
    let strides = mw_tensor::strides_of(shape);
    let coord = |i: usize, a: usize| (i / strides[a]) % shape[a];
    if !layout.per_channel {
        return (Granularity::PerTensor, vec![0; n]);
    }
    match layout.groups {
        Some((in_axis, g)) if g > 0 && in_axis < shape.len() && shape[in_axis] > 1 => {
            let mut sshape = shape.to_vec();
            sshape[in_axis] = shape[in_axis].div_ceil(g);
            let sstrides = mw_tensor::strides_of(&sshape);
            let slot = |i: usize| {
                (0..shape.len())
                    .map(|a| {
                        let c = coord(i, a);
                        sstrides[a] * if a == in_axis { c / g } else { c }
                    })
                    .sum()
            };
            let granularity = Granularity::Grouped {
                in_axis,
                group_size: g,
                shape: sshape,
            };
            (granularity, (0..n).map(slot).collect())
        }
        _ => (
            Granularity::PerChannel,
            (0..n).map(|i| coord(i, layout.axis)).collect(),
        ),
    }
}

/// The scale of one group of weights sharing it:
/// * int8, int4: `max|w| / qmax` (as `qparams_from_range` of the symmetric grid);
/// * int2 (ternary): the scale among `max|w| · k / 64`, `k = 1..=64`, with the least squared
///   error `Σ (w − s·q(w))²` under nearest rounding (the first on ties);
/// * binary: `mean|w|`, which minimizes `Σ (w − s·sign(w))²`.
///
/// All-zero groups get [`MIN_SCALE`].
fn slot_scale(v: &[f32], format: WeightFormat) -> Result<f32, CalibError> {
    let amax = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    if amax == 0.0 {
        return Ok(MIN_SCALE);
    }
    Ok(match format {
        WeightFormat::Int8 | WeightFormat::Int4 => {
            let scheme = QScheme::new(format.bits() as u8, true, true)?;
            qparams_from_range((-amax, amax), scheme)?.scale
        }
        WeightFormat::Int2 => {
            let err = |s: f32| -> f64 {
                v.iter()
                    .map(|&x| {
                        let q = round_half_to_even(x / s).clamp(-1.0, 1.0);
                        ((x - s * q) as f64).powi(2)
                    })
                    .sum()
            };
            let mut best = (f64::INFINITY, amax);
            for k in 1..=64u32 {
                let s = amax * k as f32 / 64.0;
                let e = err(s);
                if e < best.0 {
                    best = (e, s);
                }
            }
            best.1.max(MIN_SCALE)
        }
        WeightFormat::Binary => {
            let mean = v.iter().map(|x| x.abs() as f64).sum::<f64>() / v.len() as f64;
            (mean as f32).max(MIN_SCALE)
        }
    })
}

/// `b_q[c] = round_half_to_even(b[c] / (s_x · s_w[c]))` as int32; the scale product is taken in
/// f32 (the value `DequantizeLinear` multiplies by). Fails when a value does not fit int32.
pub(crate) fn quantize_bias(b: &Tensor, input: &QParams, w: &QWeights) -> Result<QBias, String> {
    let data = b.as_slice::<f32>().map_err(|e| e.to_string())?;
    let scales: Vec<f32> = w.channel_scales.iter().map(|&s| input.scale * s).collect();
    let mut q = Vec::with_capacity(data.len());
    let mut max_abs = 0u64;
    for (c, &x) in data.iter().enumerate() {
        let s = if scales.len() == 1 {
            scales[0]
        } else {
            scales[c]
        };
        let v = (x as f64 / s as f64).round_ties_even();
        if !v.is_finite() || v.abs() > i32::MAX as f64 {
            return Err(format!("bias value {x} at scale {s:e} does not fit int32"));
        }
        max_abs = max_abs.max(v.abs() as u64);
        q.push(v as i32);
    }
    let q = Tensor::from_vec(vec![data.len()], q).map_err(|e| e.to_string())?;
    Ok(QBias { q, scales, max_abs })
}

/// The worst case `|Σ w·(x − zx)| + |bias|` over every int8 input on the input's grid, checked
/// against `i32` with `mw_kernels::int8::overflow`. `Err` carries the bound that does not fit.
pub(crate) fn accumulator_bound(
    reduction: usize,
    w: &QWeights,
    input: &QParams,
    bias: Option<&QBias>,
) -> Result<Bound, u64> {
    let act = ActRange {
        min: input.scheme.qmin(),
        max: input.scheme.qmax(),
        zero_point: input.zero_point,
    };
    let bias_abs = bias.map_or(0, |b| b.max_abs);
    let acc = mw_kernels::int8::overflow::max_abs_accumulator(reduction, w.max_abs, act);
    let total = acc.saturating_add(bias_abs);
    let bias32 = u32::try_from(bias_abs).map_err(|_| total)?;
    check_accumulator_fits_i32(reduction, w.max_abs, act, bias32).map_err(|_| total)?;
    Ok(Bound {
        reduction,
        max_abs_input: act.max_abs(),
        bound: total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibrate::{qparams_from_range, QScheme};

    fn per_channel(axis: usize) -> WeightLayout {
        WeightLayout {
            axis,
            per_channel: true,
            groups: None,
        }
    }

    #[test]
    fn int4_grid_is_symmetric_seven() {
        let w = Tensor::from_vec(vec![1, 4], vec![0.7f32, -0.32, 0.05, -0.7]).unwrap();
        let q = quantize_weights(&w, per_channel(0), WeightFormat::Int4).unwrap();
        assert_eq!(q.q.dtype(), mw_tensor::DType::I4);
        assert_eq!(q.q.as_storage_slice::<i8>().unwrap(), &[7, -3, 0, -7]);
        assert!((q.scales[0] - 0.1).abs() < 1e-7);
        assert_eq!(q.max_abs, 7);
    }

    #[test]
    fn binary_is_sign_times_mean_abs() {
        let w = Tensor::from_vec(vec![2, 2], vec![0.5f32, -1.5, 0.0, -0.2]).unwrap();
        let q = quantize_weights(&w, per_channel(0), WeightFormat::Binary).unwrap();
        assert_eq!(q.q.as_storage_slice::<i8>().unwrap(), &[1, -1, 1, -1]);
        assert_eq!(q.scales, vec![1.0, 0.1]);
    }

    #[test]
    fn ternary_scale_has_least_error() {
        // Three large and many small weights: a scale near the large ones zeroes the small.
        let mut v = vec![1.0f32, -1.0, 0.9];
        v.extend(std::iter::repeat_n(0.05f32, 13));
        let w = Tensor::from_vec(vec![1, 16], v).unwrap();
        let q = quantize_weights(&w, per_channel(0), WeightFormat::Int2).unwrap();
        let vals = q.q.as_storage_slice::<i8>().unwrap();
        assert_eq!(&vals[..4], &[1, -1, 1, 0]);
        assert!(vals.iter().all(|v| (-1..=1).contains(v)));
        assert!(q.scales[0] > 0.8 && q.scales[0] <= 1.0, "{}", q.scales[0]);
    }

    #[test]
    fn groups_along_input_channels() {
        // MatMul [K = 4, N = 2], output axis 1, groups of 2 along K (axis 0): scales [2, 2].
        let w =
            Tensor::from_vec(vec![4, 2], vec![7.0f32, 0.5, 0.0, 2.0, 0.7, 3.0, -0.3, 0.0]).unwrap();
        let layout = WeightLayout {
            axis: 1,
            per_channel: true,
            groups: Some((0, 2)),
        };
        let q = quantize_weights(&w, layout, WeightFormat::Int4).unwrap();
        assert_eq!(
            q.granularity,
            Granularity::Grouped {
                in_axis: 0,
                group_size: 2,
                shape: vec![2, 2]
            }
        );
        assert_eq!(q.scales.len(), 4);
        assert!((q.scales[0] - 1.0).abs() < 1e-6 && (q.scales[2] - 0.1).abs() < 1e-6);
        assert_eq!(
            q.q.as_storage_slice::<i8>().unwrap(),
            &[7, 2, 0, 7, 7, 7, -3, 0]
        );
        // The bias scale of each channel is its largest group scale.
        assert_eq!(q.channel_scales.len(), 2);
        assert!((q.channel_scales[0] - 1.0).abs() < 1e-6);
        assert!((q.channel_scales[1] - 3.0 / 7.0).abs() < 1e-6);
    }

    #[test]
    fn per_channel_weights_and_bias() {
        // [2 channels, 3]: channel 0 max 2.54, channel 1 max 0.5.
        let w = Tensor::from_vec(vec![2, 3], vec![1.0f32, -2.54, 0.5, 0.125, -0.5, 0.0]).unwrap();
        let q = quantize_weights(&w, per_channel(0), WeightFormat::Int8).unwrap();
        assert_eq!(q.q.as_slice::<i8>().unwrap(), &[50, -127, 25, 32, -127, 0]);
        assert_eq!(q.max_abs, 127);
        let x = qparams_from_range((0.0, 2.55), QScheme::INT8_ASYMMETRIC).unwrap();
        let b = Tensor::from_vec(vec![2], vec![0.1f32, -0.2]).unwrap();
        let qb = quantize_bias(&b, &x, &q).unwrap();
        let s0 = x.scale * (2.54f32 / 127.0);
        assert_eq!(qb.scales[0], s0);
        assert_eq!(
            qb.q.as_slice::<i32>().unwrap()[0],
            (0.1f64 / s0 as f64).round() as i32
        );
        let bound = accumulator_bound(3, &q, &x, Some(&qb)).unwrap();
        assert_eq!(bound.bound, 3 * 127 * 255 + qb.max_abs);
        // Along axis 1 of the same tensor: three channels.
        let q = quantize_weights(&w, per_channel(1), WeightFormat::Int8).unwrap();
        assert_eq!(q.scales.len(), 3);
        let layout = WeightLayout {
            per_channel: false,
            ..per_channel(0)
        };
        let q = quantize_weights(&w, layout, WeightFormat::Int8).unwrap();
        assert_eq!(q.scales, vec![2.54 / 127.0]);
    }

    #[test]
    fn overflow_is_detected() {
        let w = Tensor::from_vec(vec![1, 150_000], vec![1.0f32; 150_000]).unwrap();
        let q = quantize_weights(&w, per_channel(0), WeightFormat::Int8).unwrap();
        let x = qparams_from_range((-1.0, 1.0), QScheme::INT8_ASYMMETRIC).unwrap();
        let err = accumulator_bound(150_000, &q, &x, None).unwrap_err();
        assert_eq!(err, 150_000 * 127 * 128);
        // A bias too large for int32 at this scale.
        let b = Tensor::from_vec(vec![1], vec![1e9f32]).unwrap();
        assert!(quantize_bias(&b, &x, &q).is_err());
    }
}
