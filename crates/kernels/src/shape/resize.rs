//! Resize: coordinate transforms, interpolation weights, and the per-axis passes.
//!
//! Semantics follow the ONNX reference implementation (`onnx.reference.ops.op_resize`): an output
//! position `y` along an axis maps to a source coordinate `x` (by [`CoordMode`]); the filter then
//! weighs the `n` input positions nearest to `x` (edge-clamped), preferring the left neighbour on
//! ties (`ratio = x - x_int` lies in `(0, 1]`). Interpolating filters are separable and run one
//! axis at a time in f64; nearest is a pure gather and keeps the element type exact.
use super::{check_len, gather_axes, numel, ShapeKernelError};

/// How an output coordinate maps back to the input (ONNX `coordinate_transformation_mode`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CoordMode {
    HalfPixel,
    HalfPixelSymmetric,
    PytorchHalfPixel,
    AlignCorners,
    Asymmetric,
    TfHalfPixelForNn,
    /// Crops the region `roi` (fractions of the axis) and marks positions outside the input as
    /// extrapolated.
    TfCropAndResize,
}

/// Rounding of the source coordinate in nearest mode (ONNX `nearest_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NearestMode {
    RoundPreferFloor,
    RoundPreferCeil,
    Floor,
    Ceil,
}

/// The interpolating filters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Filter {
    Linear,
    /// Keys cubic convolution with coefficient `a` (ONNX `cubic_coeff_a`).
    Cubic(f64),
}

/// One axis of a resize.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AxisResize {
    pub in_len: usize,
    pub out_len: usize,
    /// Output/input scale (given, or derived from the requested size).
    pub scale: f64,
    /// Region of interest `(start, end)` as fractions of the axis; used by `TfCropAndResize`.
    pub roi: (f64, f64),
}

impl AxisResize {
    /// True when the axis maps every output position onto the same input position.
    fn is_identity(&self) -> bool {
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs());
        close(self.scale, 1.0)
            && self.out_len == self.in_len
            && self.roi.0.abs() <= 1e-9
            && close(self.roi.1, 1.0)
    }
}

/// Source coordinate of output position `y`, or `None` when `TfCropAndResize` extrapolates.
pub fn source_coord(axis: &AxisResize, coord: CoordMode, y: usize) -> Option<f64> {
    let y = y as f64;
    let scale = axis.scale;
    let in_len = axis.in_len as f64;
    // The un-rounded output length, as the ONNX reference uses it.
    let out_w = scale * in_len;
    let x = match coord {
        CoordMode::HalfPixel => (y + 0.5) / scale - 0.5,
        CoordMode::HalfPixelSymmetric => {
            let adjustment = axis.out_len as f64 / out_w;
            let offset = in_len / 2.0 * (1.0 - adjustment);
            offset + (y + 0.5) / scale - 0.5
        }
        CoordMode::PytorchHalfPixel if out_w == 1.0 => -0.5,
        CoordMode::PytorchHalfPixel => (y + 0.5) / scale - 0.5,
        CoordMode::AlignCorners if out_w == 1.0 => 0.0,
        CoordMode::AlignCorners => y * (in_len - 1.0) / (out_w - 1.0),
        CoordMode::Asymmetric => y / scale,
        CoordMode::TfHalfPixelForNn => (y + 0.5) / scale,
        CoordMode::TfCropAndResize => {
            let (r0, r1) = axis.roi;
            let x = if out_w == 1.0 {
                (r1 - r0) * (in_len - 1.0) / 2.0
            } else {
                y * (r1 - r0) * (in_len - 1.0) / (out_w - 1.0)
            } + r0 * (in_len - 1.0);
            if !(0.0..=in_len - 1.0).contains(&x) {
                return None;
            }
            x
        }
    };
    Some(x)
}

/// The position left of `x` and the distance to it, in `(0, 1]`.
fn split_coord(x: f64) -> (i64, f64) {
    let f = x.floor();
    if f == x {
        (f as i64 - 1, 1.0)
    } else {
        (f as i64, x - f)
    }
}

fn clamp_index(i: i64, len: usize) -> usize {
    i.clamp(0, len as i64 - 1) as usize
}

/// Nearest-neighbour index map of one axis (`None` where extrapolated).
pub fn nearest_map(
    axis: &AxisResize,
    coord: CoordMode,
    mode: NearestMode,
) -> Result<Vec<Option<usize>>, ShapeKernelError> {
    check_axis(axis)?;
    Ok((0..axis.out_len)
        .map(|y| {
            source_coord(axis, coord, y).map(|x| {
                let (left, ratio) = split_coord(x);
                let right = match mode {
                    _ if ratio == 1.0 => true,
                    NearestMode::RoundPreferFloor => ratio > 0.5,
                    NearestMode::RoundPreferCeil => ratio >= 0.5,
                    NearestMode::Floor => false,
                    NearestMode::Ceil => true,
                };
                clamp_index(left + right as i64, axis.in_len)
            })
        })
        .collect())
}

fn check_axis(axis: &AxisResize) -> Result<(), ShapeKernelError> {
    if axis.in_len == 0 && axis.out_len > 0 {
        return Err(ShapeKernelError::Invalid(
            "cannot resize an empty axis to a non-empty one".into(),
        ));
    }
    if !(axis.scale.is_finite() && axis.scale > 0.0) {
        return Err(ShapeKernelError::Invalid(format!(
            "scale {} is not a positive finite number",
            axis.scale
        )));
    }
    Ok(())
}

/// Filter weights of one output position for taps at offsets `start..start + n` from the left
/// neighbour, `ratio` being the distance from that neighbour.
fn filter_coeffs(filter: Filter, antialias: bool, ratio: f64, scale: f64) -> (i64, Vec<f64>) {
    match (filter, antialias) {
        (Filter::Linear, false) => (0, vec![1.0 - ratio, ratio]),
        (Filter::Cubic(a), false) => {
            let r = ratio;
            let s = 1.0 - ratio;
            let far =
                |t: f64| ((a * (t + 1.0) - 5.0 * a) * (t + 1.0) + 8.0 * a) * (t + 1.0) - 4.0 * a;
            let near = |t: f64| ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0;
            (-1, vec![far(r), near(r), near(s), far(s)])
        }
        (Filter::Linear, true) => {
            let scale = scale.min(1.0);
            let start = (-1.0 / scale).floor() as i64 + 1;
            let c: Vec<f64> = (start..2 - start)
                .map(|i| (1.0 - ((i as f64 - ratio) * scale).abs()).clamp(0.0, 1.0))
                .collect();
            (start, normalized(c))
        }
        (Filter::Cubic(a), true) => {
            let scale = scale.min(1.0);
            let start = (-2.0 / scale).floor() as i64 + 1;
            let keys = |x: f64| {
                let x = x.abs();
                if x <= 1.0 {
                    ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
                } else {
                    0.0
                }
            };
            let c = (start..2 - start)
                .map(|i| keys(scale * (i as f64 - ratio)))
                .collect();
            (start, normalized(c))
        }
    }
}

fn normalized(mut c: Vec<f64>) -> Vec<f64> {
    let sum: f64 = c.iter().sum();
    if sum != 0.0 {
        c.iter_mut().for_each(|v| *v /= sum);
    }
    c
}

/// Taps of one axis: for each output position, `(input index, weight)` pairs (edge-clamped
/// indices), or `None` where extrapolated.
pub type AxisTaps = Vec<Option<Vec<(usize, f64)>>>;

/// Interpolation taps of one axis.
pub fn axis_taps(
    axis: &AxisResize,
    coord: CoordMode,
    filter: Filter,
    antialias: bool,
    exclude_outside: bool,
) -> Result<AxisTaps, ShapeKernelError> {
    check_axis(axis)?;
    Ok((0..axis.out_len)
        .map(|y| {
            source_coord(axis, coord, y).map(|x| {
                let (left, ratio) = split_coord(x);
                let (start, mut c) = filter_coeffs(filter, antialias, ratio, axis.scale);
                let first = left.saturating_add(start);
                let inside = |k: usize| (0..axis.in_len as i64).contains(&(first + k as i64));
                if exclude_outside {
                    (0..c.len())
                        .filter(|&k| !inside(k))
                        .for_each(|k| c[k] = 0.0);
                    c = normalized(c);
                }
                c.iter()
                    .enumerate()
                    .map(|(k, &w)| (clamp_index(first + k as i64, axis.in_len), w))
                    .collect()
            })
        })
        .collect())
}

/// One interpolation pass: `x` viewed as `[outer, in_len, inner]` becomes
/// `[outer, taps.len(), inner]`; extrapolated rows take `extrapolation`.
pub fn resize_pass(
    x: &[f64],
    outer: usize,
    in_len: usize,
    inner: usize,
    taps: &AxisTaps,
    extrapolation: f64,
) -> Result<Vec<f64>, ShapeKernelError> {
    check_len(x.len(), &[outer, in_len, inner])?;
    let n = numel(&[outer, taps.len(), inner])?;
    let mut out = Vec::with_capacity(n);
    for o in 0..outer {
        let block = &x[o * in_len * inner..(o + 1) * in_len * inner];
        for t in taps {
            let row_start = out.len();
            match t {
                None => out.extend(std::iter::repeat_n(extrapolation, inner)),
                Some(t) => {
                    out.extend(std::iter::repeat_n(0.0, inner));
                    let row = &mut out[row_start..];
                    for &(i, w) in t {
                        let src = block.get(i * inner..(i + 1) * inner).ok_or(
                            ShapeKernelError::Index {
                                index: i,
                                len: in_len,
                            },
                        )?;
                        row.iter_mut().zip(src).for_each(|(r, &s)| *r += w * s);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// How one resize interpolates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interp {
    pub coord: CoordMode,
    pub filter: Filter,
    pub antialias: bool,
    pub exclude_outside: bool,
    pub extrapolation: f64,
}

/// The order of the separable passes: shrinking axes first, then growing ones (each group in axis
/// order), so that no intermediate holds more elements than the larger of input and output.
pub fn pass_order(axes: &[AxisResize]) -> Vec<usize> {
    let (shrink, grow): (Vec<usize>, Vec<usize>) =
        (0..axes.len()).partition(|&k| axes[k].out_len <= axes[k].in_len);
    shrink.into_iter().chain(grow).collect()
}

/// Resizes every axis of `x` (one [`AxisResize`] per axis) with an interpolating filter, one
/// separable pass per non-identity axis in [`pass_order`].
pub fn resize_interp(
    x: &[f64],
    axes: &[AxisResize],
    interp: &Interp,
) -> Result<Vec<f64>, ShapeKernelError> {
    let mut shape: Vec<usize> = axes.iter().map(|a| a.in_len).collect();
    check_len(x.len(), &shape)?;
    let mut cur = x.to_vec();
    for k in pass_order(axes) {
        let axis = &axes[k];
        check_axis(axis)?;
        if axis.is_identity() {
            continue;
        }
        let taps = axis_taps(
            axis,
            interp.coord,
            interp.filter,
            interp.antialias,
            interp.exclude_outside,
        )?;
        let outer = numel(&shape[..k])?;
        let inner = numel(&shape[k + 1..])?;
        cur = resize_pass(&cur, outer, axis.in_len, inner, &taps, interp.extrapolation)?;
        shape[k] = axis.out_len;
    }
    Ok(cur)
}

/// Nearest-neighbour resize of every axis (one [`AxisResize`] per axis); extrapolated positions
/// take `fill`.
pub fn resize_nearest<T: Copy>(
    x: &[T],
    axes: &[AxisResize],
    coord: CoordMode,
    mode: NearestMode,
    fill: T,
) -> Result<Vec<T>, ShapeKernelError> {
    let shape: Vec<usize> = axes.iter().map(|a| a.in_len).collect();
    let maps = axes
        .iter()
        .map(|a| {
            if a.is_identity() {
                Ok((0..a.in_len).map(Some).collect())
            } else {
                nearest_map(a, coord, mode)
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    gather_axes(x, &shape, &maps, fill)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(in_len: usize, out_len: usize, scale: f64) -> AxisResize {
        AxisResize {
            in_len,
            out_len,
            scale,
            roi: (0.0, 1.0),
        }
    }

    fn linear(coord: CoordMode) -> Interp {
        Interp {
            coord,
            filter: Filter::Linear,
            antialias: false,
            exclude_outside: false,
            extrapolation: 0.0,
        }
    }

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6)
    }

    #[test]
    fn nearest_modes() {
        let a = axis(4, 8, 2.0);
        let m = |c, n| nearest_map(&a, c, n).unwrap();
        let s = |v: &[usize]| v.iter().map(|&i| Some(i)).collect::<Vec<_>>();
        // half_pixel: x = (y + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25, ...
        assert_eq!(
            m(CoordMode::HalfPixel, NearestMode::RoundPreferFloor),
            s(&[0, 0, 1, 1, 2, 2, 3, 3])
        );
        // asymmetric: x = y / 2 = 0, 0.5, 1, 1.5, ...
        assert_eq!(
            m(CoordMode::Asymmetric, NearestMode::RoundPreferCeil),
            s(&[0, 1, 1, 2, 2, 3, 3, 3])
        );
        assert_eq!(
            m(CoordMode::Asymmetric, NearestMode::RoundPreferFloor),
            s(&[0, 0, 1, 1, 2, 2, 3, 3])
        );
        assert_eq!(
            m(CoordMode::Asymmetric, NearestMode::Ceil),
            s(&[0, 1, 1, 2, 2, 3, 3, 3])
        );
        assert_eq!(
            m(CoordMode::Asymmetric, NearestMode::Floor),
            s(&[0, 0, 1, 1, 2, 2, 3, 3])
        );
    }

    #[test]
    fn linear_upsample_half_pixel_matches_onnx_example() {
        // ONNX test_resize_upsample_scales_linear, one row: [1, 2] → scale 2.
        let out = resize_interp(
            &[1.0, 2.0],
            &[axis(2, 4, 2.0)],
            &linear(CoordMode::HalfPixel),
        )
        .unwrap();
        assert!(close(&out, &[1.0, 1.25, 1.75, 2.0]), "{out:?}");
    }

    #[test]
    fn align_corners_uses_unrounded_output_length() {
        // ONNX test_resize_downsample_scales_linear_align_corners: [1 2 3 4] with scale 0.6
        // (output length 2.4, rounded down to 2) → [1, 3.142857].
        let out = resize_interp(
            &[1.0, 2.0, 3.0, 4.0],
            &[axis(4, 2, 0.6)],
            &linear(CoordMode::AlignCorners),
        )
        .unwrap();
        assert!(close(&out, &[1.0, 1.0 + 3.0 / 1.4]), "{out:?}");
    }

    #[test]
    fn cubic_at_integer_positions_is_exact() {
        let x = [1.0, 5.0, -2.0, 7.0];
        let interp = Interp {
            filter: Filter::Cubic(-0.75),
            ..linear(CoordMode::Asymmetric)
        };
        let out = resize_interp(&x, &[axis(4, 8, 2.0)], &interp).unwrap();
        for (i, v) in x.iter().enumerate() {
            assert!((out[2 * i] - v).abs() < 1e-12);
        }
    }

    #[test]
    fn antialias_weights_sum_to_one() {
        let a = axis(10, 3, 0.3);
        for filter in [Filter::Linear, Filter::Cubic(-0.5)] {
            for t in axis_taps(&a, CoordMode::HalfPixel, filter, true, false).unwrap() {
                let s: f64 = t.unwrap().iter().map(|p| p.1).sum();
                assert!((s - 1.0).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn antialias_downsample_matches_onnx_reference() {
        // Values of onnx.reference.ops.op_resize._interpolate_nd (half_pixel).
        let aa = |x: &[f64], out: usize, filter| {
            let interp = Interp {
                filter,
                antialias: true,
                ..linear(CoordMode::HalfPixel)
            };
            let a = axis(x.len(), out, out as f64 / x.len() as f64);
            resize_interp(x, &[a], &interp).unwrap()
        };
        let ramp7: Vec<f64> = (1..=7).map(f64::from).collect();
        let out = aa(&ramp7, 3, Filter::Linear);
        assert!(close(&out, &[1.75, 4.0, 6.25]), "{out:?}");
        let out = aa(&ramp7, 3, Filter::Cubic(-0.5));
        assert!(close(&out, &[5.0 / 3.0, 4.0, 19.0 / 3.0]), "{out:?}");
        let out = aa(&[1.0, 2.0, 3.0, 4.0], 3, Filter::Linear);
        assert!(close(&out, &[14.0 / 11.0, 2.5, 41.0 / 11.0]), "{out:?}");
        // Upsampling: antialias changes nothing.
        let plain = resize_interp(
            &[1.0, 3.0],
            &[axis(2, 5, 2.5)],
            &linear(CoordMode::HalfPixel),
        );
        assert_eq!(aa(&[1.0, 3.0], 5, Filter::Linear), plain.unwrap());
    }

    #[test]
    fn shrinking_passes_run_first() {
        let axes = [axis(10, 1000, 100.0), axis(1000, 10, 0.01), axis(5, 5, 1.0)];
        assert_eq!(pass_order(&axes), [1, 2, 0]);
        // The order changes nothing but rounding.
        let x: Vec<f64> = (0..6).map(f64::from).collect();
        let two = [axis(2, 4, 2.0), axis(3, 2, 2.0 / 3.0)];
        let out = resize_interp(&x, &two, &linear(CoordMode::HalfPixel)).unwrap();
        let rows = resize_interp(
            &x,
            &[axis(2, 4, 2.0), axis(3, 3, 1.0)],
            &linear(CoordMode::HalfPixel),
        )
        .unwrap();
        let expect = resize_interp(
            &rows,
            &[axis(4, 4, 1.0), axis(3, 2, 2.0 / 3.0)],
            &linear(CoordMode::HalfPixel),
        )
        .unwrap();
        assert!(close(&out, &expect), "{out:?} vs {expect:?}");
    }

    #[test]
    fn crop_and_resize_extrapolates() {
        let a = AxisResize {
            roi: (0.5, 1.5),
            ..axis(3, 3, 1.0)
        };
        // x = y * 1 * 2 / 2 + 1 = 1, 2, 3 → the last is outside [0, 2].
        let interp = Interp {
            extrapolation: 9.0,
            ..linear(CoordMode::TfCropAndResize)
        };
        let out = resize_interp(&[0.0, 10.0, 20.0], &[a], &interp).unwrap();
        assert!(close(&out, &[10.0, 20.0, 9.0]), "{out:?}");
        let map = nearest_map(&a, CoordMode::TfCropAndResize, NearestMode::Floor).unwrap();
        assert_eq!(map, [Some(1), Some(2), None]);
    }

    #[test]
    fn bad_axes_are_refused() {
        assert!(nearest_map(&axis(0, 2, 2.0), CoordMode::HalfPixel, NearestMode::Floor).is_err());
        assert!(nearest_map(
            &axis(2, 2, f64::NAN),
            CoordMode::HalfPixel,
            NearestMode::Floor
        )
        .is_err());
        assert!(resize_interp(&[1.0], &[axis(2, 2, 1.0)], &linear(CoordMode::HalfPixel)).is_err());
    }

    #[test]
    fn two_axis_bilinear() {
        // [[1, 2], [3, 4]] upsampled ×2 with align_corners: corners preserved, centre = 2.5.
        let axes = [axis(2, 3, 1.5), axis(2, 3, 1.5)];
        let out = resize_interp(
            &[1.0, 2.0, 3.0, 4.0],
            &axes,
            &linear(CoordMode::AlignCorners),
        )
        .unwrap();
        assert!(
            close(&out, &[1.0, 1.5, 2.0, 2.0, 2.5, 3.0, 3.0, 3.5, 4.0]),
            "{out:?}"
        );
    }
}
