//! MwQGroupedGemm: a matrix product or convolution whose weights have one scale per (output
//! channel, group of `group_size` consecutive input channels), integer-only through
//! `mw_kernels::lowbit::grouped` (each group's `i32` sum scaled by its own fixed-point
//! multiplier, summed in `i64`, rounded once; contract and error bound in that module; a
//! convolution is the same GEMM behind an im2col, `mw_kernels::lowbit::grouped::conv`).
//!
//! Inputs, in QLinear order: `x` (i8/u8/i16), `x_scale`, `x_zero_point`, `w` (constant
//! INT4/int8, zero point 0, first axis = output channel: `[M, K]`, or `[M, C, KH, KW]` /
//! `[M, C, L]` for layout 2), `w_scale` (`[M, G]` f32, `G = ⌈K / group_size⌉`, `K` = the input
//! channels; the last group may be partial), `w_zero_point` (all zero, optional), `y_scale`,
//! `y_zero_point` (its type is the output's: i8/u8/i16), `bias` (optional int32 `[M]` of scale
//! `x_scale · max_g w_scale[o][g]`, the per-channel scale of the QDQ export).
//!
//! Attributes: `group_size`; `layout` = 0 for a matrix product (`x [.., K] → y [.., M]`), 1 for a
//! pointwise convolution (`x [B, K, H, W] → y [B, M, H, W]`, stride 1, no padding, one group) or
//! 2 for a convolution of one group with Conv's window attributes (`kernel_shape`, `strides`,
//! `dilations`, `pads`, `auto_pad`; NCHW or NCL); `qmin` / `qmax` clamp the stored output.
use super::common::{
    check_dtype, check_scalar, constant_params, scale_of, zero_point_of, Cache, Clamp,
};
use super::lowbit::{self, dispatch_act_pair};
use super::qlinear_conv::{conv_geometry, output_dtype, shape_key};
use crate::op::{optional, required};
use crate::ops::nn::Window;
use crate::{op_boilerplate, Attr, Attrs, BuildCtx, Cost, Fact, Op, OpError};
use mw_kernels::int8::conv::Conv2dParams;
use mw_kernels::int8::QInput;
use mw_kernels::lowbit::grouped::conv::GroupedConv;
use mw_kernels::lowbit::grouped::{GroupedGemm, GroupedScales};
use mw_kernels::lowbit::{ActElem, OutElem};
use mw_tensor::{DType, Element, Tensor};

/// What the weights multiply.
#[derive(Clone, Debug, PartialEq)]
pub enum Layout {
    /// `x [.., K] → y [.., M]` (layout 0).
    MatMul,
    /// `x [B, K, H, W] → y [B, M, H, W]` (layout 1).
    Pointwise,
    /// A one-group convolution with this window (layout 2).
    Conv(Window),
}

impl Layout {
    fn code(&self) -> i64 {
        match self {
            Layout::MatMul => 0,
            Layout::Pointwise => 1,
            Layout::Conv(_) => 2,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct QGroupedGemm {
    pub group_size: usize,
    pub layout: Layout,
    pub clamp: Clamp,
    cache: Cache<(DType, Kernel)>,
}

/// The prepared kernel.
#[derive(Debug)]
enum Kernel {
    Gemm(Box<GroupedGemm>),
    Conv(Box<GroupedConv>),
}

impl Kernel {
    fn gemm(&self) -> &GroupedGemm {
        match self {
            Kernel::Gemm(g) => g,
            Kernel::Conv(c) => c.gemm(),
        }
    }
}

/// The geometry of one evaluation.
struct Geometry {
    m: usize,
    /// Input channels (the grouped axis).
    k: usize,
    out: Vec<usize>,
    /// The convolution, for layout 2.
    conv: Option<Conv2dParams>,
}

pub fn build_mw_qgrouped_gemm(attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    let bad = |name: &str, reason: String| OpError::Attribute {
        name: name.into(),
        reason,
    };
    let gs = attrs
        .int("group_size")?
        .ok_or_else(|| bad("group_size", "missing".into()))?;
    let group_size = usize::try_from(gs)
        .ok()
        .filter(|&g| g > 0)
        .ok_or_else(|| bad("group_size", format!("{gs} is not positive")))?;
    let layout = match attrs.int("layout")?.unwrap_or(0) {
        0 => Layout::MatMul,
        1 => Layout::Pointwise,
        2 => Layout::Conv(Window::from_attrs(attrs)?),
        v => {
            return Err(bad(
                "layout",
                format!("{v} is none of 0 (matmul), 1 (pointwise conv), 2 (conv)"),
            ))
        }
    };
    Ok(Box::new(QGroupedGemm::new(
        group_size,
        layout,
        Clamp::from_attrs(attrs)?,
    )))
}

impl QGroupedGemm {
    pub fn new(group_size: usize, layout: Layout, clamp: Clamp) -> QGroupedGemm {
        QGroupedGemm {
            group_size,
            layout,
            clamp,
            cache: Cache::default(),
        }
    }

    /// The geometry for input shape `x` and weight shape `w`.
    fn geometry(&self, x: &[usize], w: &[usize]) -> Result<Geometry, OpError> {
        if let Layout::Conv(window) = &self.layout {
            let (p, out) = conv_geometry(window, 1, x, w)?;
            return Ok(Geometry {
                m: p.out_channels,
                k: p.in_channels,
                out,
                conv: Some(p),
            });
        }
        let &[m, k] = w else {
            return Err(OpError::Shape(format!("weights {w:?} are not [M, K]")));
        };
        let mut out = x.to_vec();
        let axis = if self.layout == Layout::Pointwise {
            if x.len() != 4 {
                return Err(OpError::Shape(format!("input {x:?} is not NCHW")));
            }
            1
        } else {
            x.len()
                .checked_sub(1)
                .ok_or_else(|| OpError::Shape("scalar input".into()))?
        };
        if x[axis] != k {
            return Err(OpError::Shape(format!(
                "input {x:?} does not have {k} channels"
            )));
        }
        out[axis] = m;
        Ok(Geometry {
            m,
            k,
            out,
            conv: None,
        })
    }

    fn prepare<A: ActElem + Element, U: OutElem + Element>(
        &self,
        inputs: &[Option<&Tensor>],
        geo: &Geometry,
    ) -> Result<(DType, Kernel), OpError> {
        let m = geo.m;
        let w = required(inputs, 3)?;
        if let Some(z) = optional(inputs, 5) {
            if z.to_i64_vec()?.iter().any(|&v| v != 0) {
                return Err(OpError::Unsupported(
                    "group-wise weights with a zero point".into(),
                ));
            }
        }
        let values: Vec<i8> = w
            .to_i64_vec()?
            .into_iter()
            .map(|v| i8::try_from(v).map_err(|_| OpError::Unsupported(format!("weight {v}"))))
            .collect::<Result<_, _>>()?;
        let packed = lowbit::pack(&values, m, values.len() / m.max(1))?;
        let ws = required(inputs, 4)?.as_slice::<f32>()?;
        let want = scale_shape(w.shape(), geo, self.group_size);
        if ws.len() != want.iter().product::<usize>() {
            return Err(OpError::Shape(format!(
                "{} weight scales for {want:?}",
                ws.len()
            )));
        }
        let groups = ws.len() / m.max(1);
        let x = scale_of(required(inputs, 1)?, 1)?;
        let y = scale_of(required(inputs, 6)?, 6)?;
        let bias_scales: Vec<f32> = ws
            .chunks(groups)
            .map(|row| x * row.iter().copied().fold(0f32, f32::max))
            .collect();
        let bias = optional(inputs, 8)
            .map(|b| b.as_slice::<i32>())
            .transpose()?;
        let zp = zero_point_of(optional(inputs, 7), 7, U::DTYPE)?;
        let lo = self
            .clamp
            .qmin
            .map_or(U::MIN, |v| v.clamp(U::MIN.into(), U::MAX.into()) as i32);
        let hi = self
            .clamp
            .qmax
            .map_or(U::MAX, |v| v.clamp(U::MIN.into(), U::MAX.into()) as i32);
        let scales = GroupedScales {
            x,
            w: ws,
            y,
            bias: &bias_scales,
        };
        let err =
            |e: mw_kernels::lowbit::grouped::GroupedError| OpError::Unsupported(e.to_string());
        let gs = self.group_size;
        let kernel = match geo.conv {
            Some(p) => Kernel::Conv(Box::new(
                GroupedConv::new::<A>(p, packed, gs, bias, scales, zp, (lo, hi)).map_err(err)?,
            )),
            None => Kernel::Gemm(Box::new(
                GroupedGemm::new::<A>(packed, gs, bias, scales, zp, (lo, hi)).map_err(err)?,
            )),
        };
        Ok((A::DTYPE, kernel))
    }

    fn run<A: ActElem + Element, U: OutElem + Element>(
        &self,
        inputs: &[Option<&Tensor>],
    ) -> Result<Tensor, OpError> {
        let x = required(inputs, 0)?;
        let w = required(inputs, 3)?;
        let geo = self.geometry(x.shape(), w.shape())?;
        let (m, k) = (geo.m, geo.k);
        let shape = shape_key(x.shape());
        let mut key: Vec<Option<&Tensor>> = (1..9).map(|i| optional(inputs, i)).collect();
        if geo.conv.is_some() {
            key.push(Some(&shape));
        }
        let p = self
            .cache
            .get(&key, || self.prepare::<A, U>(inputs, &geo))?;
        if p.0 != A::DTYPE {
            return Err(OpError::Unsupported(
                "input type changed between runs".into(),
            ));
        }
        let zx = zero_point_of(optional(inputs, 2), 2, A::DTYPE)?;
        let xv = x.as_slice::<A>()?;
        let mut y = Tensor::zeros(U::DTYPE, geo.out)?;
        let out = y.as_slice_mut::<U>()?;
        let err = lowbit::lowbit_error;
        if let Kernel::Conv(c) = &p.1 {
            let input = QInput {
                data: xv,
                zero_point: zx,
            };
            c.run(input, out).map_err(err)?;
        } else if self.layout == Layout::Pointwise {
            let plane = x.shape()[2] * x.shape()[3];
            for (xb, ob) in xv.chunks(k * plane).zip(out.chunks_mut(m * plane)) {
                p.1.gemm().run(plane, xb, zx, ob).map_err(err)?;
            }
        } else {
            let rows = xv.len() / k.max(1);
            let xt = transpose(xv, rows, k);
            let mut yt = vec![U::default(); m * rows];
            p.1.gemm().run(rows, &xt, zx, &mut yt).map_err(err)?;
            out.copy_from_slice(&transpose(&yt, m, rows));
        }
        Ok(y)
    }
}

/// The weight scales' shape: `[M, G]`, or for a convolution the weights' shape with the input
/// channels replaced by `G` (one scale per output channel, block and kernel tap).
fn scale_shape(w: &[usize], geo: &Geometry, group_size: usize) -> Vec<usize> {
    let groups = geo.k.div_ceil(group_size).max(1);
    match geo.conv {
        Some(_) => {
            let mut s = w.to_vec();
            if let Some(c) = s.get_mut(1) {
                *c = groups;
            }
            s
        }
        None => vec![geo.m, groups],
    }
}

/// `[r × c]` row-major to `[c × r]`.
fn transpose<T: Copy + Default>(v: &[T], r: usize, c: usize) -> Vec<T> {
    let mut out = vec![T::default(); v.len()];
    for i in 0..r {
        for j in 0..c {
            out[j * r + i] = v[i * c + j];
        }
    }
    out
}

impl Op for QGroupedGemm {
    fn op_type(&self) -> &'static str {
        "MwQGroupedGemm"
    }
    fn attrs(&self) -> Attrs {
        let mut a = Attrs::new()
            .with("group_size", Attr::Int(self.group_size as i64))
            .with("layout", Attr::Int(self.layout.code()));
        if let Layout::Conv(window) = &self.layout {
            a = window.to_attrs(a);
        }
        self.clamp.write(a)
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let x = required(inputs, 0)?;
        let w = required(inputs, 3)?;
        lowbit::check_act(x.dtype, 0)?;
        lowbit::check_weights(w.dtype, 3)?;
        let geo = self.geometry(&x.shape, &w.shape)?;
        let m = geo.m;
        check_scalar(required(inputs, 1)?, 1, DType::F32)?;
        if let Some(z) = optional(inputs, 2) {
            check_scalar(z, 2, x.dtype)?;
        }
        let ws = required(inputs, 4)?;
        check_dtype(ws.dtype, 4, DType::F32)?;
        let want = scale_shape(&w.shape, &geo, self.group_size);
        if ws.shape != want {
            return Err(OpError::Shape(format!(
                "weight scales {:?} for {want:?} (group size {})",
                ws.shape, self.group_size
            )));
        }
        check_scalar(required(inputs, 6)?, 6, DType::F32)?;
        let y_zp = optional(inputs, 7);
        if let Some(z) = y_zp {
            lowbit::check_act(z.dtype, 7)?;
        }
        if let Some(b) = optional(inputs, 8) {
            check_dtype(b.dtype, 8, DType::I32)?;
            if b.shape != [m] {
                return Err(OpError::Shape(format!(
                    "bias {:?} for {m} channels",
                    b.shape
                )));
            }
        }
        Ok(vec![Fact::new(output_dtype(y_zp, x.dtype), geo.out)])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let x = required(inputs, 0)?;
        let y_dtype = optional(inputs, 7).map_or(x.dtype(), Tensor::dtype);
        let y = dispatch_act_pair!(x.dtype(), y_dtype, A, U => self.run::<A, U>(inputs)?,
            _ => return Err(OpError::InputDType {
                index: 7, expected: lowbit::ACT.into(), actual: y_dtype }));
        Ok(vec![y])
    }
    fn cost(&self, inputs: &[Option<&Fact>], outputs: &[Fact]) -> Cost {
        let (params, weight_bytes) = constant_params(inputs, &[3, 4, 8]);
        // The reduction per output: every weight of one output channel.
        let k = required(inputs, 3)
            .map(|w| w.shape.iter().skip(1).product::<usize>())
            .unwrap_or(0);
        Cost {
            macs: (outputs[0].numel() * k) as u64,
            elementwise: outputs[0].numel() as u64,
            params,
            weight_bytes,
        }
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: Vec<f32>, shape: Vec<usize>) -> Tensor {
        Tensor::from_vec(shape, v).unwrap()
    }

    /// Against the real-valued formula on a small matmul: within one output step.
    #[test]
    fn matmul_matches_the_dequantized_product() {
        let op = QGroupedGemm::new(2, Layout::MatMul, Clamp::default());
        let x = Tensor::from_vec(vec![2, 3], vec![10u8, 20, 30, 40, 50, 60]).unwrap();
        let w = Tensor::from_vec(vec![2, 3], vec![1i8, -2, 3, 7, 0, -7])
            .unwrap()
            .cast(DType::I4);
        let ws = f(vec![0.5, 0.25, 1.0, 0.125], vec![2, 2]);
        let (sx, sy, zx) = (0.1f32, 0.2f32, 5u8);
        let bias = Tensor::from_vec(vec![2], vec![100i32, -50]).unwrap();
        let inputs = [
            Some(x.clone()),
            Some(Tensor::scalar(sx)),
            Some(Tensor::scalar(zx)),
            Some(w),
            Some(ws),
            None,
            Some(Tensor::scalar(sy)),
            Some(Tensor::scalar(0i8)),
            Some(bias),
        ];
        let refs: Vec<Option<&Tensor>> = inputs.iter().map(Option::as_ref).collect();
        let y = op.eval(&refs).unwrap().remove(0);
        assert_eq!(y.shape(), &[2, 2]);
        let got = y.as_slice::<i8>().unwrap();
        let wv = [[1f32, -2., 3.], [7., 0., -7.]];
        let scales = [[0.5f32, 0.5, 0.25], [1.0, 1.0, 0.125]];
        let bs = [sx * 0.5, sx * 1.0];
        let xv = x.as_slice::<u8>().unwrap();
        for r in 0..2 {
            for o in 0..2 {
                let mut real = [100f32, -50.][o] * bs[o];
                for kk in 0..3 {
                    real += (f32::from(xv[r * 3 + kk]) - f32::from(zx))
                        * sx
                        * wv[o][kk]
                        * scales[o][kk];
                }
                let want = (real / sy).round().clamp(-128.0, 127.0);
                assert!(
                    (f32::from(got[r * 2 + o]) - want).abs() <= 1.0,
                    "{r},{o}: {} vs {want}",
                    got[r * 2 + o]
                );
            }
        }
    }

    #[test]
    fn bad_shapes_are_refused() {
        let op = QGroupedGemm::new(32, Layout::Pointwise, Clamp::default());
        let x = Fact::new(DType::U8, vec![1, 64, 5, 5]);
        let w = Fact::new(DType::I4, vec![8, 64]);
        let s = Fact::new(DType::F32, vec![]);
        let ws = Fact::new(DType::F32, vec![8, 3]);
        let r = op.infer(&[
            Some(&x),
            Some(&s),
            None,
            Some(&w),
            Some(&ws),
            None,
            Some(&s),
        ]);
        assert!(matches!(r, Err(OpError::Shape(_))), "{r:?}");
        let ws = Fact::new(DType::F32, vec![8, 2]);
        let r = op
            .infer(&[
                Some(&x),
                Some(&s),
                None,
                Some(&w),
                Some(&ws),
                None,
                Some(&s),
            ])
            .unwrap();
        assert_eq!(r[0].shape, vec![1, 8, 5, 5]);
        assert!(build_mw_qgrouped_gemm(
            &Attrs::new(),
            &BuildCtx {
                opset: 21,
                n_inputs: 9,
                n_outputs: 1
            }
        )
        .is_err());
    }
}
