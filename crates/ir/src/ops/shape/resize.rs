//! Resize (opset ≥ 11): nearest, linear (N-linear) and cubic interpolation, with every
//! `coordinate_transformation_mode` and `nearest_mode`, `scales` or `sizes`, and from opset 18
//! `axes`, `antialias` and `keep_aspect_ratio_policy`. Semantics follow the ONNX reference
//! implementation (see `mw_kernels::shape::resize`). Interpolated values of integer tensors are
//! truncated toward zero (saturating), as ONNX Runtime casts them.
use super::{attr_err, guard, kernel_err, normalize_axes, value_of, Known};
use crate::op::{optional, required};
use crate::{op_boilerplate, Attr, Attrs, BuildCtx, Cost, Fact, Op, OpError};
use mw_kernels::shape::resize::{
    resize_interp, resize_nearest, AxisResize, CoordMode, Filter, Interp, NearestMode,
};
use mw_tensor::{dispatch_data, Data, Element, Tensor};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResizeMode {
    Nearest,
    Linear,
    Cubic,
}

/// How `sizes` are honoured (`keep_aspect_ratio_policy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AspectPolicy {
    Stretch,
    NotLarger,
    NotSmaller,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Resize {
    pub mode: ResizeMode,
    pub coord: CoordMode,
    pub nearest_mode: NearestMode,
    pub cubic_coeff_a: f32,
    pub exclude_outside: bool,
    pub extrapolation_value: f32,
    pub antialias: bool,
    pub axes: Option<Vec<i64>>,
    pub policy: AspectPolicy,
}

const MODES: [(&str, ResizeMode); 3] = [
    ("nearest", ResizeMode::Nearest),
    ("linear", ResizeMode::Linear),
    ("cubic", ResizeMode::Cubic),
];
const COORDS: [(&str, CoordMode); 7] = [
    ("half_pixel", CoordMode::HalfPixel),
    ("half_pixel_symmetric", CoordMode::HalfPixelSymmetric),
    ("pytorch_half_pixel", CoordMode::PytorchHalfPixel),
    ("align_corners", CoordMode::AlignCorners),
    ("asymmetric", CoordMode::Asymmetric),
    ("tf_half_pixel_for_nn", CoordMode::TfHalfPixelForNn),
    ("tf_crop_and_resize", CoordMode::TfCropAndResize),
];
const NEAREST: [(&str, NearestMode); 4] = [
    ("round_prefer_floor", NearestMode::RoundPreferFloor),
    ("round_prefer_ceil", NearestMode::RoundPreferCeil),
    ("floor", NearestMode::Floor),
    ("ceil", NearestMode::Ceil),
];
const POLICIES: [(&str, AspectPolicy); 3] = [
    ("stretch", AspectPolicy::Stretch),
    ("not_larger", AspectPolicy::NotLarger),
    ("not_smaller", AspectPolicy::NotSmaller),
];

/// The enum value named by string attribute `name` (or its default, the table's first entry).
fn choice<T: Copy>(attrs: &Attrs, name: &str, table: &[(&str, T)]) -> Result<T, OpError> {
    let Some(s) = attrs.string(name)? else {
        return Ok(table[0].1);
    };
    table
        .iter()
        .find(|(n, _)| *n == s)
        .map(|(_, v)| *v)
        .ok_or_else(|| attr_err(name, format!("unknown value `{s}`")))
}

fn name_of<T: PartialEq>(table: &[(&'static str, T)], v: &T) -> &'static str {
    table.iter().find(|(_, t)| t == v).map_or("", |(n, _)| n)
}

pub fn build_resize(attrs: &Attrs, ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    if ctx.opset < 11 {
        return Err(OpError::Unsupported(format!(
            "Resize of opset {} (< 11)",
            ctx.opset
        )));
    }
    let op = Resize {
        mode: choice(attrs, "mode", &MODES)?,
        coord: choice(attrs, "coordinate_transformation_mode", &COORDS)?,
        nearest_mode: choice(attrs, "nearest_mode", &NEAREST)?,
        cubic_coeff_a: attrs.float_or("cubic_coeff_a", -0.75)?,
        exclude_outside: attrs.int_or("exclude_outside", 0)? != 0,
        extrapolation_value: attrs.float_or("extrapolation_value", 0.0)?,
        antialias: attrs.int_or("antialias", 0)? != 0,
        axes: attrs.ints("axes")?,
        policy: choice(attrs, "keep_aspect_ratio_policy", &POLICIES)?,
    };
    if op.antialias && op.mode == ResizeMode::Nearest {
        return Err(attr_err("antialias", "not defined for nearest mode"));
    }
    Ok(Box::new(op))
}

/// Input `i` when present and non-empty (opset 11 passes empty tensors for unused inputs).
fn given<'a, K: Known>(inputs: &[Option<&'a K>], i: usize) -> Option<&'a K> {
    optional(inputs, i).filter(|k| k.dims().iter().product::<usize>() > 0)
}

/// Contents of a float input as f64.
fn floats<K: Known>(inputs: &[Option<&K>], i: usize) -> Result<Vec<f64>, OpError> {
    let t = value_of(inputs, i)?;
    if !t.dtype().is_float() {
        return Err(OpError::InputDType {
            index: i,
            expected: "a float type".into(),
            actual: t.dtype(),
        });
    }
    Ok(t.to_f64_vec())
}

/// `floor(v)` as a dimension, refusing what no tensor could hold.
fn dim_of(v: f64) -> Result<usize, OpError> {
    if !(v >= 0.0 && v < 2f64.powi(62)) {
        return Err(OpError::Shape(format!(
            "Resize output dimension {v} is invalid"
        )));
    }
    Ok(v.floor() as usize)
}

impl Resize {
    /// One [`AxisResize`] per input axis. The region of interest (which does not change the
    /// output shape) is read only `with_roi`, so that inference does not need it constant.
    fn plan<K: Known>(
        &self,
        inputs: &[Option<&K>],
        with_roi: bool,
    ) -> Result<Vec<AxisResize>, OpError> {
        let x = required(inputs, 0)?;
        let shape = x.dims();
        let rank = shape.len();
        let axes = match &self.axes {
            Some(a) => normalize_axes(a, rank, "axes")?,
            None => (0..rank).collect(),
        };
        let n = axes.len();
        let mut plan: Vec<AxisResize> = shape
            .iter()
            .map(|&d| AxisResize {
                in_len: d,
                out_len: d,
                scale: 1.0,
                roi: (0.0, 1.0),
            })
            .collect();
        let count = |v: &[f64], what: &str| {
            if v.len() != n {
                return Err(OpError::Shape(format!(
                    "Resize: {} {what} for {n} axes",
                    v.len()
                )));
            }
            Ok(())
        };
        match (given(inputs, 2), given(inputs, 3)) {
            (Some(_), None) => {
                let scales = floats(inputs, 2)?;
                count(&scales, "scales")?;
                for (&a, &s) in axes.iter().zip(&scales) {
                    if !(s.is_finite() && s > 0.0) {
                        return Err(OpError::Shape(format!("Resize scale {s} is not positive")));
                    }
                    plan[a].scale = s;
                    plan[a].out_len = dim_of(s * shape[a] as f64)?;
                }
            }
            (None, Some(_)) => {
                let sizes = super::ints(inputs, 3)?;
                let sizes: Vec<f64> = sizes.iter().map(|&s| s as f64).collect();
                count(&sizes, "sizes")?;
                self.apply_sizes(&mut plan, &axes, &sizes)?;
            }
            _ => {
                return Err(OpError::Shape(
                    "Resize needs exactly one of scales and sizes".into(),
                ))
            }
        }
        if with_roi && self.coord == CoordMode::TfCropAndResize {
            let roi = match given(inputs, 1) {
                Some(_) => floats(inputs, 1)?,
                None => return Err(OpError::MissingInput(1)),
            };
            if roi.len() != 2 * n {
                return Err(OpError::Shape(format!(
                    "Resize: roi has {} values for {n} axes",
                    roi.len()
                )));
            }
            for (i, &a) in axes.iter().enumerate() {
                plan[a].roi = (roi[i], roi[n + i]);
            }
        }
        let out: Vec<usize> = plan.iter().map(|p| p.out_len).collect();
        guard(x.dtype(), &out)?;
        Ok(plan)
    }

    /// Output lengths and scales from requested `sizes` under the aspect-ratio policy.
    fn apply_sizes(
        &self,
        plan: &mut [AxisResize],
        axes: &[usize],
        sizes: &[f64],
    ) -> Result<(), OpError> {
        let mut ratios = Vec::with_capacity(axes.len());
        for (&a, &s) in axes.iter().zip(sizes) {
            let out = dim_of(s)?;
            let d = plan[a].in_len;
            if d == 0 && out > 0 {
                return Err(OpError::Shape("Resize cannot enlarge an empty axis".into()));
            }
            ratios.push(if d == 0 { 1.0 } else { s / d as f64 });
            plan[a].out_len = out;
        }
        let common = match self.policy {
            AspectPolicy::Stretch => None,
            AspectPolicy::NotLarger => ratios.iter().copied().reduce(f64::min),
            AspectPolicy::NotSmaller => ratios.iter().copied().reduce(f64::max),
        };
        for (&a, &r) in axes.iter().zip(&ratios) {
            let scale = common.unwrap_or(r);
            if common.is_some() {
                plan[a].out_len = dim_of(scale * plan[a].in_len as f64 + 0.5)?;
            }
            if !(scale.is_finite() && scale > 0.0) {
                // A zero-length output: nothing is sampled, any positive scale will do.
                plan[a].scale = 1.0;
            } else {
                plan[a].scale = scale;
            }
        }
        Ok(())
    }

    fn interp(&self) -> Interp {
        Interp {
            coord: self.coord,
            filter: match self.mode {
                ResizeMode::Cubic => Filter::Cubic(self.cubic_coeff_a as f64),
                _ => Filter::Linear,
            },
            antialias: self.antialias,
            exclude_outside: self.exclude_outside,
            extrapolation: self.extrapolation_value as f64,
        }
    }

    fn run_typed<T: Element>(&self, x: &[T], plan: &[AxisResize]) -> Result<Data, OpError> {
        let fill = T::from_f64(self.extrapolation_value as f64);
        if self.mode == ResizeMode::Nearest {
            let out =
                resize_nearest(x, plan, self.coord, self.nearest_mode, fill).map_err(kernel_err)?;
            return Ok(T::wrap(out));
        }
        if T::DTYPE == mw_tensor::DType::Bool {
            return Err(OpError::InputDType {
                index: 0,
                expected: "a numeric type for interpolation".into(),
                actual: T::DTYPE,
            });
        }
        let xf: Vec<f64> = x.iter().map(|v| v.to_f64()).collect();
        let out = resize_interp(&xf, plan, &self.interp()).map_err(kernel_err)?;
        // `from_f64` truncates toward zero and saturates for integer types.
        Ok(T::wrap(out.into_iter().map(T::from_f64).collect()))
    }
}

impl Op for Resize {
    fn op_type(&self) -> &'static str {
        "Resize"
    }
    fn attrs(&self) -> Attrs {
        let mut a = Attrs::new();
        let mut s = |name: &str, v: &str, default: &str| {
            if v != default {
                a.set(name, Attr::String(v.into()));
            }
        };
        s("mode", name_of(&MODES, &self.mode), "nearest");
        s(
            "coordinate_transformation_mode",
            name_of(&COORDS, &self.coord),
            "half_pixel",
        );
        s(
            "nearest_mode",
            name_of(&NEAREST, &self.nearest_mode),
            "round_prefer_floor",
        );
        s(
            "keep_aspect_ratio_policy",
            name_of(&POLICIES, &self.policy),
            "stretch",
        );
        if self.cubic_coeff_a != -0.75 {
            a.set("cubic_coeff_a", Attr::Float(self.cubic_coeff_a));
        }
        if self.exclude_outside {
            a.set("exclude_outside", Attr::Int(1));
        }
        if self.extrapolation_value != 0.0 {
            a.set("extrapolation_value", Attr::Float(self.extrapolation_value));
        }
        if self.antialias {
            a.set("antialias", Attr::Int(1));
        }
        if let Some(axes) = &self.axes {
            a.set("axes", Attr::Ints(axes.clone()));
        }
        a
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let plan = self.plan(inputs, false)?;
        let shape = plan.iter().map(|p| p.out_len).collect();
        Ok(vec![Fact::new(required(inputs, 0)?.dtype, shape)])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let x = required(inputs, 0)?;
        let plan = self.plan(inputs, true)?;
        let data = dispatch_data!(x.data(), v => self.run_typed(v, &plan))?;
        Ok(vec![Tensor::new(
            plan.iter().map(|p| p.out_len).collect(),
            data,
        )?])
    }
    fn cost(&self, _inputs: &[Option<&Fact>], outputs: &[Fact]) -> Cost {
        let taps = match self.mode {
            ResizeMode::Nearest => 0,
            ResizeMode::Linear => 2,
            ResizeMode::Cubic => 4,
        };
        Cost {
            elementwise: (outputs[0].numel() as u64).saturating_mul(taps),
            ..Default::default()
        }
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::shape::test_util::*;

    fn build(pairs: &[(&str, &str)]) -> Resize {
        let mut a = Attrs::new();
        for (k, v) in pairs {
            a.set(k, Attr::String(v.to_string()));
        }
        let op = build_resize(&a, &ctx(19, 4, 1)).unwrap();
        op.as_any().downcast_ref::<Resize>().unwrap().clone()
    }

    fn scales(v: &[f32]) -> Tensor {
        t(&[v.len()], v.to_vec())
    }

    fn f32s(t: &Tensor) -> Vec<f32> {
        t.as_slice::<f32>().unwrap().to_vec()
    }

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn nearest_upsample_by_scales_any_dtype() {
        // ONNX test_resize_upsample_scales_nearest: [[1, 2], [3, 4]] × [2, 3].
        let x = t(&[1, 1, 2, 2], vec![1i8, 2, 3, 4]);
        let op = build(&[]);
        let out = run(&op, &[Some(&x), None, Some(&scales(&[1.0, 1.0, 2.0, 3.0]))]);
        assert_eq!(out[0].shape(), &[1, 1, 4, 6]);
        assert_eq!(
            out[0].as_slice::<i8>().unwrap(),
            &[1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4]
        );
    }

    #[test]
    fn linear_downsample_matches_onnx() {
        // ONNX test_resize_downsample_scales_linear: [[1 2 3 4], [5 6 7 8]] × 0.6 → [2.6667, 4.3333].
        let x = t(&[1, 1, 2, 4], (1..=8).map(|v| v as f32).collect());
        let op = build(&[("mode", "linear")]);
        let out = run(&op, &[Some(&x), None, Some(&scales(&[1.0, 1.0, 0.6, 0.6]))]);
        assert_eq!(out[0].shape(), &[1, 1, 1, 2]);
        close(&f32s(&out[0]), &[2.6666667, 4.3333335]);
    }

    #[test]
    fn cubic_upsample_matches_onnx_first_row() {
        // ONNX test_resize_upsample_scales_cubic (4×4 ramp 1..16, scale 2), first output row.
        let x = t(&[1, 1, 4, 4], (1..=16).map(|v| v as f32).collect());
        let op = build(&[("mode", "cubic")]);
        let out = run(&op, &[Some(&x), None, Some(&scales(&[1.0, 1.0, 2.0, 2.0]))]);
        let row = &f32s(&out[0])[..8];
        let expected: [f64; 8] = [
            0.47265625, 0.76953125, 1.24609375, 1.875, 2.28125, 2.91015625, 3.38671875, 3.68359375,
        ];
        close(row, &expected.map(|v| v as f32));
    }

    #[test]
    fn sizes_with_axes_and_aspect_policy() {
        // ONNX test_resize_downsample_sizes_nearest_not_larger: 4×4 → sizes [1, 3] not_larger.
        let x = t(&[1, 1, 2, 4], (1..=8).map(|v| v as f32).collect());
        let mut op = build(&[("keep_aspect_ratio_policy", "not_larger")]);
        op.axes = Some(vec![2, 3]);
        let out = run(&op, &[Some(&x), None, None, Some(&i64s(&[1, 3]))]);
        // scale = min(1/2, 3/4) = 0.5 → [1, 2].
        assert_eq!(out[0].shape(), &[1, 1, 1, 2]);
        roundtrip(&op, &ctx(19, 4, 1));
    }

    #[test]
    fn crop_and_resize_with_extrapolation() {
        let x = t(&[1, 3], vec![0f32, 10.0, 20.0]);
        let mut op = build(&[
            ("mode", "linear"),
            ("coordinate_transformation_mode", "tf_crop_and_resize"),
        ]);
        op.extrapolation_value = 7.0;
        op.axes = Some(vec![1]);
        let roi = t(&[2], vec![0.5f32, 1.5]);
        let out = run(&op, &[Some(&x), Some(&roi), None, Some(&i64s(&[3]))]);
        close(&f32s(&out[0]), &[10.0, 20.0, 7.0]);
        assert!(op.eval(&[Some(&x), None, None, Some(&i64s(&[3]))]).is_err());
    }

    #[test]
    fn integer_interpolation_truncates_like_onnxruntime() {
        let x = t(&[2], vec![1u8, 2]);
        let op = build(&[
            ("mode", "linear"),
            ("coordinate_transformation_mode", "align_corners"),
        ]);
        let out = run(&op, &[Some(&x), None, None, Some(&i64s(&[3]))]);
        // 1, 1.5, 2 → 1, 1, 2.
        assert_eq!(out[0].as_slice::<u8>().unwrap(), &[1, 1, 2]);
        let x = t(&[2], vec![-1i8, -2]);
        let out = run(&op, &[Some(&x), None, None, Some(&i64s(&[3]))]);
        assert_eq!(out[0].as_slice::<i8>().unwrap(), &[-1, -1, -2]);
        let b = t(&[2], vec![true, false]);
        assert!(op.eval(&[Some(&b), None, None, Some(&i64s(&[3]))]).is_err());
    }

    #[test]
    fn bad_inputs_are_refused() {
        let x = t(&[2], vec![1f32, 2.0]);
        let op = build(&[]);
        let s = scales(&[2.0]);
        let sz = i64s(&[3]);
        assert!(op.eval(&[Some(&x), None, None, None]).is_err());
        assert!(op.eval(&[Some(&x), None, Some(&s), Some(&sz)]).is_err());
        assert!(op
            .eval(&[Some(&x), None, Some(&scales(&[-1.0])), None])
            .is_err());
        assert!(op
            .eval(&[Some(&x), None, Some(&scales(&[f32::NAN])), None])
            .is_err());
        assert!(op
            .eval(&[Some(&x), None, Some(&scales(&[1.0, 1.0])), None])
            .is_err());
        let err = op
            .eval(&[Some(&x), None, Some(&scales(&[1e30])), None])
            .unwrap_err();
        assert!(matches!(err, OpError::Shape(_)), "{err}");
        let err = op
            .eval(&[Some(&x), None, Some(&scales(&[1e12])), None])
            .unwrap_err();
        assert!(matches!(err, OpError::MemoryCap { .. }), "{err}");
        assert!(op
            .eval(&[Some(&x), None, None, Some(&i64s(&[-3]))])
            .is_err());
        // Opset-11 style: an empty scales tensor stands for "absent".
        let empty = scales(&[]);
        let out = run(&op, &[Some(&x), Some(&empty), Some(&empty), Some(&sz)]);
        assert_eq!(out[0].shape(), &[3]);
        let sf = Fact::new(mw_tensor::DType::F32, vec![1]);
        let xf = Fact::new(mw_tensor::DType::F32, vec![2]);
        assert_eq!(
            op.infer(&[Some(&xf), None, Some(&sf)]),
            Err(OpError::NotConstant(2))
        );
    }

    #[test]
    fn unsupported_configurations_are_refused() {
        assert!(build_resize(&Attrs::new(), &ctx(10, 2, 1)).is_err());
        let a = attrs(&[("antialias", Attr::Int(1))]);
        assert!(build_resize(&a, &ctx(18, 3, 1)).is_err());
        let a = attrs(&[("mode", Attr::String("bicubic".into()))]);
        assert!(build_resize(&a, &ctx(18, 3, 1)).is_err());
    }
}
