//! MatMul with numpy semantics: 1-D operands are promoted (`[K]` → `[1, K]` on the left,
//! `[K, 1]` on the right, the added dim dropped from the result) and the leading batch dims
//! broadcast.
use super::util::{check_dtype, constant_params, first_numel, kernel_error, typed_input};
use crate::op::required;
use crate::{op_boilerplate, Attrs, BuildCtx, Cost, Fact, Op, OpError};
use mw_kernels::nn::{self, Mat};
use mw_tensor::{strides_of, DType, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub struct MatMul;

pub fn build_matmul(_attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    Ok(Box::new(MatMul))
}

/// The product's layout: each operand as a stack of matrices, and the output shape.
#[derive(Debug, PartialEq)]
struct Plan {
    m: usize,
    k: usize,
    n: usize,
    batch: Vec<usize>,
    a_batch: Vec<usize>,
    b_batch: Vec<usize>,
    out: Vec<usize>,
}

fn plan(a: &[usize], b: &[usize]) -> Result<Plan, OpError> {
    let scalar = || OpError::Shape("MatMul operands must have rank >= 1".into());
    let (m, k) = match a {
        [k] => (1, *k),
        [.., m, k] => (*m, *k),
        [] => return Err(scalar()),
    };
    let (kb, n) = match b {
        [k] => (*k, 1),
        [.., k, n] => (*k, *n),
        [] => return Err(scalar()),
    };
    if k != kb {
        return Err(OpError::Shape(format!(
            "MatMul of {a:?} by {b:?}: inner dims differ"
        )));
    }
    let a_batch = a[..a.len().saturating_sub(2)].to_vec();
    let b_batch = b[..b.len().saturating_sub(2)].to_vec();
    let rank = a_batch.len().max(b_batch.len());
    let pad = |v: &[usize]| [vec![1; rank - v.len()], v.to_vec()].concat();
    let (a_batch, b_batch) = (pad(&a_batch), pad(&b_batch));
    let batch = a_batch
        .iter()
        .zip(&b_batch)
        .map(|(&x, &y)| match (x, y) {
            _ if x == y => Ok(x),
            (1, y) => Ok(y),
            (x, 1) => Ok(x),
            _ => Err(OpError::Shape(format!(
                "MatMul batch dims of {a:?} and {b:?} differ"
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = batch.clone();
    if a.len() > 1 {
        out.push(m);
    }
    if b.len() > 1 {
        out.push(n);
    }
    Ok(Plan {
        m,
        k,
        n,
        batch,
        a_batch,
        b_batch,
        out,
    })
}

/// Offset (in matrices) of batch index `i` of the broadcast `batch` inside an operand whose own
/// batch dims are `own` (size-1 dims repeat).
fn operand_offset(i: usize, batch: &[usize], own: &[usize]) -> usize {
    let own_strides = strides_of(own);
    let mut rest = i;
    let mut off = 0;
    for d in (0..batch.len()).rev() {
        let idx = rest % batch[d];
        rest /= batch[d];
        if own[d] != 1 {
            off += idx * own_strides[d];
        }
    }
    off
}

impl Op for MatMul {
    fn op_type(&self) -> &'static str {
        "MatMul"
    }
    fn attrs(&self) -> Attrs {
        Attrs::new()
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let a = required(inputs, 0)?;
        let b = required(inputs, 1)?;
        check_dtype(a.dtype, 0, &[DType::F32])?;
        check_dtype(b.dtype, 1, &[DType::F32])?;
        Ok(vec![Fact::new(DType::F32, plan(&a.shape, &b.shape)?.out)])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let (a, b) = (
            typed_input::<f32>(inputs, 0)?,
            typed_input::<f32>(inputs, 1)?,
        );
        let p = plan(required(inputs, 0)?.shape(), required(inputs, 1)?.shape())?;
        let mut y = Tensor::zeros(DType::F32, p.out.clone())?;
        let ys = y.as_slice_mut::<f32>()?;
        let (mk, kn, mn) = (p.m * p.k, p.k * p.n, p.m * p.n);
        let count: usize = p.batch.iter().product();
        if p.b_batch.iter().all(|&d| d == 1) && p.a_batch == p.batch {
            // B is one matrix: every row of every A matrix is one row of a single product.
            let am = Mat::row_major(a, count * p.m, p.k).map_err(kernel_error)?;
            let bm = Mat::row_major(b, p.k, p.n).map_err(kernel_error)?;
            nn::gemm(1.0, am, bm, 0.0, ys).map_err(kernel_error)?;
            return Ok(vec![y]);
        }
        for i in 0..count {
            let ao = operand_offset(i, &p.batch, &p.a_batch) * mk;
            let bo = operand_offset(i, &p.batch, &p.b_batch) * kn;
            let am = Mat::row_major(&a[ao..ao + mk], p.m, p.k).map_err(kernel_error)?;
            let bm = Mat::row_major(&b[bo..bo + kn], p.k, p.n).map_err(kernel_error)?;
            nn::gemm(1.0, am, bm, 0.0, &mut ys[i * mn..][..mn]).map_err(kernel_error)?;
        }
        Ok(vec![y])
    }
    fn cost(&self, inputs: &[Option<&Fact>], outputs: &[Fact]) -> Cost {
        let (params, weight_bytes) = constant_params(inputs, &[0, 1]);
        // K is B's second-to-last dim (its only dim when B is a vector).
        let k = required(inputs, 1)
            .ok()
            .and_then(|b| match b.shape.as_slice() {
                [k] | [.., k, _] => Some(*k),
                [] => None,
            })
            .unwrap_or(0);
        Cost {
            macs: first_numel(outputs) * k as u64,
            params,
            weight_bytes,
            elementwise: 0,
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

    fn ramp(shape: &[usize]) -> Tensor {
        let n = shape.iter().product::<usize>();
        t(shape, (0..n).map(|v| v as f32).collect())
    }

    fn run(a: &Tensor, b: &Tensor) -> Tensor {
        MatMul.eval(&[Some(a), Some(b)]).unwrap().remove(0)
    }

    #[test]
    fn shapes_follow_numpy() {
        let s = |a: &[usize], b: &[usize]| plan(a, b).map(|p| p.out);
        assert_eq!(s(&[3], &[3]).unwrap(), Vec::<usize>::new());
        assert_eq!(s(&[3], &[2, 3, 4]).unwrap(), vec![2, 4]);
        assert_eq!(s(&[2, 1, 3, 4], &[4]).unwrap(), vec![2, 1, 3]);
        assert_eq!(s(&[5, 1, 3, 4], &[2, 4, 6]).unwrap(), vec![5, 2, 3, 6]);
        assert!(s(&[2, 3, 4], &[3, 4, 5]).is_err());
        assert!(s(&[3, 4], &[3, 4]).is_err());
    }

    #[test]
    fn vector_products() {
        let y = run(&t(&[3], vec![1.0, 2.0, 3.0]), &t(&[3], vec![4.0, 5.0, 6.0]));
        assert_eq!(y.shape(), &[] as &[usize]);
        assert_eq!(y.as_slice::<f32>().unwrap(), &[32.0]);
        let y = run(&t(&[2], vec![1.0, 1.0]), &ramp(&[2, 2, 3]));
        assert_eq!(
            y.as_slice::<f32>().unwrap(),
            &[3.0, 5.0, 7.0, 15.0, 17.0, 19.0]
        );
    }

    #[test]
    fn broadcast_batches_match_per_matrix_products() {
        let a = ramp(&[2, 1, 2, 3]);
        let b = ramp(&[3, 3, 2]);
        let y = run(&a, &b);
        assert_eq!(y.shape(), &[2, 3, 2, 2]);
        let (av, bv, yv) = (
            a.as_slice::<f32>().unwrap(),
            b.as_slice::<f32>().unwrap(),
            y.as_slice::<f32>().unwrap(),
        );
        for i in 0..2 {
            for j in 0..3 {
                for r in 0..2 {
                    for c in 0..2 {
                        let want: f32 = (0..3)
                            .map(|p| av[i * 6 + r * 3 + p] * bv[j * 6 + p * 2 + c])
                            .sum();
                        assert_eq!(yv[((i * 3 + j) * 2 + r) * 2 + c], want);
                    }
                }
            }
        }
    }

    #[test]
    fn cost_counts_macs_and_constant_weights() {
        let a = Fact::new(DType::F32, vec![8, 64]);
        let b = Fact::of(&Tensor::zeros(DType::F32, vec![64, 12]).unwrap());
        let out = MatMul.infer(&[Some(&a), Some(&b)]).unwrap();
        let c = MatMul.cost(&[Some(&a), Some(&b)], &out);
        assert_eq!((c.macs, c.params, c.weight_bytes), (8 * 64 * 12, 768, 3072));
    }
}
