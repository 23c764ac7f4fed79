//! Window attributes shared by Conv, ConvTranspose and the pools (`auto_pad`, `kernel_shape`,
//! `strides`, `dilations`, `pads`), and the output-size arithmetic they follow.
use crate::{Attr, Attrs, OpError};
use mw_kernels::nn::PoolGeometry;

/// Largest stride, dilation, pad or kernel extent accepted from a model; keeps the window
/// arithmetic far from overflow.
const MAX_EXTENT: i64 = 1 << 31;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AutoPad {
    #[default]
    NotSet,
    SameUpper,
    SameLower,
    Valid,
}

impl AutoPad {
    pub fn parse(s: &str) -> Result<AutoPad, OpError> {
        match s {
            "NOTSET" | "" => Ok(AutoPad::NotSet),
            "SAME_UPPER" => Ok(AutoPad::SameUpper),
            "SAME_LOWER" => Ok(AutoPad::SameLower),
            "VALID" => Ok(AutoPad::Valid),
            other => Err(attr_err("auto_pad", format!("unknown value `{other}`"))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            AutoPad::NotSet => "NOTSET",
            AutoPad::SameUpper => "SAME_UPPER",
            AutoPad::SameLower => "SAME_LOWER",
            AutoPad::Valid => "VALID",
        }
    }
}

pub(crate) fn attr_err(name: &str, reason: impl Into<String>) -> OpError {
    OpError::Attribute {
        name: name.to_string(),
        reason: reason.into(),
    }
}

/// The window attributes as the node states them (kept verbatim for export).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Window {
    pub auto_pad: AutoPad,
    pub kernel_shape: Option<Vec<i64>>,
    pub strides: Option<Vec<i64>>,
    pub dilations: Option<Vec<i64>>,
    pub pads: Option<Vec<i64>>,
}

/// A window resolved against an input: per spatial dim kernel, stride, dilation, pads and the
/// output size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub kernel: Vec<usize>,
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    pub pads_begin: Vec<usize>,
    pub pads_end: Vec<usize>,
    pub output: Vec<usize>,
}

fn checked_list(attrs: &Attrs, name: &str, min: i64) -> Result<Option<Vec<i64>>, OpError> {
    let Some(v) = attrs.ints(name)? else {
        return Ok(None);
    };
    if let Some(bad) = v.iter().find(|&&x| x < min || x > MAX_EXTENT) {
        return Err(attr_err(
            name,
            format!("value {bad} outside {min}..={MAX_EXTENT}"),
        ));
    }
    Ok(Some(v))
}

impl Window {
    pub fn from_attrs(attrs: &Attrs) -> Result<Window, OpError> {
        Ok(Window {
            auto_pad: AutoPad::parse(&attrs.string_or("auto_pad", "NOTSET")?)?,
            kernel_shape: checked_list(attrs, "kernel_shape", 1)?,
            strides: checked_list(attrs, "strides", 1)?,
            dilations: checked_list(attrs, "dilations", 1)?,
            pads: checked_list(attrs, "pads", 0)?,
        })
    }

    /// Adds the stated attributes to `attrs`.
    pub fn to_attrs(&self, mut attrs: Attrs) -> Attrs {
        if self.auto_pad != AutoPad::NotSet {
            attrs.set("auto_pad", Attr::String(self.auto_pad.name().into()));
        }
        for (name, v) in [
            ("kernel_shape", &self.kernel_shape),
            ("strides", &self.strides),
            ("dilations", &self.dilations),
            ("pads", &self.pads),
        ] {
            if let Some(v) = v {
                attrs.set(name, Attr::Ints(v.clone()));
            }
        }
        attrs
    }

    /// A per-dim list of `rank` values (`least` for each when absent). Every value must lie in
    /// `least..=2^31`: the least value a list accepts is also its default (1 for kernel, strides
    /// and dilations, 0 for pads and output_padding).
    pub fn per_dim(
        name: &str,
        v: &Option<Vec<i64>>,
        rank: usize,
        least: usize,
    ) -> Result<Vec<usize>, OpError> {
        match v {
            None => Ok(vec![least; rank]),
            Some(v) if v.len() != rank => Err(attr_err(
                name,
                format!("has {} values for {rank} spatial dims", v.len()),
            )),
            Some(v) => v
                .iter()
                .map(|&x| {
                    if x < least as i64 || x > MAX_EXTENT {
                        return Err(attr_err(
                            name,
                            format!("value {x} outside {least}..={MAX_EXTENT}"),
                        ));
                    }
                    Ok(x as usize)
                })
                .collect(),
        }
    }

    /// Taps of one window (the product of `kernel_shape`; 1 when absent).
    pub fn taps(&self) -> u64 {
        self.kernel_shape
            .as_ref()
            .map_or(1, |k| k.iter().map(|&d| d as u64).product())
    }

    /// The explicit pads `(begin, end)` for `rank` dims (zeros when absent).
    pub fn explicit_pads(&self, rank: usize) -> Result<(Vec<usize>, Vec<usize>), OpError> {
        let pads = Window::per_dim("pads", &self.pads, 2 * rank, 0)?;
        Ok((pads[..rank].to_vec(), pads[rank..].to_vec()))
    }

    /// The kernel: `kernel_shape` if stated (it must then equal `from_weights` when given), else
    /// `from_weights`.
    pub fn kernel(
        &self,
        rank: usize,
        from_weights: Option<&[usize]>,
    ) -> Result<Vec<usize>, OpError> {
        match (&self.kernel_shape, from_weights) {
            (Some(_), _) => {
                let k = Window::per_dim("kernel_shape", &self.kernel_shape, rank, 1)?;
                if from_weights.is_some_and(|w| w != k.as_slice()) {
                    return Err(attr_err(
                        "kernel_shape",
                        format!("{k:?} disagrees with the weights' {from_weights:?}"),
                    ));
                }
                Ok(k)
            }
            (None, Some(w)) if w.len() == rank => {
                if w.iter().any(|&k| k == 0 || k as i64 > MAX_EXTENT) {
                    return Err(OpError::Shape(format!(
                        "weights' kernel {w:?} is empty or too large"
                    )));
                }
                Ok(w.to_vec())
            }
            _ => Err(attr_err("kernel_shape", "required")),
        }
    }

    /// Resolves a convolution window over spatial `input` dims for a kernel of `kernel` taps
    /// (floor rounding). SAME pads split `max(0, (⌈D/s⌉ − 1)·s + (k − 1)·d + 1 − D)`, the odd
    /// one at the end (SAME_UPPER) or the beginning (SAME_LOWER).
    pub fn resolve(&self, input: &[usize], kernel: Vec<usize>) -> Result<Resolved, OpError> {
        let rank = input.len();
        let strides = Window::per_dim("strides", &self.strides, rank, 1)?;
        let dilations = Window::per_dim("dilations", &self.dilations, rank, 1)?;
        let (mut pads_begin, mut pads_end) = match self.auto_pad {
            AutoPad::NotSet => self.explicit_pads(rank)?,
            _ => (vec![0; rank], vec![0; rank]),
        };
        let mut output = Vec::with_capacity(rank);
        for d in 0..rank {
            let window = (kernel[d] - 1) * dilations[d] + 1;
            if matches!(self.auto_pad, AutoPad::SameUpper | AutoPad::SameLower) {
                let out = input[d].div_ceil(strides[d]).max(1);
                let total = ((out - 1) * strides[d] + window).saturating_sub(input[d]);
                let small = total / 2;
                (pads_begin[d], pads_end[d]) = if self.auto_pad == AutoPad::SameUpper {
                    (small, total - small)
                } else {
                    (total - small, small)
                };
            }
            let padded = input[d] + pads_begin[d] + pads_end[d];
            if padded < window {
                return Err(OpError::Shape(format!(
                    "window of {window} does not fit the padded extent {padded} of spatial dim {d}"
                )));
            }
            output.push((padded - window) / strides[d] + 1);
        }
        Ok(Resolved {
            kernel,
            strides,
            dilations,
            pads_begin,
            pads_end,
            output,
        })
    }
}

/// The pooling geometry of `window` over `x [N, C, D...]` (kernel_shape required) and the
/// output shape `[N, C, O...]`, sized as ONNX Runtime does: with `n = D + pb + pe − (k − 1)·d − 1`,
/// `O = n / s + 1` rounded toward zero (a window may then reach past the padded input, and only
/// its real positions count), or with `ceil_mode` `⌈n / s⌉ + 1`, less one if the last window
/// would start at or past `D + pb`. SAME pads split `(⌈D/s⌉ − 1)·s + k − D` (the kernel taken
/// undilated; the total may be negative, shifting the windows), the odd one at the end
/// (SAME_UPPER) or the beginning (SAME_LOWER).
pub fn pool_geometry(
    window: &Window,
    x: &[usize],
    ceil_mode: bool,
) -> Result<(PoolGeometry, Vec<usize>), OpError> {
    if x.len() < 3 {
        return Err(OpError::Shape(format!(
            "pooling needs rank >= 3, got {x:?}"
        )));
    }
    let rank = x.len() - 2;
    let kernel = window.kernel(rank, None)?;
    let strides = Window::per_dim("strides", &window.strides, rank, 1)?;
    let dilations = Window::per_dim("dilations", &window.dilations, rank, 1)?;
    let (explicit_begin, explicit_end) = window.explicit_pads(rank)?;
    let mut g = PoolGeometry {
        batch: x[0],
        channels: x[1],
        input: x[2..].to_vec(),
        kernel,
        strides,
        dilations,
        pads_begin: Vec::with_capacity(rank),
        pads_end: Vec::with_capacity(rank),
        output: Vec::with_capacity(rank),
    };
    for d in 0..rank {
        // Every term is below 2^41 or 2^62 (attribute caps, tensor sizes): no i64 overflow.
        let (i, s, k) = (x[2 + d] as i64, g.strides[d] as i64, g.kernel[d] as i64);
        let (pb, pe) = match window.auto_pad {
            AutoPad::NotSet => (explicit_begin[d] as i64, explicit_end[d] as i64),
            AutoPad::Valid => (0, 0),
            AutoPad::SameUpper | AutoPad::SameLower => {
                let need = ((i + s - 1) / s - 1) * s + k - i;
                let head = if window.auto_pad == AutoPad::SameUpper {
                    need / 2
                } else {
                    (need + 1) / 2
                };
                (head, need - head)
            }
        };
        let n = i + pb + pe - g.dilations[d] as i64 * (k - 1) - 1;
        let out = if ceil_mode {
            let ceil_div = if n >= 0 { (n + s - 1) / s } else { n / s };
            let out = ceil_div + 1;
            out - i64::from((out - 1) * s >= i + pb)
        } else {
            n / s + 1
        };
        if out < 0 {
            return Err(OpError::Shape(format!(
                "pooling output dim {d} would be {out}: check kernel_shape, pads, strides and \
                 dilations"
            )));
        }
        g.pads_begin.push(pb as isize);
        g.pads_end.push(pe as isize);
        g.output.push(out as usize);
    }
    let out = [&x[..2], &g.output[..]].concat();
    Ok((g, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(auto_pad: AutoPad, strides: &[i64], pads: Option<&[i64]>) -> Window {
        Window {
            auto_pad,
            strides: Some(strides.to_vec()),
            pads: pads.map(<[i64]>::to_vec),
            ..Window::default()
        }
    }

    fn pool(
        w: &Window,
        kernel: i64,
        dilation: i64,
        input: usize,
        ceil: bool,
    ) -> (usize, isize, isize) {
        let w = Window {
            kernel_shape: Some(vec![kernel]),
            dilations: Some(vec![dilation]),
            ..w.clone()
        };
        let (g, out) = pool_geometry(&w, &[1, 1, input], ceil).unwrap();
        assert_eq!(out[2], g.output[0]);
        (g.output[0], g.pads_begin[0], g.pads_end[0])
    }

    #[test]
    fn conv_same_upper_puts_the_extra_pad_at_the_end() {
        let r = window(AutoPad::SameUpper, &[2], None)
            .resolve(&[5], vec![4])
            .unwrap();
        // out = ceil(5 / 2) = 3, total pad = 2·2 + 4 − 5 = 3 → 1 + 2.
        assert_eq!(
            (r.output, r.pads_begin, r.pads_end),
            (vec![3], vec![1], vec![2])
        );
        let r = window(AutoPad::SameLower, &[2], None)
            .resolve(&[5], vec![4])
            .unwrap();
        assert_eq!((r.pads_begin, r.pads_end), (vec![2], vec![1]));
        // A stride larger than the kernel needs no pad (never a negative one).
        let r = window(AutoPad::SameUpper, &[4], None)
            .resolve(&[7], vec![1])
            .unwrap();
        assert_eq!(
            (r.output, r.pads_begin, r.pads_end),
            (vec![2], vec![0], vec![0])
        );
    }

    #[test]
    fn conv_window_larger_than_padded_input_is_a_shape_error() {
        let w = window(AutoPad::NotSet, &[1], None);
        assert!(matches!(w.resolve(&[2], vec![3]), Err(OpError::Shape(_))));
    }

    #[test]
    fn pool_ceil_mode_rounds_up_but_never_starts_a_window_in_the_end_padding() {
        let none = window(AutoPad::NotSet, &[3], None);
        // input 4, kernel 2, stride 3: n = 1 → floor 1, ceil 2 (the second starts at 3 < 4).
        assert_eq!(pool(&none, 2, 1, 4, false).0, 1);
        assert_eq!(pool(&none, 2, 1, 4, true).0, 2);
        // input 3, kernel 2, stride 2, pads 0+2: n = 2 → ceil 2 + 1 = 3, whose last window would
        // start at 4 ≥ 3 + 0: dropped.
        let end_pad = window(AutoPad::NotSet, &[2], Some(&[0, 2]));
        assert_eq!(pool(&end_pad, 2, 1, 3, true).0, 2);
        // the same holds for an exact division: kernel 1, n = 4 → 3 → 2.
        assert_eq!(pool(&end_pad, 1, 1, 3, true).0, 2);
        assert_eq!(pool(&end_pad, 1, 1, 3, false).0, 3);
    }

    #[test]
    fn pool_sizes_round_toward_zero_like_onnxruntime() {
        // input 7, kernel 9, pads 1+0, stride 3: n = −1 → −1 / 3 = 0 → one window.
        let w = window(AutoPad::NotSet, &[3], Some(&[1, 0]));
        assert_eq!(pool(&w, 9, 1, 7, false).0, 1);
        // input 1, kernel 3 dilated by 2, pads 0+1, stride 2: n = −3 → −1 + 1 = 0 windows.
        let w = window(AutoPad::NotSet, &[2], Some(&[0, 1]));
        assert_eq!(pool(&w, 3, 2, 1, false).0, 0);
        // VALID, input 1, kernel 3, stride 3: n = −3 → 0 + 1 = 1 window.
        assert_eq!(
            pool(&window(AutoPad::Valid, &[3], None), 3, 1, 1, false).0,
            1
        );
        // A window far too large is an error.
        let w = Window {
            kernel_shape: Some(vec![10]),
            ..window(AutoPad::NotSet, &[1], Some(&[1, 0]))
        };
        assert!(pool_geometry(&w, &[1, 1, 7], false).is_err());
    }

    #[test]
    fn pool_same_pads_ignore_dilation_and_may_be_negative() {
        // input 7, kernel 3 dilated by 2, stride 1: pad 2·0... need = 6 + 3 − 7 = 2 → 1 + 1,
        // n = 7 + 2 − 4 − 1 = 4 → 5 outputs.
        let same = window(AutoPad::SameUpper, &[1], None);
        assert_eq!(pool(&same, 3, 2, 7, false), (5, 1, 1));
        // input 7, kernel 1, stride 4: need = 4 + 1 − 7 = −2 → −1 − 1: windows start at 1, 5.
        let same = window(AutoPad::SameUpper, &[4], None);
        assert_eq!(pool(&same, 1, 1, 7, false), (2, -1, -1));
        // SAME_LOWER puts the odd pad first: need = 3 → 2 + 1.
        let lower = window(AutoPad::SameLower, &[2], None);
        assert_eq!(pool(&lower, 4, 1, 5, false), (3, 2, 1));
    }

    #[test]
    fn hand_built_bad_windows_are_errors_not_panics() {
        let zero_stride = window(AutoPad::NotSet, &[0], None);
        assert!(zero_stride.resolve(&[5], vec![1]).is_err());
        let w = Window {
            kernel_shape: Some(vec![2]),
            ..zero_stride
        };
        assert!(pool_geometry(&w, &[1, 1, 5], false).is_err());
        let negative_pad = window(AutoPad::NotSet, &[1], Some(&[-1, 0]));
        assert!(negative_pad.resolve(&[5], vec![1]).is_err());
        assert!(Window::default().kernel(1, Some(&[0])).is_err());
    }

    #[test]
    fn attributes_round_trip_and_are_checked() {
        let mut a = Attrs::new();
        a.set("auto_pad", Attr::String("SAME_LOWER".into()))
            .set("strides", Attr::Ints(vec![2, 1]))
            .set("pads", Attr::Ints(vec![0, 0, 0, 0]));
        let w = Window::from_attrs(&a).unwrap();
        assert_eq!(Window::from_attrs(&w.to_attrs(Attrs::new())).unwrap(), w);
        a.set("strides", Attr::Ints(vec![0, 1]));
        assert!(Window::from_attrs(&a).is_err());
        a.set("strides", Attr::Ints(vec![1, 1]));
        a.set("auto_pad", Attr::String("SAME".into()));
        assert!(Window::from_attrs(&a).is_err());
    }
}
