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

    /// A per-dim list of `rank` values (`default` when absent), checked for length.
    pub fn per_dim(
        name: &str,
        v: &Option<Vec<i64>>,
        rank: usize,
        default: usize,
    ) -> Result<Vec<usize>, OpError> {
        match v {
            None => Ok(vec![default; rank]),
            Some(v) if v.len() == rank => Ok(v.iter().map(|&x| x as usize).collect()),
            Some(v) => Err(attr_err(
                name,
                format!("has {} values for {rank} spatial dims", v.len()),
            )),
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
            (None, Some(w)) if w.len() == rank => Ok(w.to_vec()),
            _ => Err(attr_err("kernel_shape", "required")),
        }
    }

    /// Resolves the window over spatial `input` dims for a kernel of `kernel` taps; `ceil_mode`
    /// rounds the output size up (pools), dropping a last window that would start in the end
    /// padding.
    pub fn resolve(
        &self,
        input: &[usize],
        kernel: Vec<usize>,
        ceil_mode: bool,
    ) -> Result<Resolved, OpError> {
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
            let out = match self.auto_pad {
                AutoPad::SameUpper | AutoPad::SameLower => {
                    let out = input[d].div_ceil(strides[d]);
                    let total = ((out.max(1) - 1) * strides[d] + window).saturating_sub(input[d]);
                    let small = total / 2;
                    let (b, e) = if self.auto_pad == AutoPad::SameUpper {
                        (small, total - small)
                    } else {
                        (total - small, small)
                    };
                    pads_begin[d] = b;
                    pads_end[d] = e;
                    out
                }
                _ => {
                    let padded = input[d] + pads_begin[d] + pads_end[d];
                    if padded < window {
                        return Err(OpError::Shape(format!(
                            "window of {window} does not fit the padded extent {padded} of \
                             spatial dim {d}"
                        )));
                    }
                    let room = padded - window;
                    if ceil_mode {
                        let out = room.div_ceil(strides[d]) + 1;
                        let starts_in_end_pad = (out - 1) * strides[d] >= input[d] + pads_begin[d];
                        out - usize::from(starts_in_end_pad && out > 1)
                    } else {
                        room / strides[d] + 1
                    }
                }
            };
            output.push(out);
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
/// output shape `[N, C, O...]`.
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
    let r = window.resolve(&x[2..], kernel, ceil_mode)?;
    let out = [&x[..2], &r.output[..]].concat();
    let g = PoolGeometry {
        batch: x[0],
        channels: x[1],
        input: x[2..].to_vec(),
        kernel: r.kernel,
        strides: r.strides,
        dilations: r.dilations,
        pads_begin: r.pads_begin,
        pads_end: r.pads_end,
        output: r.output,
    };
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

    #[test]
    fn same_upper_puts_the_extra_pad_at_the_end() {
        let r = window(AutoPad::SameUpper, &[2], None)
            .resolve(&[5], vec![4], false)
            .unwrap();
        // out = ceil(5 / 2) = 3, total pad = 2·2 + 4 − 5 = 3 → 1 + 2.
        assert_eq!(
            (r.output, r.pads_begin, r.pads_end),
            (vec![3], vec![1], vec![2])
        );
        let r = window(AutoPad::SameLower, &[2], None)
            .resolve(&[5], vec![4], false)
            .unwrap();
        assert_eq!((r.pads_begin, r.pads_end), (vec![2], vec![1]));
    }

    #[test]
    fn ceil_mode_rounds_up_but_never_starts_a_window_in_the_end_padding() {
        // input 4, kernel 2, stride 3: room 2 → floor 1, ceil 2 (the second starts at 3 < 4).
        let w = window(AutoPad::NotSet, &[3], None);
        assert_eq!(w.resolve(&[4], vec![2], false).unwrap().output, vec![1]);
        assert_eq!(w.resolve(&[4], vec![2], true).unwrap().output, vec![2]);
        // input 3, kernel 2, stride 2, pads 0+2: room 3 → ceil 3, whose last window would start
        // at 4 ≥ 3 + 0: dropped.
        let wp = window(AutoPad::NotSet, &[2], Some(&[0, 2]));
        assert_eq!(wp.resolve(&[3], vec![2], true).unwrap().output, vec![2]);
        // the same holds for an exact division: input 3, kernel 1, pads 0+2, room 4 → 3 → 2.
        assert_eq!(wp.resolve(&[3], vec![1], true).unwrap().output, vec![2]);
        assert_eq!(wp.resolve(&[3], vec![1], false).unwrap().output, vec![3]);
    }

    #[test]
    fn window_larger_than_padded_input_is_a_shape_error() {
        let w = window(AutoPad::NotSet, &[1], None);
        assert!(matches!(
            w.resolve(&[2], vec![3], false),
            Err(OpError::Shape(_))
        ));
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
