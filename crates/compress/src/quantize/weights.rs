//! Weights to int8 (symmetric, per output channel or per tensor), biases to int32 with scale
//! `s_x · s_w` and zero point 0, and the proof that the int32 accumulator cannot overflow.
use crate::calibrate::{round_half_to_even, weight_scales, CalibError, QParams};
use mw_kernels::int8::overflow::{check_accumulator_fits_i32, ActRange};
use mw_tensor::Tensor;

/// Largest stored weight magnitude: the restricted symmetric grid `[-127, 127]`.
const WMAX: f32 = 127.0;

/// A weight tensor quantized to int8.
#[derive(Clone, Debug)]
pub(crate) struct QWeights {
    /// int8, the float weight's shape.
    pub q: Tensor,
    /// One scale per channel along `axis`, or one for the tensor.
    pub scales: Vec<f32>,
    pub per_channel: bool,
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

/// `q = clamp(round_half_to_even(w / s_c), -127, 127)`, scales from [`weight_scales`].
pub(crate) fn quantize_weights(
    w: &Tensor,
    axis: usize,
    per_channel: bool,
) -> Result<QWeights, CalibError> {
    let scales = weight_scales(w, per_channel.then_some(axis), 8)?;
    let data = w
        .as_slice::<f32>()
        .map_err(|_| CalibError::DType(w.dtype()))?;
    let channels = scales.len();
    let inner: usize = w.shape().iter().skip(axis + 1).product();
    let mut q = Vec::with_capacity(data.len());
    let mut max_abs = 0u32;
    for (i, &x) in data.iter().enumerate() {
        let s = if per_channel {
            scales[(i / inner.max(1)) % channels]
        } else {
            scales[0]
        };
        let v = round_half_to_even(x / s).clamp(-WMAX, WMAX) as i8;
        max_abs = max_abs.max(v.unsigned_abs() as u32);
        q.push(v);
    }
    let q = Tensor::from_vec(w.shape().to_vec(), q).map_err(|_| CalibError::DType(w.dtype()))?;
    Ok(QWeights {
        q,
        scales,
        per_channel,
        max_abs,
    })
}

/// `b_q[c] = round_half_to_even(b[c] / (s_x · s_w[c]))` as int32; the scale product is taken in
/// f32 (the value `DequantizeLinear` multiplies by). Fails when a value does not fit int32.
pub(crate) fn quantize_bias(b: &Tensor, input: &QParams, w: &QWeights) -> Result<QBias, String> {
    let data = b.as_slice::<f32>().map_err(|e| e.to_string())?;
    let scales: Vec<f32> = w.scales.iter().map(|&s| input.scale * s).collect();
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

    #[test]
    fn per_channel_weights_and_bias() {
        // [2 channels, 3]: channel 0 max 2.54, channel 1 max 0.5.
        let w = Tensor::from_vec(vec![2, 3], vec![1.0f32, -2.54, 0.5, 0.125, -0.5, 0.0]).unwrap();
        let q = quantize_weights(&w, 0, true).unwrap();
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
        let q = quantize_weights(&w, 1, true).unwrap();
        assert_eq!(q.scales.len(), 3);
        let q = quantize_weights(&w, 0, false).unwrap();
        assert_eq!(q.scales, vec![2.54 / 127.0]);
    }

    #[test]
    fn overflow_is_detected() {
        let w = Tensor::from_vec(vec![1, 150_000], vec![1.0f32; 150_000]).unwrap();
        let q = quantize_weights(&w, 0, true).unwrap();
        let x = qparams_from_range((-1.0, 1.0), QScheme::INT8_ASYMMETRIC).unwrap();
        let err = accumulator_bound(150_000, &q, &x, None).unwrap_err();
        assert_eq!(err, 150_000 * 127 * 128);
        // A bias too large for int32 at this scale.
        let b = Tensor::from_vec(vec![1], vec![1e9f32]).unwrap();
        assert!(quantize_bias(&b, &x, &q).is_err());
    }
}
