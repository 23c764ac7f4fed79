//! Quantized elementwise Add with two input scales (TFLite's scheme).
//!
//! Offline: `twice_max = 2·max(s_a, s_b)`, input multipliers `s_a / twice_max` and
//! `s_b / twice_max` (both ≤ 1/2), output multiplier `twice_max / (2^20 · s_out)`, each as a
//! [`QuantizedMultiplier`]. Per element, integer-only:
//! ```text
//! a' = mbqm((a − za) · 2^20, M_a);  b' = mbqm((b − zb) · 2^20, M_b)
//! out = clamp(mbqm(a' + b', M_out) + z_out, qmin, qmax)
//! ```
//! with `mbqm` = [`crate::int8::requant::multiply_by_quantized_multiplier`]. The 2^20 pre-shift keeps
//! 20 bits of headroom for the rescale (`|a − za| ≤ 255 < 2^8`, so `(a − za)·2^20 < 2^28`).
//! The fused activation is the clamp range. `a` and `b` each have the output's length or length 1
//! (broadcast scalar).
//!
//! The optimized version tabulates `a'` and `b'` for the 256 possible inputs, so each element costs
//! two loads, an add and the output rescale; it is bit-exact with the reference by construction.

use super::requant::{
    activation_range, check_scale, multiply_by_quantized_multiplier, Activation,
    QuantizedMultiplier,
};
use super::{check_len, check_zero_point, Int8Error, QParams, QuantElem};
use std::marker::PhantomData;

/// TFLite's pre-shift for 8-bit Add.
pub const LEFT_SHIFT: u32 = 20;

/// The integer rescale of the two-scale Add, shared with [`crate::int16::add`] (which passes
/// its own pre-shift): the offline multipliers of the module docs for a given `left_shift`, the
/// zero points, the output range `[qmin, qmax]`, and the two per-element steps.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rescale {
    pub(crate) left_shift: u32,
    pub(crate) a_zero_point: i32,
    pub(crate) b_zero_point: i32,
    pub(crate) a_mult: QuantizedMultiplier,
    pub(crate) b_mult: QuantizedMultiplier,
    pub(crate) out_mult: QuantizedMultiplier,
    pub(crate) out_zero_point: i32,
    pub(crate) qmin: i32,
    pub(crate) qmax: i32,
}

impl Rescale {
    /// Derives the multipliers: `twice_max = 2·max(s_a, s_b)`, `M_a = s_a / twice_max`,
    /// `M_b = s_b / twice_max`, `M_out = twice_max / (2^left_shift · s_out)`. The caller has
    /// checked the scales, the zero points and `qmin ≤ qmax`.
    pub(crate) fn new(
        a: QParams,
        b: QParams,
        out: QParams,
        left_shift: u32,
        (qmin, qmax): (i32, i32),
    ) -> Result<Self, Int8Error> {
        let twice_max = 2.0 * f64::from(a.scale.max(b.scale));
        let out_real = twice_max / (f64::from(1u32 << left_shift) * f64::from(out.scale));
        Ok(Self {
            left_shift,
            a_zero_point: a.zero_point,
            b_zero_point: b.zero_point,
            a_mult: QuantizedMultiplier::from_real(f64::from(a.scale) / twice_max)?,
            b_mult: QuantizedMultiplier::from_real(f64::from(b.scale) / twice_max)?,
            out_mult: QuantizedMultiplier::from_real(out_real)?,
            out_zero_point: out.zero_point,
            qmin,
            qmax,
        })
    }

    /// `a'`: input `a` rescaled to the common fixed-point scale (the caller proves the shift fits).
    #[inline]
    pub(crate) fn scale_a(&self, x: i32) -> i32 {
        multiply_by_quantized_multiplier((x - self.a_zero_point) << self.left_shift, self.a_mult)
    }

    /// `b'`: input `b` rescaled to the common fixed-point scale.
    #[inline]
    pub(crate) fn scale_b(&self, x: i32) -> i32 {
        multiply_by_quantized_multiplier((x - self.b_zero_point) << self.left_shift, self.b_mult)
    }

    /// The stored output of two rescaled inputs, in `[qmin, qmax]`.
    #[inline]
    pub(crate) fn finish(&self, a: i32, b: i32) -> i32 {
        let v = multiply_by_quantized_multiplier(a.wrapping_add(b), self.out_mult);
        v.saturating_add(self.out_zero_point)
            .clamp(self.qmin, self.qmax)
    }
}

/// Parameters of a quantized Add of `T` inputs into `U` outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct AddParams<T, U> {
    rescale: Rescale,
    _types: PhantomData<(T, U)>,
}

impl<T: QuantElem, U: QuantElem> AddParams<T, U> {
    /// Derives the parameters offline.
    pub fn new(a: QParams, b: QParams, out: QParams, act: Activation) -> Result<Self, Int8Error> {
        check_scale("input a", a.scale)?;
        check_scale("input b", b.scale)?;
        check_zero_point::<T>("input a zero point", a.zero_point)?;
        check_zero_point::<T>("input b zero point", b.zero_point)?;
        let range = activation_range::<U>(act, out.scale, out.zero_point)?;
        Ok(Self {
            rescale: Rescale::new(a, b, out, LEFT_SHIFT, range)?,
            _types: PhantomData,
        })
    }
}

/// The table of `scale` over every value of `T`.
fn table<T: QuantElem>(scale: impl Fn(i32) -> i32) -> Vec<i32> {
    (T::MIN..=T::MAX).map(scale).collect()
}

/// Checks the lengths: each input is as long as the output or of length 1.
pub(crate) fn check_lengths(a: usize, b: usize, out: usize) -> Result<(), Int8Error> {
    if a != 1 {
        check_len("input a", a, out)?;
    }
    if b != 1 {
        check_len("input b", b, out)?;
    }
    Ok(())
}

/// `out[i] = f(a[i], b[i])`, where an input of length 1 stands for every element. The lengths
/// are checked ([`check_lengths`]).
#[inline]
pub(crate) fn zip_broadcast<X: Copy, Y: Copy, O: Clone>(
    a: &[X],
    b: &[Y],
    out: &mut [O],
    f: impl Fn(X, Y) -> O,
) {
    match (a.len() == 1, b.len() == 1) {
        (true, true) => out.fill(f(a[0], b[0])),
        (true, false) => {
            for (o, &bv) in out.iter_mut().zip(b) {
                *o = f(a[0], bv);
            }
        }
        (false, true) => {
            for (o, &av) in out.iter_mut().zip(a) {
                *o = f(av, b[0]);
            }
        }
        (false, false) => {
            for ((o, &av), &bv) in out.iter_mut().zip(a).zip(b) {
                *o = f(av, bv);
            }
        }
    }
}

/// Optimized Add: tabulated input rescale.
pub fn add<T: QuantElem, U: QuantElem>(
    p: &AddParams<T, U>,
    a: &[T],
    b: &[T],
    out: &mut [U],
) -> Result<(), Int8Error> {
    check_lengths(a.len(), b.len(), out.len())?;
    let r = &p.rescale;
    let ta = table::<T>(|v| r.scale_a(v));
    let tb = table::<T>(|v| r.scale_b(v));
    let look = |t: &[i32], v: T| t[(v.to_i32() - T::MIN) as usize];
    zip_broadcast(a, b, out, |av, bv| {
        U::saturate(r.finish(look(&ta, av), look(&tb, bv)))
    });
    Ok(())
}

#[cfg(test)]
impl Rescale {
    /// Asserts that `got`, the output for inputs `a` and `b`, is within 1 of the real sum
    /// rounded and clamped; the real scales come back from the multipliers:
    /// `s_a / s_out = M_a · M_out · 2^left_shift` (likewise for `b`).
    pub(crate) fn assert_close_to_real_sum(&self, a: i32, b: i32, got: i32) {
        let k = f64::from(1u32 << self.left_shift) * self.out_mult.to_real();
        let (ka, kb) = (self.a_mult.to_real() * k, self.b_mult.to_real() * k);
        let exact = ka * f64::from(a - self.a_zero_point)
            + kb * f64::from(b - self.b_zero_point)
            + f64::from(self.out_zero_point);
        let want = exact
            .round()
            .clamp(f64::from(self.qmin), f64::from(self.qmax));
        assert!(
            (f64::from(got) - want).abs() <= 1.0,
            "{self:?} a={a} b={b} got={got} want≈{exact}"
        );
    }
}

/// The obviously-correct twin: every step per element, with the exact rounding twins.
pub mod reference {
    use super::*;
    use crate::int8::requant::reference::multiply_by_quantized_multiplier as mbqm;

    /// Scalar Add with the module's contract.
    pub fn add<T: QuantElem, U: QuantElem>(
        p: &AddParams<T, U>,
        a: &[T],
        b: &[T],
        out: &mut [U],
    ) -> Result<(), Int8Error> {
        check_lengths(a.len(), b.len(), out.len())?;
        let r = &p.rescale;
        for (i, o) in out.iter_mut().enumerate() {
            let av = a[if a.len() == 1 { 0 } else { i }].to_i32() - r.a_zero_point;
            let bv = b[if b.len() == 1 { 0 } else { i }].to_i32() - r.b_zero_point;
            let sa = mbqm(av * (1 << LEFT_SHIFT), r.a_mult);
            let sb = mbqm(bv * (1 << LEFT_SHIFT), r.b_mult);
            let raw = i64::from(mbqm(sa + sb, r.out_mult)) + i64::from(r.out_zero_point);
            *o = U::saturate(raw.clamp(r.qmin.into(), r.qmax.into()) as i32);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::int8::cases;
    use crate::int8::testutil::{first_mismatch, Rng};
    use proptest::prelude::*;

    fn random_params<T: QuantElem, U: QuantElem>(rng: &mut Rng) -> AddParams<T, U> {
        let q = |rng: &mut Rng, lo, hi| QParams {
            scale: rng.multiplier(-9, -1) as f32,
            zero_point: rng.range(lo, hi),
        };
        let (a, b, o) = (
            q(rng, T::MIN, T::MAX),
            q(rng, T::MIN, T::MAX),
            q(rng, U::MIN, U::MAX),
        );
        let act = [Activation::None, Activation::Relu, Activation::Relu6][rng.range(0, 2) as usize];
        AddParams::new(a, b, o, act).unwrap()
    }

    fn check<T: QuantElem, U: QuantElem>(len: usize, seed: u64) -> Result<(), String> {
        let mut rng = Rng::new(seed);
        let p = random_params::<T, U>(&mut rng);
        for (la, lb) in [(len, len), (1, len), (len, 1), (1, 1)] {
            let (a, b) = (rng.quant::<T>(la), rng.quant::<T>(lb));
            let (mut want, mut got) = (vec![U::default(); len], vec![U::default(); len]);
            reference::add(&p, &a, &b, &mut want).map_err(|e| e.to_string())?;
            add(&p, &a, &b, &mut got).map_err(|e| e.to_string())?;
            if let Some((i, x, y)) = first_mismatch(&want, &got) {
                return Err(format!(
                    "add len={len} a_len={la} b_len={lb} T={} U={} params={p:?} seed={seed}: at {i} reference={x:?} optimized={y:?}",
                    std::any::type_name::<T>(),
                    std::any::type_name::<U>()
                ));
            }
        }
        Ok(())
    }

    fn check_all(len: usize, seed: u64) -> Result<(), String> {
        check::<i8, i8>(len, seed)?;
        check::<u8, u8>(len, seed ^ 1)?;
        check::<u8, i8>(len, seed ^ 2)
    }

    #[test]
    fn table_cases_match_reference() {
        for len in cases::elementwise() {
            for seed in 0..8 {
                check_all(len, seed).unwrap();
            }
        }
    }

    #[test]
    fn add_is_close_to_real_sum() {
        let mut rng = Rng::new(3);
        for _ in 0..200 {
            let p = random_params::<i8, i8>(&mut rng);
            let (a, b) = (rng.quant::<i8>(64), rng.quant::<i8>(64));
            let mut out = vec![0i8; 64];
            add(&p, &a, &b, &mut out).unwrap();
            for i in 0..64 {
                p.rescale
                    .assert_close_to_real_sum(a[i].into(), b[i].into(), out[i].into());
            }
        }
    }

    #[test]
    fn known_values() {
        // Equal scales 0.5, output scale 1: (10 − 0)·0.5 + (6 − 2)·0.5 = 7.
        let q = |scale, zero_point| QParams { scale, zero_point };
        let p =
            AddParams::<i8, i8>::new(q(0.5, 0), q(0.5, 2), q(1.0, -3), Activation::None).unwrap();
        let mut out = [0i8];
        add(&p, &[10], &[6], &mut out).unwrap();
        assert_eq!(out, [7 - 3]);
        let relu =
            AddParams::<i8, i8>::new(q(0.5, 0), q(0.5, 2), q(1.0, -3), Activation::Relu).unwrap();
        add(&relu, &[-100], &[2], &mut out).unwrap();
        assert_eq!(out, [-3]);
    }

    #[test]
    fn bad_arguments_are_errors() {
        let q = |scale, zero_point| QParams { scale, zero_point };
        assert!(
            AddParams::<u8, u8>::new(q(0.0, 0), q(0.5, 0), q(1.0, 0), Activation::None).is_err()
        );
        assert!(
            AddParams::<u8, u8>::new(q(0.5, -1), q(0.5, 0), q(1.0, 0), Activation::None).is_err()
        );
        assert!(
            AddParams::<u8, u8>::new(q(0.5, 0), q(0.5, 0), q(1.0, 256), Activation::None).is_err()
        );
        let p =
            AddParams::<u8, u8>::new(q(0.5, 0), q(0.5, 0), q(1.0, 0), Activation::None).unwrap();
        assert!(add(&p, &[1, 2], &[1, 2, 3], &mut [0; 3]).is_err());
        assert!(reference::add(&p, &[1, 2, 3], &[1, 2], &mut [0; 3]).is_err());
        assert!(add(&p, &[1], &[1], &mut [0; 3]).is_ok());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn random_lengths_match_reference(len in prop_oneof![1usize..=40, 41usize..3000], seed in any::<u64>()) {
            if let Err(e) = check_all(len, seed) {
                prop_assert!(false, "{}", e);
            }
        }
    }
}
