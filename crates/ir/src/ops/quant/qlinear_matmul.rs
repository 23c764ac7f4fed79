//! QLinearMatMul (ONNX) and MwQGemm (the same with an int32 bias and a fused clamp): 8-bit matrix
//! product with a right operand of rank ≥ 2, integer-only evaluation.
//!
//! Inputs: `a` (i8/u8 `[..., M, K]`, or `[K]`), `a_scale`, `a_zero_point` (one value each), `b`
//! (i8/u8 `[..., K, N]`, batch dimensions broadcast as in MatMul), `b_scale`, `b_zero_point`
//! (1 or N values: per column), `y_scale`,
//! `y_zero_point` (the output type); MwQGemm adds optional `bias` (i32 `[N]`, scale
//! `a_scale · b_scale`, zero point 0) and the `qmin` / `qmax` clamp attributes.
//!
//! `y[r][n] = clamp(y_zp + M_n · (bias[n] + Σ_k (a[r][k] − a_zp)(b[k][n] − b_zp[n])), qmin, qmax)`
//! with `M_n = a_scale · b_scale[n] / y_scale` formed in f32 and applied with integers exactly as
//! ONNX Runtime applies it (`mw_kernels::int8::requant::soft_float`). When
//! `b − b_zp` fits i8 (symmetric weights) the packed int8 GEMM runs; otherwise a scalar i32 loop
//! with the same output stage. Derived parameters are cached on first use.
use super::common::{
    bad_q8, check_dtype, check_per_channel, check_q8, check_scalar, constant_params,
    dispatch_q8_pair, int8_error, scale_of, scales_of, zero_point_of, zero_points_of, Cache, Clamp,
};
use super::lowbit::{self, dispatch_act_pair};
use super::qlinear_conv::{output_dtype, output_stage, weights_i8};
use crate::op::{optional, required};
use crate::{op_boilerplate, Attrs, BuildCtx, Cost, Fact, Op, OpError};
use mw_kernels::elementwise::{broadcast_shapes, broadcast_strides};
use mw_kernels::int8::gemm::{gemm_packed, PackedWeights};
use mw_kernels::int8::requant::OutputStage;
use mw_kernels::int8::QuantElem;
use mw_kernels::lowbit::gemm::gemm as lowbit_gemm;
use mw_kernels::lowbit::{ActElem, OutElem, PackedWeights as LowBitWeights};
use mw_tensor::{DType, Element, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub struct QLinearMatMul {
    /// The fused clamp (MwQGemm only).
    pub clamp: Clamp,
    /// Whether this is MwQGemm (bias input and clamp allowed) rather than the ONNX op.
    pub gemm: bool,
    cache: Cache<Prepared>,
    lowbit: Cache<LowBitPrepared>,
}

/// The low-bit path (16-bit activations or packed weights): each matrix of `b` minus its zero
/// points, transposed to `[N × K]` and packed.
#[derive(Debug)]
struct LowBitPrepared {
    weights: Vec<LowBitWeights>,
    stage: OutputStage,
    bias: Option<Vec<i32>>,
    a_zero_point: i32,
}

/// `b − b_zp` transposed to `[N × K]` (one per matrix of `b`): packed when it fits i8, else as
/// i32.
#[derive(Debug)]
enum Weights {
    Packed(PackedWeights),
    Wide { w: Vec<i32>, k: usize, n: usize },
}

#[derive(Debug)]
struct Prepared {
    weights: Vec<Weights>,
    stage: OutputStage,
    bias: Option<Vec<i32>>,
    a_zero_point: i32,
}

pub fn build_qlinear_matmul(_attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    Ok(Box::new(QLinearMatMul::new(false, Clamp::default())))
}

pub fn build_mw_qgemm(attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    Ok(Box::new(QLinearMatMul::new(
        true,
        Clamp::from_attrs(attrs)?,
    )))
}

/// The shapes of `a [..., M, K] · b [..., K, N]` (numpy matmul broadcasting of the batch
/// dimensions; a 1-D `a` is one row whose dimension the output drops).
#[derive(Debug)]
struct Geometry {
    /// Batch dimensions of `a`, of `b` and of the output.
    a_batch: Vec<usize>,
    b_batch: Vec<usize>,
    out_batch: Vec<usize>,
    m: usize,
    k: usize,
    n: usize,
    out: Vec<usize>,
}

fn geometry(a: &[usize], b: &[usize]) -> Result<Geometry, OpError> {
    let bad = || {
        OpError::Shape(format!(
            "integer MatMul needs A [..., M, K] and B [..., K, N], got {a:?} and {b:?}"
        ))
    };
    let (&k, a_lead) = a.split_last().ok_or_else(bad)?;
    let (a_batch, m) = match a_lead.split_last() {
        Some((&m, batch)) => (batch.to_vec(), Some(m)),
        None => (Vec::new(), None),
    };
    if b.len() < 2 || b[b.len() - 2] != k {
        return Err(bad());
    }
    let n = b[b.len() - 1];
    let b_batch = b[..b.len() - 2].to_vec();
    let out_batch = broadcast_shapes(&a_batch, &b_batch).map_err(|_| bad())?;
    let mut out = out_batch.clone();
    out.extend(m);
    out.push(n);
    Ok(Geometry {
        a_batch,
        b_batch,
        out_batch,
        m: m.unwrap_or(1),
        k,
        n,
        out,
    })
}

/// Flat index into a tensor of batch shape `shape` for flat output batch index `o` of `out`.
fn batch_index(o: usize, out: &[usize], shape: &[usize]) -> usize {
    let strides = broadcast_strides(shape, out);
    let mut rem = o;
    let mut idx = 0;
    for (d, &len) in out.iter().enumerate().rev() {
        idx += (rem % len.max(1)) * strides[d];
        rem /= len.max(1);
    }
    idx
}

/// Row-major `[r × c]` transposed.
fn transpose<T: Copy + Default>(v: &[T], r: usize, c: usize) -> Vec<T> {
    let mut out = vec![T::default(); v.len()];
    for i in 0..r {
        for j in 0..c {
            out[j * r + i] = v[i * c + j];
        }
    }
    out
}

impl QLinearMatMul {
    /// QLinearMatMul (`gemm = false`, no clamp) or MwQGemm.
    pub fn new(gemm: bool, clamp: Clamp) -> QLinearMatMul {
        QLinearMatMul {
            clamp,
            gemm,
            cache: Cache::default(),
            lowbit: Cache::default(),
        }
    }

    fn prepare<U: QuantElem + Element>(
        &self,
        k: usize,
        n: usize,
        inputs: &[Option<&Tensor>],
    ) -> Result<Prepared, OpError> {
        let b = required(inputs, 3)?.to_i64_vec()?;
        let b_zp = match optional(inputs, 5) {
            Some(z) => zero_points_of(z, 5)?,
            None => vec![0],
        };
        let per = k * n;
        let weights = (0..b.len() / per.max(1))
            .map(|i| prepare_matrix(&b[i * per..(i + 1) * per], &b_zp, k, n))
            .collect::<Result<_, _>>()?;
        let a = required(inputs, 0)?;
        let a_scale = scale_of(required(inputs, 1)?, 1)?;
        let a_zero_point = zero_point_of(optional(inputs, 2), 2, a.dtype())?;
        let b_scale = scales_of(required(inputs, 4)?, 4)?;
        let y_scale = scale_of(required(inputs, 6)?, 6)?;
        let y_zp = zero_point_of(optional(inputs, 7), 7, U::DTYPE)?;
        let stage = output_stage::<U>(a_scale, &b_scale, y_scale, y_zp, &self.clamp, n)?;
        let bias = match optional(inputs, 8) {
            Some(t) if self.gemm => Some(t.as_slice::<i32>()?.to_vec()),
            _ => None,
        };
        Ok(Prepared {
            weights,
            stage,
            bias,
            a_zero_point,
        })
    }

    fn run<T: QuantElem + Element, U: QuantElem + Element>(
        &self,
        inputs: &[Option<&Tensor>],
    ) -> Result<Tensor, OpError> {
        let a = required(inputs, 0)?;
        let b = required(inputs, 3)?;
        let g = geometry(a.shape(), b.shape())?;
        let key: Vec<Option<&Tensor>> = (1..9).map(|i| optional(inputs, i)).collect();
        let p = self
            .cache
            .get(&key, || self.prepare::<U>(g.k, g.n, inputs))?;
        let av = a.as_slice::<T>()?;
        let mut y = Tensor::zeros(U::DTYPE, g.out.clone())?;
        let out = y.as_slice_mut::<U>()?;
        let (m, k, n) = (g.m, g.k, g.n);
        if p.weights.is_empty() {
            return Err(OpError::Shape(format!(
                "B of shape {:?} is empty",
                b.shape()
            )));
        }
        if p.weights.len() == 1 {
            // One matrix: every row of `a`, all batches at once.
            return self
                .product(&p, &p.weights[0], av, av.len() / k.max(1), out)
                .map(|_| y);
        }
        let batches: usize = g.out_batch.iter().product();
        for o in 0..batches {
            let ai = batch_index(o, &g.out_batch, &g.a_batch);
            let bi = batch_index(o, &g.out_batch, &g.b_batch);
            let a_mat = &av[ai * m * k..(ai + 1) * m * k];
            let dst = &mut out[o * m * n..(o + 1) * m * n];
            self.product(&p, &p.weights[bi], a_mat, m, dst)?;
        }
        Ok(y)
    }

    /// `out [rows × N] = a [rows × K] · w` through the output stage.
    fn product<T: QuantElem, U: QuantElem>(
        &self,
        p: &Prepared,
        w: &Weights,
        a: &[T],
        rows: usize,
        out: &mut [U],
    ) -> Result<(), OpError> {
        match w {
            Weights::Packed(w) => {
                let (k, n) = (w.k(), w.m());
                let at = transpose(a, rows, k);
                let mut yt = vec![U::default(); n * rows];
                gemm_packed(
                    w,
                    rows,
                    &at,
                    p.a_zero_point,
                    p.bias.as_deref(),
                    &p.stage,
                    &mut yt,
                )
                .map_err(int8_error)?;
                out.copy_from_slice(&transpose(&yt, n, rows));
            }
            Weights::Wide { w, k, n } => {
                let (k, n) = (*k, *n);
                for r in 0..rows {
                    let row = &a[r * k..(r + 1) * k];
                    for c in 0..n {
                        let mut acc = p.bias.as_ref().map_or(0, |b| b[c]);
                        for (&x, &wv) in row.iter().zip(&w[c * k..(c + 1) * k]) {
                            acc = acc.wrapping_add((x.to_i32() - p.a_zero_point).wrapping_mul(wv));
                        }
                        out[r * n + c] = p.stage.requantize_to(acc, c);
                    }
                }
            }
        }
        Ok(())
    }
}

impl QLinearMatMul {
    fn prepare_lowbit(
        &self,
        k: usize,
        n: usize,
        y_dtype: DType,
        inputs: &[Option<&Tensor>],
    ) -> Result<LowBitPrepared, OpError> {
        let b = required(inputs, 3)?.to_i64_vec()?;
        let b_zp = match optional(inputs, 5) {
            Some(z) => zero_points_of(z, 5)?,
            None => vec![0],
        };
        let a = required(inputs, 0)?;
        let a_scale = scale_of(required(inputs, 1)?, 1)?;
        let a_zero_point = zero_point_of(optional(inputs, 2), 2, a.dtype())?;
        let b_scale = scales_of(required(inputs, 4)?, 4)?;
        let y_scale = scale_of(required(inputs, 6)?, 6)?;
        let y_zp = zero_point_of(optional(inputs, 7), 7, y_dtype)?;
        let stage =
            lowbit::output_stage(y_dtype, a_scale, &b_scale, y_scale, y_zp, &self.clamp, n)?;
        let bias = match optional(inputs, 8) {
            Some(t) if self.gemm => Some(t.as_slice::<i32>()?.to_vec()),
            _ => None,
        };
        let per = k * n;
        let weights = (0..b.len() / per.max(1))
            .map(|i| {
                let bt = Tensor::from_vec(vec![n, k], transpose(&b[i * per..(i + 1) * per], k, n))?;
                let w = lowbit::pack(&weights_i8(&bt, &b_zp, n)?, n, k)?;
                lowbit::check_overflow(&w, a.dtype(), a_zero_point, bias.as_deref())?;
                Ok(w)
            })
            .collect::<Result<_, OpError>>()?;
        Ok(LowBitPrepared {
            weights,
            stage,
            bias,
            a_zero_point,
        })
    }

    fn run_lowbit<A: ActElem + Element, U: OutElem + Element>(
        &self,
        inputs: &[Option<&Tensor>],
    ) -> Result<Tensor, OpError> {
        let a = required(inputs, 0)?;
        let b = required(inputs, 3)?;
        let g = geometry(a.shape(), b.shape())?;
        let key: Vec<Option<&Tensor>> = (1..9).map(|i| optional(inputs, i)).collect();
        let p = self
            .lowbit
            .get(&key, || self.prepare_lowbit(g.k, g.n, U::DTYPE, inputs))?;
        let av = a.as_slice::<A>()?;
        let mut y = Tensor::zeros(U::DTYPE, g.out.clone())?;
        let out = y.as_slice_mut::<U>()?;
        let (m, k, n) = (g.m, g.k, g.n);
        if p.weights.is_empty() {
            return Err(OpError::Shape(format!(
                "B of shape {:?} is empty",
                b.shape()
            )));
        }
        let product = |w: &LowBitWeights, a: &[A], rows: usize, dst: &mut [U]| {
            let at = transpose(a, rows, k);
            let mut yt = vec![U::default(); n * rows];
            let (zp, bias) = (p.a_zero_point, p.bias.as_deref());
            if lowbit::needs_widening::<A>(w) {
                lowbit_gemm(w, rows, &lowbit::widen(&at), zp, bias, &p.stage, &mut yt)
            } else {
                lowbit_gemm(w, rows, &at, zp, bias, &p.stage, &mut yt)
            }
            .map_err(lowbit::lowbit_error)?;
            dst.copy_from_slice(&transpose(&yt, n, rows));
            Ok::<(), OpError>(())
        };
        if p.weights.len() == 1 {
            product(&p.weights[0], av, av.len() / k.max(1), out)?;
            return Ok(y);
        }
        let batches: usize = g.out_batch.iter().product();
        for o in 0..batches {
            let ai = batch_index(o, &g.out_batch, &g.a_batch);
            let bi = batch_index(o, &g.out_batch, &g.b_batch);
            let a_mat = &av[ai * m * k..(ai + 1) * m * k];
            product(
                &p.weights[bi],
                a_mat,
                m,
                &mut out[o * m * n..(o + 1) * m * n],
            )?;
        }
        Ok(y)
    }
}

/// One `[K × N]` matrix of `b` (values as i64) minus its per-column zero points, transposed.
fn prepare_matrix(b: &[i64], zps: &[i32], k: usize, n: usize) -> Result<Weights, OpError> {
    let bt = Tensor::from_vec(vec![n, k], transpose(b, k, n))?;
    match weights_i8(&bt, zps, n) {
        Ok(w) => Ok(Weights::Packed(
            PackedWeights::new(n, k, &w).map_err(int8_error)?,
        )),
        Err(OpError::Unsupported(_)) => {
            let per = k.max(1);
            let w = transpose(b, k, n)
                .iter()
                .enumerate()
                .map(|(i, &q)| {
                    let zp = if zps.len() == 1 { zps[0] } else { zps[i / per] };
                    (q - i64::from(zp)) as i32
                })
                .collect();
            Ok(Weights::Wide { w, k, n })
        }
        Err(e) => Err(e),
    }
}

impl Op for QLinearMatMul {
    fn op_type(&self) -> &'static str {
        if self.gemm {
            "MwQGemm"
        } else {
            "QLinearMatMul"
        }
    }
    fn attrs(&self) -> Attrs {
        self.clamp.write(Attrs::new())
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let a = required(inputs, 0)?;
        let b = required(inputs, 3)?;
        lowbit::check_act(a.dtype, 0)?;
        lowbit::check_weights(b.dtype, 3)?;
        let Geometry { n, out, .. } = geometry(&a.shape, &b.shape)?;
        check_scalar(required(inputs, 1)?, 1, DType::F32)?;
        if let Some(z) = optional(inputs, 2) {
            check_scalar(z, 2, a.dtype)?;
        }
        check_per_channel(required(inputs, 4)?, 4, DType::F32, n)?;
        if let Some(z) = optional(inputs, 5) {
            check_per_channel(z, 5, b.dtype, n)?;
        }
        check_scalar(required(inputs, 6)?, 6, DType::F32)?;
        let y_zp = optional(inputs, 7);
        if let Some(z) = y_zp {
            lowbit::check_act(z.dtype, 7)?;
        }
        match optional(inputs, 8) {
            Some(_) if !self.gemm => {
                return Err(OpError::Unsupported(
                    "QLinearMatMul has no bias input (MwQGemm has)".into(),
                ))
            }
            Some(bias) => {
                check_dtype(bias.dtype, 8, DType::I32)?;
                if bias.shape != [n] {
                    return Err(OpError::Shape(format!(
                        "bias {:?} for {n} output columns",
                        bias.shape
                    )));
                }
            }
            None => {}
        }
        Ok(vec![Fact::new(output_dtype(y_zp, a.dtype), out)])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let a = required(inputs, 0)?;
        let y_dtype = optional(inputs, 7).map_or(a.dtype(), Tensor::dtype);
        let w_dtype = required(inputs, 3)?.dtype();
        if lowbit::uses_lowbit(a.dtype(), w_dtype, y_dtype) {
            let y = dispatch_act_pair!(a.dtype(), y_dtype, A, U => self.run_lowbit::<A, U>(inputs)?,
                _ => return Err(OpError::InputDType {
                    index: 7, expected: lowbit::ACT.into(), actual: y_dtype }));
            return Ok(vec![y]);
        }
        check_q8(a.dtype(), 0)?;
        let y = dispatch_q8_pair!(a.dtype(), y_dtype, T, U => self.run::<T, U>(inputs)?,
            _ => return Err(bad_q8(7, y_dtype)));
        Ok(vec![y])
    }
    fn cost(&self, inputs: &[Option<&Fact>], outputs: &[Fact]) -> Cost {
        let (params, weight_bytes) = constant_params(inputs, &[3, 8]);
        let k = required(inputs, 3)
            .map(|b| b.shape.iter().rev().nth(1).copied().unwrap_or(0))
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
    use super::super::common::testutil::{s, t, z};
    use super::*;
    use crate::ops::elementwise::common::testutil::{build, round_trips, run_const};

    /// ONNX's QLinearMatMul example (uint8).
    #[test]
    fn onnx_documentation_example() {
        let op = build("QLinearMatMul", &Attrs::new(), 13, 8);
        let a = t(&[2, 4], vec![208u8, 236, 0, 238, 3, 214, 255, 29]);
        let b = t(
            &[4, 3],
            vec![152u8, 51, 244, 60, 26, 255, 0, 127, 246, 127, 254, 247],
        );
        let inputs = [
            Some(a),
            Some(s(0.0066)),
            Some(z(113u8)),
            Some(b),
            Some(s(0.00705)),
            Some(z(114u8)),
            Some(s(0.0107)),
            Some(z(118u8)),
        ];
        let y = run_const(op.as_ref(), &inputs).unwrap();
        assert_eq!(y.as_slice::<u8>().unwrap(), &[168, 115, 255, 1, 66, 151]);
        round_trips(op.as_ref(), 13, 8);
    }

    #[test]
    fn gemm_with_bias_per_column_scales_and_clamp() {
        let attrs = Clamp {
            qmin: Some(0),
            qmax: None,
        }
        .write(Attrs::new());
        let op = build("MwQGemm", &attrs, 13, 9);
        let a = t(&[1, 2, 2], vec![1i8, 2, 3, -4]);
        let b = t(&[2, 2], vec![1i8, -1, 1, 1]);
        let inputs = [
            Some(a),
            Some(s(1.0)),
            Some(z(0i8)),
            Some(b),
            Some(t(&[2], vec![1.0f32, 2.0])),
            Some(t(&[2], vec![0i8, 0])),
            Some(s(1.0)),
            Some(z(0i8)),
            Some(t(&[2], vec![1i32, -1])),
        ];
        let y = run_const(op.as_ref(), &inputs).unwrap();
        // rows [1,2]: [1+3, 2·(−1+1)] = [4, 0]; [3,−4]: [1−1, 2·(−1−3−4)] → [0, −16 → 0].
        assert_eq!(y.shape(), &[1, 2, 2]);
        assert_eq!(y.as_slice::<i8>().unwrap(), &[4, 0, 0, 0]);
        round_trips(op.as_ref(), 13, 9);
    }

    /// A mixed-precision boundary: 8-bit input, int8 weights outside the INT4 range, 16-bit output.
    /// The low-bit path widens the input to `i16`; results beyond the 8-bit range prove the output
    /// is really 16-bit.
    #[test]
    fn eight_bit_input_with_int8_weights_and_i16_output() {
        let op = build("QLinearMatMul", &Attrs::new(), 13, 8);
        let b = t(&[3, 2], vec![100i8, -1, 20, 2, -9, 3]);
        let run_with = |a: Tensor, a_zero: Tensor| {
            let inputs = [
                Some(a),
                Some(s(1.0)),
                Some(a_zero),
                Some(b.clone()),
                Some(s(1.0)),
                Some(z(0i8)),
                Some(s(1.0)),
                Some(z(0i16)),
            ];
            run_const(op.as_ref(), &inputs).unwrap()
        };
        // [100, −50, 7] · b = [10000 − 1000 − 63, −100 − 100 + 21] = [8937, −179].
        let y = run_with(t(&[1, 3], vec![100i8, -50, 7]), z(0i8));
        assert_eq!(y.as_slice::<i16>().unwrap(), &[8937, -179]);
        // The same values as u8 with zero point 128.
        let y = run_with(t(&[1, 3], vec![228u8, 78, 135]), z(128u8));
        assert_eq!(y.as_slice::<i16>().unwrap(), &[8937, -179]);
    }

    #[test]
    fn batched_b_broadcasts_over_batches() {
        let op = build("QLinearMatMul", &Attrs::new(), 13, 8);
        // a [2, 1, 2] · b [2, 2, 1]: batch 0 uses b0 = [1, 2]ᵀ, batch 1 b1 = [−1, 3]ᵀ.
        let inputs = [
            Some(t(&[2, 1, 2], vec![1i8, 2, 3, 4])),
            Some(s(1.0)),
            Some(z(0i8)),
            Some(t(&[2, 2, 1], vec![1i8, 2, -1, 3])),
            Some(s(1.0)),
            Some(z(0i8)),
            Some(s(1.0)),
            Some(z(0i8)),
        ];
        let y = run_const(op.as_ref(), &inputs).unwrap();
        assert_eq!(y.shape(), &[2, 1, 1]);
        assert_eq!(y.as_slice::<i8>().unwrap(), &[5, 9]);
    }

    #[test]
    fn bias_is_refused_on_the_onnx_op_and_shapes_are_checked() {
        let op = build("QLinearMatMul", &Attrs::new(), 13, 9);
        let a = Fact::new(DType::I8, vec![2, 3]);
        let b = Fact::of(&t(&[3, 2], vec![0i8; 6]));
        let sc = Fact::of(&s(1.0));
        let zp = Fact::of(&z(0i8));
        let bias = Fact::of(&t(&[2], vec![0i32; 2]));
        let ins = [
            Some(&a),
            Some(&sc),
            Some(&zp),
            Some(&b),
            Some(&sc),
            Some(&zp),
            Some(&sc),
            Some(&zp),
            Some(&bias),
        ];
        assert!(matches!(op.infer(&ins), Err(OpError::Unsupported(_))));
        assert_eq!(op.infer(&ins[..8]).unwrap()[0].shape, vec![2, 2]);
        let c = op.cost(&ins[..8], &op.infer(&ins[..8]).unwrap());
        assert_eq!((c.macs, c.params, c.weight_bytes), (12, 6, 6));
        let a_bad = Fact::new(DType::I8, vec![2, 4]);
        let mut ins2 = ins;
        ins2[0] = Some(&a_bad);
        assert!(matches!(op.infer(&ins2[..8]), Err(OpError::Shape(_))));
    }
}
