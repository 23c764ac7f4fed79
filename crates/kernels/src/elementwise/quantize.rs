//! Linear quantization: `q = saturate(round_half_to_even(x / scale) + zero_point)` and
//! `x = (q - zero_point) * scale`, per tensor, per axis or per block along one axis.
use super::{with_capacity, ElementwiseError};

/// The one rounding function of milliwatt's quantization: to the nearest integer, ties to even
/// (`0.5 → 0`, `1.5 → 2`, `-2.5 → -2`), as ONNX QuantizeLinear and C `nearbyint` in the default
/// rounding mode. NaN and ±inf are returned unchanged.
pub fn round_half_to_even(x: f32) -> f32 {
    x.round_ties_even()
}

/// An integer type quantized values are stored in.
pub trait QuantInt: Copy + Default + Send + Sync + 'static {
    /// The type's bounds as exactly representable `f32` values.
    const MIN_F32: f32;
    const MAX_F32: f32;
    /// The value of an `f32` already integral and within `[MIN_F32, MAX_F32]`.
    fn from_integral_f32(v: f32) -> Self;
    fn to_i64(self) -> i64;
}

macro_rules! quant_int {
    ($($t:ty),*) => {$(
        impl QuantInt for $t {
            const MIN_F32: f32 = <$t>::MIN as f32;
            const MAX_F32: f32 = <$t>::MAX as f32;
            fn from_integral_f32(v: f32) -> Self {
                v as $t
            }
            fn to_i64(self) -> i64 {
                self as i64
            }
        }
    )*};
}

quant_int!(i8, u8, i16, u16);

/// `i32` is a dequantization input only (accumulators and biases); its bounds are not exactly
/// representable in `f32`, so quantizing to it is not offered.
impl QuantInt for i32 {
    const MIN_F32: f32 = i32::MIN as f32;
    const MAX_F32: f32 = 2_147_483_520.0; // the largest f32 below 2^31
    fn from_integral_f32(v: f32) -> Self {
        v as i32
    }
    fn to_i64(self) -> i64 {
        self as i64
    }
}

/// Which scale (and zero point) applies to an element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantGranularity {
    /// One scale for the tensor.
    PerTensor,
    /// One scale per index along the axis (`scale.len() == n`).
    PerAxis,
    /// One scale per block of `block_size` consecutive indices along the axis; the scale tensor
    /// has the input's shape with the axis reduced to `ceil(n / block_size)`.
    Blocked { block_size: usize },
}

/// The input seen as `[outer, n, inner]` around the quantization axis, and the granularity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuantLayout {
    pub outer: usize,
    pub n: usize,
    pub inner: usize,
    pub granularity: QuantGranularity,
}

impl QuantLayout {
    /// Layout of `shape` around `axis` (ignored per tensor; must be `< shape.len()` otherwise).
    pub fn of(shape: &[usize], axis: usize, granularity: QuantGranularity) -> QuantLayout {
        let axis = axis.min(shape.len().saturating_sub(1));
        let prod = |d: &[usize]| d.iter().product::<usize>();
        let (outer, n, inner) = match shape.len() {
            0 => (1, 1, 1),
            _ => (prod(&shape[..axis]), shape[axis], prod(&shape[axis + 1..])),
        };
        QuantLayout {
            outer,
            n,
            inner,
            granularity,
        }
    }

    /// Number of scales the layout needs.
    pub fn scale_len(&self) -> Option<usize> {
        match self.granularity {
            QuantGranularity::PerTensor => Some(1),
            QuantGranularity::PerAxis => Some(self.n),
            QuantGranularity::Blocked { block_size } if block_size > 0 => self
                .outer
                .checked_mul(self.n.div_ceil(block_size))?
                .checked_mul(self.inner),
            QuantGranularity::Blocked { .. } => None,
        }
    }

    /// Scale index of the element at `[o, a, i]`.
    fn scale_index(&self, o: usize, a: usize, i: usize) -> usize {
        match self.granularity {
            QuantGranularity::PerTensor => 0,
            QuantGranularity::PerAxis => a,
            QuantGranularity::Blocked { block_size } => {
                (o * self.n.div_ceil(block_size) + a / block_size) * self.inner + i
            }
        }
    }

    /// Checks the element count, the scale count and the zero-point count (when given).
    fn check(&self, len: usize, scales: usize, zps: Option<usize>) -> Result<(), ElementwiseError> {
        let total = self
            .outer
            .checked_mul(self.n)
            .and_then(|v| v.checked_mul(self.inner));
        let want = self.scale_len();
        if total != Some(len) || want != Some(scales) || zps.is_some_and(|z| Some(z) != want) {
            return Err(ElementwiseError::Layout(format!(
                "quantization layout {self:?} does not fit {len} elements, {scales} scales, \
                 {zps:?} zero points"
            )));
        }
        Ok(())
    }

    /// Calls `f(element index, scale index)` for every element in row-major order.
    fn for_each(&self, mut f: impl FnMut(usize, usize)) {
        let mut k = 0;
        for o in 0..self.outer {
            for a in 0..self.n {
                for i in 0..self.inner {
                    f(k, self.scale_index(o, a, i));
                    k += 1;
                }
            }
        }
    }
}

/// Quantizes one value: `round_half_to_even(x / scale) + zero_point`, saturated to `Q`'s range.
/// NaN quantizes to `Q`'s minimum (as ONNX Runtime does).
pub fn quantize_value<Q: QuantInt>(x: f32, scale: f32, zero_point: Q) -> Q {
    let v = round_half_to_even(x / scale) + zero_point.to_i64() as f32;
    if v.is_nan() {
        return Q::from_integral_f32(Q::MIN_F32);
    }
    Q::from_integral_f32(v.clamp(Q::MIN_F32, Q::MAX_F32))
}

/// QuantizeLinear over `x` with one scale (and zero point, default 0) per layout group.
pub fn quantize_linear<Q: QuantInt>(
    x: &[f32],
    scale: &[f32],
    zero_point: Option<&[Q]>,
    layout: QuantLayout,
) -> Result<Vec<Q>, ElementwiseError> {
    layout.check(x.len(), scale.len(), zero_point.map(<[Q]>::len))?;
    let mut out = with_capacity(x.len())?;
    layout.for_each(|k, s| {
        let zp = zero_point.map_or(Q::default(), |z| z[s]);
        out.push(quantize_value(x[k], scale[s], zp));
    });
    Ok(out)
}

/// DequantizeLinear: `(q - zero_point) * scale`, the difference computed exactly in integers
/// and converted to `f32` before the multiplication (as ONNX Runtime does).
pub fn dequantize_linear<Q: QuantInt>(
    q: &[Q],
    scale: &[f32],
    zero_point: Option<&[Q]>,
    layout: QuantLayout,
) -> Result<Vec<f32>, ElementwiseError> {
    layout.check(q.len(), scale.len(), zero_point.map(<[Q]>::len))?;
    let mut out = with_capacity(q.len())?;
    layout.for_each(|k, s| {
        let zp = zero_point.map_or(0, |z| z[s].to_i64());
        out.push((q[k].to_i64() - zp) as f32 * scale[s]);
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_half_to_even() {
        let r: Vec<f32> = [0.5f32, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, 2.6]
            .iter()
            .map(|&v| round_half_to_even(v))
            .collect();
        assert_eq!(r, vec![0.0, 2.0, 2.0, -0.0, -2.0, -2.0, 2.0, 3.0]);
    }

    #[test]
    fn per_tensor_quantize_saturates() {
        let l = QuantLayout::of(&[6], 1, QuantGranularity::PerTensor);
        let q = quantize_linear(
            &[0.0, 2.0, 3.0, 1000.0, -254.0, -1000.0],
            &[2.0],
            Some(&[128u8]),
            l,
        )
        .unwrap();
        assert_eq!(q, vec![128, 129, 130, 255, 1, 0]);
        let q =
            quantize_linear::<i8>(&[f32::NAN, f32::INFINITY, -3.0], &[1.0], None, l).unwrap_err();
        assert!(matches!(q, ElementwiseError::Layout(_)));
        let l3 = QuantLayout::of(&[3], 0, QuantGranularity::PerTensor);
        let q =
            quantize_linear(&[f32::NAN, f32::INFINITY, -3.0], &[1.0], Some(&[5i8]), l3).unwrap();
        assert_eq!(q, vec![-128, 127, 2]);
    }

    #[test]
    fn per_axis_round_trip() {
        // shape [1, 3, 2], axis 1
        let l = QuantLayout::of(&[1, 3, 2], 1, QuantGranularity::PerAxis);
        let x = [-162.0f32, 10.0, -100.0, 232.0, -20.0, -50.0];
        let q = quantize_linear(&x, &[2.0, 4.0, 5.0], Some(&[84u8, 24, 196]), l).unwrap();
        assert_eq!(q, vec![3, 89, 0, 82, 192, 186]);
        let y = dequantize_linear(&q, &[2.0, 4.0, 5.0], Some(&[84u8, 24, 196]), l).unwrap();
        assert_eq!(y, vec![-162.0, 10.0, -96.0, 232.0, -20.0, -50.0]);
    }

    #[test]
    fn blocked_uses_one_scale_per_block() {
        // shape [3, 4], axis 1, block 2: scales [3, 2].
        let l = QuantLayout::of(&[3, 4], 1, QuantGranularity::Blocked { block_size: 2 });
        assert_eq!(l.scale_len(), Some(6));
        let x = [
            6.0f32, 12.0, 50.0, 5.0, 1.0, 8.0, 4.0, 5.0, 0.0, 20.0, 10.0, 4.0,
        ];
        let s = [1.5f32, 2.5, 3.0, 4.9, 5.1, 6.9];
        let q = quantize_linear(&x, &s, Some(&[0u8, 1, 1, 0, 2, 3]), l).unwrap();
        assert_eq!(q, vec![4, 8, 21, 3, 1, 4, 1, 1, 2, 6, 4, 4]);
    }

    #[test]
    fn blocked_with_a_partial_last_block() {
        let l = QuantLayout::of(&[5], 0, QuantGranularity::Blocked { block_size: 2 });
        assert_eq!(l.scale_len(), Some(3));
        let y = dequantize_linear(&[1i8, 1, 1, 1, 1], &[1.0, 2.0, 3.0], None, l).unwrap();
        assert_eq!(y, vec![1.0, 1.0, 2.0, 2.0, 3.0]);
    }

    #[test]
    fn dequantize_int16_and_int32() {
        let l = QuantLayout::of(&[4], 0, QuantGranularity::PerTensor);
        let y = dequantize_linear(&[-300i16, -30, -1025, 1270], &[2.0], Some(&[-1024]), l).unwrap();
        assert_eq!(y, vec![1448.0, 1988.0, -2.0, 4588.0]);
        let y = dequantize_linear(&[i32::MIN, 7, 0, -7], &[0.5], None, l).unwrap();
        assert_eq!(y, vec![-1_073_741_824.0, 3.5, 0.0, -3.5]);
    }

    #[test]
    fn mismatched_scale_count_is_an_error() {
        let l = QuantLayout::of(&[2, 3], 1, QuantGranularity::PerAxis);
        assert!(quantize_linear::<u8>(&[0.0; 6], &[1.0; 2], None, l).is_err());
        assert!(dequantize_linear(&[0u8; 6], &[1.0; 3], Some(&[0u8; 2]), l).is_err());
        let bad = QuantLayout::of(&[4], 0, QuantGranularity::Blocked { block_size: 0 });
        assert!(dequantize_linear(&[0u8; 4], &[1.0], None, bad).is_err());
    }
}
