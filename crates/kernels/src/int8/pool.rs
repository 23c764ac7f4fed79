//! Int8 pooling, NCHW: max, average, global average.
//!
//! Geometry as in ONNX (floor output size): window tap `(kh, kw)` of output `(oh, ow)` reads
//! `ih = oh·stride_h + kh·dilation_h − pad_top` (likewise `iw`); taps outside the input are padding.
//!
//! * Max pool keeps the input's scale and zero point: `out = max` over the in-bounds taps (the max of
//!   quantized values is the quantized max). A window with no in-bounds tap gives `T::MIN`.
//! * Average pool sums `s = Σ (x − zx)` over in-bounds taps (padding is real 0 either way);
//!   `count` is the number of in-bounds taps, or `KH·KW` with `count_include_pad`. Then
//!   - same input and output scale ([`AvgRescale::SameScale`]): `out = zy + rdiv(s, count)`, where
//!     `rdiv` rounds to nearest with ties away from zero — TFLite's
//!     `s > 0 ? (s + count/2)/count : (s − count/2)/count` (TFLite applies it to raw `x`, which is
//!     the same when `zx = 0`);
//!   - different scales ([`AvgRescale::Multipliers`]): `out = zy + s · M[count]` through
//!     [`crate::int8::requant::multiply_by_quantized_multiplier`], with one multiplier
//!     `x_scale / (y_scale · count)` per possible count, derived offline.
//!
//!   and `out` is clamped to `[qmin, qmax]`. A window with `count = 0` gives `zy` (clamped).
//!   The sum wraps in `i32`; it is exact while `KH·KW·255 < 2^31`.

use super::requant::{
    activation_range, check_scale, multiply_by_quantized_multiplier, Activation, OutputStage,
    QuantizedMultiplier,
};
use super::{
    check_len, check_zero_point, checked_product, tap_range, Int8Error, QInput, QuantElem,
};
use std::ops::Range;

/// Geometry of a 2-D pooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2dParams {
    /// Batch size N.
    pub batch: usize,
    /// Channels C.
    pub channels: usize,
    /// Input height and width.
    pub in_hw: [usize; 2],
    /// Window height and width.
    pub kernel: [usize; 2],
    /// Strides (height, width), at least 1.
    pub stride: [usize; 2],
    /// Dilations (height, width), at least 1.
    pub dilation: [usize; 2],
    /// Pads: top, left, bottom, right.
    pub pads: [usize; 4],
}

impl std::fmt::Display for Pool2dParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pool N={} C={} H×W={}×{} K={}×{} s={:?} d={:?} pads={:?}",
            self.batch,
            self.channels,
            self.in_hw[0],
            self.in_hw[1],
            self.kernel[0],
            self.kernel[1],
            self.stride,
            self.dilation,
            self.pads
        )
    }
}

impl Pool2dParams {
    /// The same window as a depthwise convolution (one group per channel, no channel multiplier):
    /// with weights of 1 it computes the window sums.
    pub fn as_depthwise_conv(&self) -> super::conv::Conv2dParams {
        super::conv::Conv2dParams {
            batch: self.batch,
            in_channels: self.channels,
            in_hw: self.in_hw,
            out_channels: self.channels,
            kernel: self.kernel,
            stride: self.stride,
            dilation: self.dilation,
            pads: self.pads,
            groups: self.channels,
        }
    }

    /// The global pooling of `[batch, channels, h, w]`.
    pub fn global(batch: usize, channels: usize, in_hw: [usize; 2]) -> Self {
        Self {
            batch,
            channels,
            in_hw,
            kernel: in_hw,
            stride: [1, 1],
            dilation: [1, 1],
            pads: [0; 4],
        }
    }

    /// Validates the geometry; returns the output height and width.
    pub fn out_hw(&self) -> Result<[usize; 2], Int8Error> {
        let [pt, pl, pb, pr] = self.pads;
        Ok([
            super::conv::out_len(
                self.in_hw[0],
                pt.saturating_add(pb),
                self.kernel[0],
                self.stride[0],
                self.dilation[0],
            )?,
            super::conv::out_len(
                self.in_hw[1],
                pl.saturating_add(pr),
                self.kernel[1],
                self.stride[1],
                self.dilation[1],
            )?,
        ])
    }

    /// Validates the geometry and the slice lengths; returns the output height and width.
    fn check(&self, x_len: usize, out_len: usize) -> Result<[usize; 2], Int8Error> {
        let [oh, ow] = self.out_hw()?;
        let planes = checked_product("planes", &[self.batch, self.channels])?;
        check_len(
            "input",
            x_len,
            checked_product("input", &[planes, self.in_hw[0], self.in_hw[1]])?,
        )?;
        check_len(
            "output",
            out_len,
            checked_product("output", &[planes, oh, ow])?,
        )?;
        Ok([oh, ow])
    }

    /// In-bounds window rows of output row `oh` (as window indices `kh`), and likewise columns.
    fn window(&self, oh: usize, ow: usize) -> (Range<usize>, Range<usize>) {
        let off_h = (oh * self.stride[0]) as isize - self.pads[0] as isize;
        let off_w = (ow * self.stride[1]) as isize - self.pads[1] as isize;
        (
            tap_range(off_h, self.dilation[0], self.in_hw[0], self.kernel[0]),
            tap_range(off_w, self.dilation[1], self.in_hw[1], self.kernel[1]),
        )
    }
}

/// How an average is brought to the output scale.
#[derive(Debug, Clone, PartialEq)]
pub enum AvgRescale {
    /// Input and output scales are equal: rounded integer division by the count.
    SameScale,
    /// `M[c − 1] = x_scale / (y_scale · c)` for every count `c` from 1 up.
    Multipliers(Vec<QuantizedMultiplier>),
}

/// Quantization parameters of an average pool.
#[derive(Debug, Clone, PartialEq)]
pub struct AvgPoolQuant {
    x_zero_point: i32,
    y_zero_point: i32,
    qmin: i32,
    qmax: i32,
    count_include_pad: bool,
    rescale: AvgRescale,
}

impl AvgPoolQuant {
    /// Derives the parameters offline for windows of at most `max_count` taps.
    #[allow(clippy::too_many_arguments)]
    pub fn new<T: QuantElem, U: QuantElem>(
        x_scale: f32,
        x_zero_point: i32,
        y_scale: f32,
        y_zero_point: i32,
        max_count: usize,
        count_include_pad: bool,
        act: Activation,
    ) -> Result<Self, Int8Error> {
        check_scale("input", x_scale)?;
        check_zero_point::<T>("input zero point", x_zero_point)?;
        let (qmin, qmax) = activation_range::<U>(act, y_scale, y_zero_point)?;
        let rescale = if x_scale == y_scale {
            AvgRescale::SameScale
        } else {
            if max_count > 1 << 20 {
                return Err(Int8Error::Shape(format!("window of {max_count} taps")));
            }
            let ratio = f64::from(x_scale) / f64::from(y_scale);
            AvgRescale::Multipliers(
                (1..=max_count)
                    .map(|c| QuantizedMultiplier::from_real(ratio / c as f64))
                    .collect::<Result<_, _>>()?,
            )
        };
        Ok(Self {
            x_zero_point,
            y_zero_point,
            qmin,
            qmax,
            count_include_pad,
            rescale,
        })
    }

    /// Checks that the parameters serve windows of `taps` taps.
    fn check_taps(&self, taps: usize) -> Result<(), Int8Error> {
        match &self.rescale {
            AvgRescale::Multipliers(m) if m.len() < taps => Err(Int8Error::Length {
                what: "average pool multipliers",
                expected: taps,
                got: m.len(),
            }),
            _ => Ok(()),
        }
    }

    /// The output of a window with zero-point-free sum `sum` over `count` taps.
    #[inline]
    fn finish(&self, sum: i32, count: usize) -> i32 {
        let avg = match (&self.rescale, count) {
            (_, 0) => 0,
            (AvgRescale::SameScale, c) => {
                let (s, c) = (i64::from(sum), c as i64);
                (if s > 0 {
                    (s + c / 2) / c
                } else {
                    (s - c / 2) / c
                }) as i32
            }
            (AvgRescale::Multipliers(m), c) => multiply_by_quantized_multiplier(sum, m[c - 1]),
        };
        avg.saturating_add(self.y_zero_point)
            .clamp(self.qmin, self.qmax)
    }
}

/// Optimized max pool: loops over the in-bounds window only.
pub fn max_pool<T: QuantElem>(p: &Pool2dParams, x: &[T], out: &mut [T]) -> Result<(), Int8Error> {
    let [oh_n, ow_n] = p.check(x.len(), out.len())?;
    let [h, w] = p.in_hw;
    for (plane, dst) in x.chunks_exact(h * w).zip(out.chunks_exact_mut(oh_n * ow_n)) {
        for oh in 0..oh_n {
            for ow in 0..ow_n {
                let (rows, cols) = p.window(oh, ow);
                let mut m = T::MIN;
                for kh in rows {
                    let ih = oh * p.stride[0] + kh * p.dilation[0] - p.pads[0];
                    let row = &plane[ih * w..(ih + 1) * w];
                    for kw in cols.clone() {
                        m = m.max(row[ow * p.stride[1] + kw * p.dilation[1] - p.pads[1]].to_i32());
                    }
                }
                dst[oh * ow_n + ow] = T::saturate(m);
            }
        }
    }
    Ok(())
}

/// Calls `f(index, raw, valid)` for every output of one plane: `raw` is the wrapping `i32` sum of
/// the stored values over the window's in-bounds taps, `valid` their number.
///
/// A window whose in-bounds taps are whole consecutive rows (the global pool, a window covering the
/// input) sums one contiguous run; otherwise each in-bounds row sums a slice (no per-tap test).
#[inline]
fn window_sums<T: QuantElem>(
    p: &Pool2dParams,
    plane: &[T],
    [oh_n, ow_n]: [usize; 2],
    mut f: impl FnMut(usize, i32, usize),
) {
    let w = p.in_hw[1];
    let ([s_h, s_w], [d_h, d_w]) = (p.stride, p.dilation);
    for oh in 0..oh_n {
        for ow in 0..ow_n {
            let (rows, cols) = p.window(oh, ow);
            let valid = rows.len() * cols.len();
            if valid == 0 {
                f(oh * ow_n + ow, 0, 0);
                continue;
            }
            let ih0 = oh * s_h + rows.start * d_h - p.pads[0];
            let iw0 = ow * s_w + cols.start * d_w - p.pads[1];
            let full_rows = cols.len() == w && (d_h == 1 || rows.len() == 1);
            let raw = if full_rows {
                sum_run(&plane[ih0 * w..(ih0 + rows.len()) * w])
            } else {
                let mut raw = 0i32;
                for r in 0..rows.len() {
                    let row = &plane[(ih0 + r * d_h) * w..][..w];
                    let part = if d_w == 1 {
                        sum_run(&row[iw0..iw0 + cols.len()])
                    } else {
                        row[iw0..]
                            .iter()
                            .step_by(d_w)
                            .take(cols.len())
                            .fold(0i32, |a, v| a.wrapping_add(v.to_i32()))
                    };
                    raw = raw.wrapping_add(part);
                }
                raw
            };
            f(oh * ow_n + ow, raw, valid);
        }
    }
}

/// The wrapping `i32` sum of a run, in independent lanes the compiler vectorizes.
#[inline]
fn sum_run<T: QuantElem>(v: &[T]) -> i32 {
    const LANES: usize = 16;
    let mut acc = [0i32; LANES];
    let chunks = v.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a = a.wrapping_add(x.to_i32());
        }
    }
    let head = acc.iter().fold(0i32, |a, &b| a.wrapping_add(b));
    tail.iter().fold(head, |a, x| a.wrapping_add(x.to_i32()))
}

/// Optimized average pool: window sums over slices of the in-bounds window.
pub fn avg_pool<T: QuantElem, U: QuantElem>(
    p: &Pool2dParams,
    x: &[T],
    q: &AvgPoolQuant,
    out: &mut [U],
) -> Result<(), Int8Error> {
    let [oh_n, ow_n] = p.check(x.len(), out.len())?;
    let taps = checked_product("window", &p.kernel)?;
    q.check_taps(taps)?;
    let [h, w] = p.in_hw;
    for (plane, dst) in x.chunks_exact(h * w).zip(out.chunks_exact_mut(oh_n * ow_n)) {
        window_sums(p, plane, [oh_n, ow_n], |i, raw, valid| {
            let sum = raw.wrapping_sub((valid as i32).wrapping_mul(q.x_zero_point));
            let count = if q.count_include_pad { taps } else { valid };
            dst[i] = U::saturate(q.finish(sum, count));
        });
    }
    Ok(())
}

/// Average pool through an output stage: `out = stage(Σ (x − zx))` over the in-bounds taps of each
/// window, channel `c` of the stage for plane channel `c` — exactly the depthwise convolution with
/// unit weights and no bias (padding contributes 0). The stage carries the `1/count` of a window
/// that counts a fixed number of taps.
pub fn avg_pool_staged<T: QuantElem, U: QuantElem>(
    p: &Pool2dParams,
    x: QInput<'_, T>,
    stage: &OutputStage,
    out: &mut [U],
) -> Result<(), Int8Error> {
    let [oh_n, ow_n] = p.check(x.data.len(), out.len())?;
    stage.check_channels(p.channels)?;
    check_zero_point::<T>("input zero point", x.zero_point)?;
    let [h, w] = p.in_hw;
    let planes = x.data.chunks_exact(h * w);
    for (pl, (plane, dst)) in planes.zip(out.chunks_exact_mut(oh_n * ow_n)).enumerate() {
        let c = pl % p.channels.max(1);
        window_sums(p, plane, [oh_n, ow_n], |i, raw, valid| {
            let sum = raw.wrapping_sub((valid as i32).wrapping_mul(x.zero_point));
            dst[i] = stage.requantize_to(sum, c);
        });
    }
    Ok(())
}

/// Optimized global average pool of `[batch, channels, h, w]` into `[batch, channels]`: each
/// plane summed as one contiguous run.
pub fn global_avg_pool<T: QuantElem, U: QuantElem>(
    batch: usize,
    channels: usize,
    in_hw: [usize; 2],
    x: &[T],
    q: &AvgPoolQuant,
    out: &mut [U],
) -> Result<(), Int8Error> {
    let p = Pool2dParams::global(batch, channels, in_hw);
    p.check(x.len(), out.len())?;
    let taps = checked_product("window", &p.kernel)?;
    q.check_taps(taps)?;
    for (plane, o) in x.chunks_exact(taps.max(1)).zip(out.iter_mut()) {
        let sum = sum_run(plane).wrapping_sub((taps as i32).wrapping_mul(q.x_zero_point));
        *o = U::saturate(q.finish(sum, taps));
    }
    Ok(())
}

/// The obviously-correct twins: every tap with a bounds test; exact rounding rules.
pub mod reference {
    use super::*;

    /// Whether tap `(kh, kw)` of output `(oh, ow)` is inside the input; its input index if so.
    fn tap(p: &Pool2dParams, oh: usize, ow: usize, kh: usize, kw: usize) -> Option<usize> {
        let ih = (oh * p.stride[0] + kh * p.dilation[0]) as isize - p.pads[0] as isize;
        let iw = (ow * p.stride[1] + kw * p.dilation[1]) as isize - p.pads[1] as isize;
        let [h, w] = p.in_hw;
        (ih >= 0 && iw >= 0 && (ih as usize) < h && (iw as usize) < w)
            .then(|| ih as usize * w + iw as usize)
    }

    /// `sum / count` rounded to nearest, ties away from zero (quotient and remainder form).
    pub fn rounded_div(sum: i32, count: usize) -> i32 {
        let (mag, c) = (i64::from(sum).abs(), count as i64);
        let (q, r) = (mag / c, mag % c);
        let q = if 2 * r >= c { q + 1 } else { q };
        (if sum < 0 { -q } else { q }) as i32
    }

    /// Scalar max pool with the module's contract.
    pub fn max_pool<T: QuantElem>(
        p: &Pool2dParams,
        x: &[T],
        out: &mut [T],
    ) -> Result<(), Int8Error> {
        let [oh_n, ow_n] = p.check(x.len(), out.len())?;
        let plane = p.in_hw[0] * p.in_hw[1];
        for pl in 0..p.batch * p.channels {
            for oh in 0..oh_n {
                for ow in 0..ow_n {
                    let mut m: Option<T> = None;
                    for kh in 0..p.kernel[0] {
                        for kw in 0..p.kernel[1] {
                            if let Some(i) = tap(p, oh, ow, kh, kw) {
                                let v = x[pl * plane + i];
                                m = Some(match m {
                                    Some(c) if c.to_i32() >= v.to_i32() => c,
                                    _ => v,
                                });
                            }
                        }
                    }
                    out[(pl * oh_n + oh) * ow_n + ow] = m.unwrap_or(T::saturate(T::MIN));
                }
            }
        }
        Ok(())
    }

    /// Scalar average pool with the module's contract.
    pub fn avg_pool<T: QuantElem, U: QuantElem>(
        p: &Pool2dParams,
        x: &[T],
        q: &AvgPoolQuant,
        out: &mut [U],
    ) -> Result<(), Int8Error> {
        let [oh_n, ow_n] = p.check(x.len(), out.len())?;
        let taps = checked_product("window", &p.kernel)?;
        q.check_taps(taps)?;
        let plane = p.in_hw[0] * p.in_hw[1];
        for pl in 0..p.batch * p.channels {
            for oh in 0..oh_n {
                for ow in 0..ow_n {
                    let (mut sum, mut valid) = (0i32, 0usize);
                    for kh in 0..p.kernel[0] {
                        for kw in 0..p.kernel[1] {
                            if let Some(i) = tap(p, oh, ow, kh, kw) {
                                sum = sum.wrapping_add(x[pl * plane + i].to_i32() - q.x_zero_point);
                                valid += 1;
                            }
                        }
                    }
                    let count = if q.count_include_pad { taps } else { valid };
                    let avg = match (&q.rescale, count) {
                        (_, 0) => 0,
                        (AvgRescale::SameScale, c) => rounded_div(sum, c),
                        (AvgRescale::Multipliers(m), c) => {
                            crate::int8::requant::reference::multiply_by_quantized_multiplier(
                                sum,
                                m[c - 1],
                            )
                        }
                    };
                    let v = (i64::from(avg) + i64::from(q.y_zero_point))
                        .clamp(q.qmin.into(), q.qmax.into());
                    out[(pl * oh_n + oh) * ow_n + ow] = U::saturate(v as i32);
                }
            }
        }
        Ok(())
    }

    /// Scalar average pool through an output stage: every tap with a bounds test.
    pub fn avg_pool_staged<T: QuantElem, U: QuantElem>(
        p: &Pool2dParams,
        x: QInput<'_, T>,
        stage: &OutputStage,
        out: &mut [U],
    ) -> Result<(), Int8Error> {
        let [oh_n, ow_n] = p.check(x.data.len(), out.len())?;
        stage.check_channels(p.channels)?;
        check_zero_point::<T>("input zero point", x.zero_point)?;
        let plane = p.in_hw[0] * p.in_hw[1];
        for pl in 0..p.batch * p.channels {
            for oh in 0..oh_n {
                for ow in 0..ow_n {
                    let mut sum = 0i32;
                    for kh in 0..p.kernel[0] {
                        for kw in 0..p.kernel[1] {
                            if let Some(i) = tap(p, oh, ow, kh, kw) {
                                sum = sum
                                    .wrapping_add(x.data[pl * plane + i].to_i32() - x.zero_point);
                            }
                        }
                    }
                    out[(pl * oh_n + oh) * ow_n + ow] = stage.requantize_to(sum, pl % p.channels);
                }
            }
        }
        Ok(())
    }

    /// Scalar global average pool: an average pool whose window is the whole plane.
    pub fn global_avg_pool<T: QuantElem, U: QuantElem>(
        batch: usize,
        channels: usize,
        in_hw: [usize; 2],
        x: &[T],
        q: &AvgPoolQuant,
        out: &mut [U],
    ) -> Result<(), Int8Error> {
        avg_pool(&Pool2dParams::global(batch, channels, in_hw), x, q, out)
    }
}

#[cfg(test)]
mod tests;
