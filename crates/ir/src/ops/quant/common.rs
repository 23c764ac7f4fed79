//! What the integer ops share: reading quantization parameters from their inputs, the fused clamp
//! attributes, the cache of parameters derived on first use, and error mapping.
//!
//! Scales are f32 inputs, zero points 8-bit (or int32 for biases) inputs, as in ONNX
//! `QLinearConv`. Floats are read only to *derive* fixed-point multipliers; the derived values are
//! cached per op (keyed by the parameter inputs' contents), so evaluation after the first call is
//! integer-only.
use crate::{Attr, Attrs, Fact, OpError};
use mw_kernels::int8::requant::QuantizedMultiplier;
use mw_kernels::int8::{Int8Error, QuantElem};
use mw_tensor::{DType, Tensor};
use std::sync::{Arc, Mutex};

/// The 8-bit element types an integer op reads and writes.
pub(crate) const Q8: &str = "i8 or u8";

/// Refuses anything but an 8-bit integer dtype at input `index`.
pub(crate) fn check_q8(dtype: DType, index: usize) -> Result<(), OpError> {
    match dtype {
        DType::I8 | DType::U8 => Ok(()),
        actual => Err(bad_q8(index, actual)),
    }
}

/// The error for a non-8-bit dtype at input `index`.
pub(crate) fn bad_q8(index: usize, actual: DType) -> OpError {
    OpError::InputDType {
        index,
        expected: Q8.into(),
        actual,
    }
}

/// Refuses any dtype but `want` at input `index`.
pub(crate) fn check_dtype(dtype: DType, index: usize, want: DType) -> Result<(), OpError> {
    if dtype == want {
        Ok(())
    } else {
        Err(OpError::InputDType {
            index,
            expected: want.name().into(),
            actual: dtype,
        })
    }
}

/// Checks that the fact at `index` holds one element of `dtype` (a per-tensor parameter).
pub(crate) fn check_scalar(f: &Fact, index: usize, dtype: DType) -> Result<(), OpError> {
    check_dtype(f.dtype, index, dtype)?;
    if f.numel() != 1 || f.rank() > 1 {
        return Err(OpError::Shape(format!(
            "input #{index} must be a per-tensor parameter (one element), has shape {:?}",
            f.shape
        )));
    }
    Ok(())
}

/// Checks that the fact at `index` holds 1 or `n` elements of `dtype` in rank ≤ 1.
pub(crate) fn check_per_channel(
    f: &Fact,
    index: usize,
    dtype: DType,
    n: usize,
) -> Result<(), OpError> {
    check_dtype(f.dtype, index, dtype)?;
    if f.rank() > 1 || (f.numel() != 1 && f.numel() != n) {
        return Err(OpError::Shape(format!(
            "input #{index} must hold 1 or {n} values in rank ≤ 1, has shape {:?}",
            f.shape
        )));
    }
    Ok(())
}

/// A finite, positive f32 scale from a one-element tensor.
pub(crate) fn scale_of(t: &Tensor, index: usize) -> Result<f32, OpError> {
    let v = scales_of(t, index)?;
    match v.as_slice() {
        [s] => Ok(*s),
        _ => Err(OpError::Shape(format!(
            "input #{index} must hold one scale, holds {}",
            v.len()
        ))),
    }
}

/// Every value of a scale tensor, each finite and positive.
pub(crate) fn scales_of(t: &Tensor, index: usize) -> Result<Vec<f32>, OpError> {
    let v = t.as_slice::<f32>().map_err(|_| OpError::InputDType {
        index,
        expected: "f32".into(),
        actual: t.dtype(),
    })?;
    if let Some(bad) = v.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(OpError::Attribute {
            name: format!("input #{index}"),
            reason: format!("scale {bad} is not finite and positive"),
        });
    }
    Ok(v.to_vec())
}

/// Every value of an integer zero-point tensor as i32.
pub(crate) fn zero_points_of(t: &Tensor, index: usize) -> Result<Vec<i32>, OpError> {
    match t.dtype() {
        DType::I8 | DType::U8 | DType::I4 | DType::U4 | DType::I16 | DType::I32 => Ok(t
            .to_i64_vec()
            .map_err(OpError::from)?
            .into_iter()
            .map(|v| v as i32)
            .collect()),
        actual => Err(OpError::InputDType {
            index,
            expected: "i4, u4, i8, u8, i16 or i32".into(),
            actual,
        }),
    }
}

/// A one-element zero point of dtype `want`, or 0 when the input is absent.
pub(crate) fn zero_point_of(t: Option<&Tensor>, index: usize, want: DType) -> Result<i32, OpError> {
    let Some(t) = t else { return Ok(0) };
    check_dtype(t.dtype(), index, want)?;
    match zero_points_of(t, index)?.as_slice() {
        [z] => Ok(*z),
        v => Err(OpError::Shape(format!(
            "input #{index} must hold one zero point, holds {}",
            v.len()
        ))),
    }
}

/// Smallest real multiplier given the single-rounding form in [`multiplier`].
const SINGLE_ROUNDING_MIN: f64 = 1.0 / 2048.0;

/// The fixed-point form of a real multiplier `m ≥ 0`, chosen so that the project's one rounding
/// function (`mw_kernels::int8::requant::multiply_by_quantized_multiplier`) rounds **once**:
///
/// * `2^-11 ≤ m < 1`: `m0 = round(m · 2^31)` with exponent 0, an unnormalized Q0.31 mantissa of at
///   least 20 bits. With no right shift, the rounding function is its first step alone,
///   `round(x · m0 / 2^31)` with ties toward +∞: `x · m` rounded once, as ONNX Runtime and the
///   exact result round (but for exact ties). TFLite's normalized form (`m0 ∈ [2^30, 2^31)` and a
///   right shift `n`) rounds twice and lands one step off on about `2^-(n+1)` of the values; the
///   error of the unnormalized mantissa, at most `|x| · 2^-32`, is smaller for these `m`.
/// * `m ≥ 1`: the normalized form; its left shift is exact, so it also rounds once.
/// * `m < 2^-11`: the normalized form (an unnormalized mantissa would keep fewer than 20 bits).
pub(crate) fn multiplier(m: f64) -> Result<QuantizedMultiplier, OpError> {
    if (SINGLE_ROUNDING_MIN..1.0).contains(&m) {
        let m0 = (m * 2_147_483_648.0).round();
        if m0 < 2_147_483_648.0 {
            return Ok(QuantizedMultiplier {
                m0: m0 as i32,
                shift: 0,
            });
        }
    }
    QuantizedMultiplier::from_real(m).map_err(int8_error)
}

/// A kernel's refusal, as an op error.
pub(crate) fn int8_error(e: Int8Error) -> OpError {
    match e {
        Int8Error::Shape(s) => OpError::Shape(s),
        other => OpError::Unsupported(other.to_string()),
    }
}

/// The fused clamp `[qmin, qmax]` of an output, in stored (quantized) values: attributes `qmin` and
/// `qmax` of the `Mw` ops; absent bounds are the output type's range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clamp {
    pub qmin: Option<i64>,
    pub qmax: Option<i64>,
}

impl Clamp {
    pub(crate) fn from_attrs(attrs: &Attrs) -> Result<Clamp, OpError> {
        let c = Clamp {
            qmin: attrs.int("qmin")?,
            qmax: attrs.int("qmax")?,
        };
        if let (Some(lo), Some(hi)) = (c.qmin, c.qmax) {
            if lo > hi {
                return Err(OpError::Attribute {
                    name: "qmin".into(),
                    reason: format!("{lo} exceeds qmax {hi}"),
                });
            }
        }
        Ok(c)
    }

    pub(crate) fn write(&self, mut attrs: Attrs) -> Attrs {
        if let Some(v) = self.qmin {
            attrs.set("qmin", Attr::Int(v));
        }
        if let Some(v) = self.qmax {
            attrs.set("qmax", Attr::Int(v));
        }
        attrs
    }

    /// Whether no bound is stated.
    pub fn is_none(&self) -> bool {
        self.qmin.is_none() && self.qmax.is_none()
    }

    /// The bounds within `T`'s range; an error when they leave no value.
    pub(crate) fn range<T: QuantElem>(&self) -> Result<(i32, i32), OpError> {
        let lo = self
            .qmin
            .map_or(T::MIN, |v| v.clamp(T::MIN.into(), T::MAX.into()) as i32);
        let hi = self
            .qmax
            .map_or(T::MAX, |v| v.clamp(T::MIN.into(), T::MAX.into()) as i32);
        if lo > hi {
            return Err(OpError::Attribute {
                name: "qmin".into(),
                reason: format!("clamp [{lo}, {hi}] is empty for the output type"),
            });
        }
        Ok((lo, hi))
    }

    /// Applies the clamp to stored values of `T` in place.
    pub(crate) fn apply<T: QuantElem>(&self, v: &mut [T]) -> Result<(), OpError> {
        if self.is_none() {
            return Ok(());
        }
        let (lo, hi) = self.range::<T>()?;
        for x in v {
            *x = T::saturate(x.to_i32().clamp(lo, hi));
        }
        Ok(())
    }
}

/// Parameters derived from an op's parameter inputs on first use, reused while those inputs keep
/// the same contents (compared exactly).
pub(crate) struct Cache<P> {
    slot: Mutex<Option<Entry<P>>>,
}

/// The parameter inputs a cache entry was derived from, and what was derived.
type Entry<P> = (Vec<Option<Tensor>>, Arc<P>);

impl<P> Default for Cache<P> {
    fn default() -> Self {
        Cache {
            slot: Mutex::new(None),
        }
    }
}

impl<P> Clone for Cache<P> {
    /// A clone starts empty: derived parameters are cheap to rebuild and never shared.
    fn clone(&self) -> Self {
        Cache::default()
    }
}

impl<P> std::fmt::Debug for Cache<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cache")
    }
}

impl<P> PartialEq for Cache<P> {
    /// Caches never distinguish ops.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<P> Cache<P> {
    /// The parameters for `key`, built by `build` when the cached ones were derived from other
    /// inputs (or none are cached).
    pub(crate) fn get(
        &self,
        key: &[Option<&Tensor>],
        build: impl FnOnce() -> Result<P, OpError>,
    ) -> Result<Arc<P>, OpError> {
        let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((k, p)) = slot.as_ref() {
            if k.len() == key.len() && k.iter().zip(key).all(|(a, b)| a.as_ref() == *b) {
                return Ok(Arc::clone(p));
            }
        }
        let p = Arc::new(build()?);
        *slot = Some((key.iter().map(|t| t.cloned()).collect(), Arc::clone(&p)));
        Ok(p)
    }
}

/// `(elements, bytes)` of the constant inputs among `indices`.
pub(crate) fn constant_params(inputs: &[Option<&Fact>], indices: &[usize]) -> (u64, u64) {
    indices
        .iter()
        .filter_map(|&i| inputs.get(i).copied().flatten())
        .filter_map(|f| f.konst.as_deref())
        .fold((0, 0), |(n, b), t| {
            (n + t.len() as u64, b + t.byte_len() as u64)
        })
}

/// Runs `$body` with `$T` bound to `i8` or `u8` according to `$dt`; other dtypes give `$other`.
macro_rules! dispatch_q8 {
    ($dt:expr, $T:ident => $body:expr, _ => $other:expr) => {
        match $dt {
            mw_tensor::DType::I8 => {
                type $T = i8;
                $body
            }
            mw_tensor::DType::U8 => {
                type $T = u8;
                $body
            }
            _ => $other,
        }
    };
}
pub(crate) use dispatch_q8;

/// Runs `$body` with `$T` and `$U` bound to the 8-bit types of `$a` and `$b`.
macro_rules! dispatch_q8_pair {
    ($a:expr, $b:expr, $T:ident, $U:ident => $body:expr, _ => $other:expr) => {
        $crate::ops::quant::common::dispatch_q8!($a, $T => {
            $crate::ops::quant::common::dispatch_q8!($b, $U => $body, _ => $other)
        }, _ => $other)
    };
}
pub(crate) use dispatch_q8_pair;

#[cfg(test)]
pub(crate) mod testutil {
    //! Small helpers for the integer ops' unit tests.
    use mw_tensor::{Element, Tensor};

    pub fn t<T: Element>(shape: &[usize], v: Vec<T>) -> Tensor {
        Tensor::from_vec(shape.to_vec(), v).expect("valid test tensor")
    }

    pub fn s(v: f32) -> Tensor {
        Tensor::scalar(v)
    }

    pub fn z<T: Element>(v: T) -> Tensor {
        Tensor::scalar(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamp_range_is_clipped_to_the_type() {
        let c = Clamp {
            qmin: Some(-200),
            qmax: Some(10),
        };
        assert_eq!(c.range::<i8>().unwrap(), (-128, 10));
        assert_eq!(c.range::<u8>().unwrap(), (0, 10));
        let mut v = [-128i8, 0, 11, 127];
        c.apply(&mut v).unwrap();
        assert_eq!(v, [-128, 0, 10, 10]);
        let empty = Clamp {
            qmin: Some(300),
            qmax: None,
        };
        assert!(empty.range::<u8>().is_ok());
        assert!(Clamp::from_attrs(
            &Clamp {
                qmin: Some(5),
                qmax: Some(4)
            }
            .write(Attrs::new())
        )
        .is_err());
    }

    #[test]
    fn multipliers_round_once() {
        use mw_kernels::int8::requant::multiply_by_quantized_multiplier as mbqm;
        // 0.3 with TFLite's normalized form rounds 45 · 0.3 = 13.5 → 14 but 15 · 0.3 = 4.5 → 5
        // after a first rounding; check against exact rounding of x · m0 / 2^31 over a range.
        for m in [0.3f64, 0.0123, 1.0 / 2048.0, 0.999_999_999, 1.0, 3.7] {
            let q = multiplier(m).unwrap();
            assert!((q.to_real() - m).abs() <= m * 1e-6, "{m}: {q:?}");
            for x in -5000i32..5000 {
                let exact = f64::from(x) * q.to_real();
                let got = mbqm(x, q);
                assert_eq!(got, (exact + 0.5).floor() as i32, "{m} · {x}");
            }
        }
        assert_eq!(
            multiplier(1e-4).unwrap(),
            QuantizedMultiplier::from_real(1e-4).unwrap()
        );
        assert!(multiplier(-1.0).is_err());
    }

    #[test]
    fn cache_rebuilds_only_when_parameters_change() {
        let cache: Cache<u32> = Cache::default();
        let a = Tensor::scalar(1.0f32);
        let b = Tensor::scalar(2.0f32);
        let mut builds = 0;
        for t in [&a, &a, &b, &b, &a] {
            cache
                .get(&[Some(t), None], || {
                    builds += 1;
                    Ok(7)
                })
                .unwrap();
        }
        assert_eq!(builds, 3);
    }

    #[test]
    fn bad_scales_and_zero_points_are_typed_errors() {
        assert!(scale_of(&Tensor::scalar(0.0f32), 1).is_err());
        assert!(scale_of(&Tensor::scalar(f32::NAN), 1).is_err());
        assert!(scale_of(&Tensor::scalar(1i8), 1).is_err());
        assert_eq!(
            zero_point_of(Some(&Tensor::scalar(-3i8)), 2, DType::I8).unwrap(),
            -3
        );
        assert!(zero_point_of(Some(&Tensor::scalar(3u8)), 2, DType::I8).is_err());
        assert_eq!(zero_point_of(None, 2, DType::I8).unwrap(), 0);
    }
}
