//! Gemm: `Y = alpha · A' · B' + beta · C` with `A' = transA ? Aᵀ : A` (`[M, K]`),
//! `B' = transB ? Bᵀ : B` (`[K, N]`) and the optional `C` broadcast to `[M, N]`.
use super::util::{check_dtype, constant_params, first_numel, kernel_error, typed_input};
use crate::op::{optional, required};
use crate::{op_boilerplate, Attr, Attrs, BuildCtx, Cost, Fact, Op, OpError};
use mw_kernels::nn::{self, Mat};
use mw_tensor::{DType, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub struct Gemm {
    pub alpha: f32,
    pub beta: f32,
    pub trans_a: bool,
    pub trans_b: bool,
}

pub fn build_gemm(attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    Ok(Box::new(Gemm {
        alpha: attrs.float_or("alpha", 1.0)?,
        beta: attrs.float_or("beta", 1.0)?,
        trans_a: attrs.int_or("transA", 0)? != 0,
        trans_b: attrs.int_or("transB", 0)? != 0,
    }))
}

impl Gemm {
    /// `(M, K, N)` for the shapes of A and B, checking `C` broadcasts to `[M, N]`.
    fn dims(&self, a: &[usize], b: &[usize], c: Option<&[usize]>) -> Result<[usize; 3], OpError> {
        if a.len() != 2 || b.len() != 2 {
            return Err(OpError::Shape(format!(
                "Gemm needs 2-D A and B, got {a:?} and {b:?}"
            )));
        }
        let (m, k) = if self.trans_a {
            (a[1], a[0])
        } else {
            (a[0], a[1])
        };
        let (kb, n) = if self.trans_b {
            (b[1], b[0])
        } else {
            (b[0], b[1])
        };
        if k != kb {
            return Err(OpError::Shape(format!(
                "Gemm inner dims differ: A' is {m}x{k}, B' is {kb}x{n}"
            )));
        }
        if let Some(c) = c {
            let fits = c.len() <= 2
                && c.iter()
                    .rev()
                    .zip([n, m])
                    .all(|(&cd, target)| cd == 1 || cd == target);
            if !fits {
                return Err(OpError::Shape(format!(
                    "C {c:?} does not broadcast to [{m}, {n}]"
                )));
            }
        }
        Ok([m, k, n])
    }
}

/// Fills `y [m, n]` with `beta · c`, `c` of shape `c_shape` broadcast unidirectionally.
fn fill_broadcast(y: &mut [f32], n: usize, c: &[f32], c_shape: &[usize], beta: f32) {
    let (rows, cols) = match c_shape {
        [] => (1, 1),
        [cols] => (1, *cols),
        [rows, cols] => (*rows, *cols),
        _ => return,
    };
    for (i, row) in y.chunks_exact_mut(n.max(1)).enumerate() {
        let src = &c[if rows == 1 { 0 } else { i * cols }..];
        for (j, v) in row.iter_mut().enumerate() {
            *v = beta * src[if cols == 1 { 0 } else { j }];
        }
    }
}

impl Op for Gemm {
    fn op_type(&self) -> &'static str {
        "Gemm"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new()
            .with("alpha", Attr::Float(self.alpha))
            .with("beta", Attr::Float(self.beta))
            .with("transA", Attr::Int(self.trans_a as i64))
            .with("transB", Attr::Int(self.trans_b as i64))
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let a = required(inputs, 0)?;
        let b = required(inputs, 1)?;
        let c = optional(inputs, 2);
        check_dtype(a.dtype, 0, &[DType::F32])?;
        check_dtype(b.dtype, 1, &[DType::F32])?;
        if let Some(c) = c {
            check_dtype(c.dtype, 2, &[DType::F32])?;
        }
        let [m, _, n] = self.dims(&a.shape, &b.shape, c.map(|c| c.shape.as_slice()))?;
        Ok(vec![Fact::new(DType::F32, vec![m, n])])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let (at, bt) = (required(inputs, 0)?, required(inputs, 1)?);
        let (a, b) = (
            typed_input::<f32>(inputs, 0)?,
            typed_input::<f32>(inputs, 1)?,
        );
        let ct = optional(inputs, 2);
        let [m, k, n] = self.dims(at.shape(), bt.shape(), ct.map(Tensor::shape))?;
        let mut y = Tensor::zeros(DType::F32, vec![m, n])?;
        let ys = y.as_slice_mut::<f32>()?;
        let mut beta = 0.0;
        if let (Some(ct), true) = (ct, self.beta != 0.0) {
            fill_broadcast(ys, n, typed_input::<f32>(inputs, 2)?, ct.shape(), self.beta);
            beta = 1.0;
        }
        let am = if self.trans_a {
            Mat::row_major(a, k, m).map(Mat::t)
        } else {
            Mat::row_major(a, m, k)
        };
        let bm = if self.trans_b {
            Mat::row_major(b, n, k).map(Mat::t)
        } else {
            Mat::row_major(b, k, n)
        };
        let (am, bm) = (am.map_err(kernel_error)?, bm.map_err(kernel_error)?);
        nn::gemm(self.alpha, am, bm, beta, ys).map_err(kernel_error)?;
        Ok(vec![y])
    }
    fn cost(&self, inputs: &[Option<&Fact>], outputs: &[Fact]) -> Cost {
        let (params, weight_bytes) = constant_params(inputs, &[1, 2]);
        let k = required(inputs, 0)
            .ok()
            .and_then(|a| a.shape.get(if self.trans_a { 0 } else { 1 }).copied())
            .unwrap_or(0);
        Cost {
            macs: first_numel(outputs) * k as u64,
            elementwise: if optional(inputs, 2).is_some() {
                first_numel(outputs)
            } else {
                0
            },
            params,
            weight_bytes,
        }
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize], v: Vec<f32>) -> Tensor {
        Tensor::from_vec(shape.to_vec(), v).unwrap()
    }

    fn op(pairs: &[(&str, Attr)]) -> Box<dyn Op> {
        let mut a = Attrs::new();
        for (k, v) in pairs {
            a.set(k, v.clone());
        }
        build(&a)
    }

    fn build(a: &Attrs) -> Box<dyn Op> {
        let ctx = BuildCtx {
            opset: 13,
            n_inputs: 3,
            n_outputs: 1,
        };
        build_gemm(a, &ctx).unwrap()
    }

    #[test]
    fn all_attributes_with_row_bias() {
        let g = op(&[
            ("alpha", Attr::Float(2.0)),
            ("beta", Attr::Float(0.5)),
            ("transA", Attr::Int(1)),
            ("transB", Attr::Int(1)),
        ]);
        // A' = [[1, 2]], B' = [[1, 0, 1], [0, 1, 1]] → A'B' = [1, 2, 3].
        let a = t(&[2, 1], vec![1.0, 2.0]);
        let b = t(&[3, 2], vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
        let c = t(&[3], vec![10.0, 20.0, 30.0]);
        let y = g.eval(&[Some(&a), Some(&b), Some(&c)]).unwrap().remove(0);
        assert_eq!(y.shape(), &[1, 3]);
        assert_eq!(y.as_slice::<f32>().unwrap(), &[7.0, 14.0, 21.0]);
    }

    #[test]
    fn column_and_scalar_bias_broadcast() {
        let g = op(&[]);
        let a = t(&[2, 1], vec![1.0, 2.0]);
        let b = t(&[1, 2], vec![1.0, 1.0]);
        let col = t(&[2, 1], vec![100.0, 200.0]);
        let y = g.eval(&[Some(&a), Some(&b), Some(&col)]).unwrap().remove(0);
        assert_eq!(y.as_slice::<f32>().unwrap(), &[101.0, 101.0, 202.0, 202.0]);
        let s = Tensor::scalar(1.0f32);
        let y = g.eval(&[Some(&a), Some(&b), Some(&s)]).unwrap().remove(0);
        assert_eq!(y.as_slice::<f32>().unwrap(), &[2.0, 2.0, 3.0, 3.0]);
    }

    #[test]
    fn mismatches_are_shape_errors() {
        let g = op(&[]);
        let a = Fact::new(DType::F32, vec![2, 3]);
        let b = Fact::new(DType::F32, vec![2, 3]);
        assert!(matches!(
            g.infer(&[Some(&a), Some(&b)]),
            Err(OpError::Shape(_))
        ));
        let b = Fact::new(DType::F32, vec![3, 4]);
        let c = Fact::new(DType::F32, vec![3]);
        assert!(g.infer(&[Some(&a), Some(&b), Some(&c)]).is_err());
        let out = g.infer(&[Some(&a), Some(&b)]).unwrap();
        assert_eq!(out[0].shape, vec![2, 4]);
        assert_eq!(g.cost(&[Some(&a), Some(&b)], &out).macs, 24);
    }

    #[test]
    fn attrs_round_trip() {
        let g = op(&[("transB", Attr::Int(1)), ("alpha", Attr::Float(0.25))]);
        let again = build(&g.attrs());
        assert_eq!(
            again.as_any().downcast_ref::<Gemm>(),
            g.as_any().downcast_ref::<Gemm>()
        );
    }
}
