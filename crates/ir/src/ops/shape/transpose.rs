//! Transpose: output axis `k` is input axis `perm[k]` (default: reversed axes).
use super::{attr_err, kernel_err};
use crate::op::required;
use crate::{op_boilerplate, Attr, Attrs, BuildCtx, Fact, Op, OpError};
use mw_tensor::{dispatch_data, Element, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub struct Transpose {
    /// `None` reverses the axes.
    pub perm: Option<Vec<i64>>,
}

pub fn build_transpose(attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    Ok(Box::new(Transpose {
        perm: attrs.ints("perm")?,
    }))
}

impl Transpose {
    /// The validated permutation for a rank-`rank` input.
    pub fn perm_for(&self, rank: usize) -> Result<Vec<usize>, OpError> {
        let Some(perm) = &self.perm else {
            return Ok((0..rank).rev().collect());
        };
        let mut seen = vec![false; rank];
        let ok = perm.len() == rank
            && perm.iter().all(|&p| {
                usize::try_from(p)
                    .ok()
                    .filter(|&p| p < rank)
                    .is_some_and(|p| !std::mem::replace(&mut seen[p], true))
            });
        if !ok {
            return Err(attr_err(
                "perm",
                format!("{perm:?} is not a permutation of {rank} axes"),
            ));
        }
        Ok(perm.iter().map(|&p| p as usize).collect())
    }
}

fn transpose_typed<T: Element>(
    x: &[T],
    shape: &[usize],
    perm: &[usize],
) -> Result<mw_tensor::Data, OpError> {
    let out = mw_kernels::shape::transpose(x, shape, perm).map_err(kernel_err)?;
    Ok(T::wrap(out))
}

impl Op for Transpose {
    fn op_type(&self) -> &'static str {
        "Transpose"
    }
    fn attrs(&self) -> Attrs {
        match &self.perm {
            Some(p) => Attrs::new().with("perm", Attr::Ints(p.clone())),
            None => Attrs::new(),
        }
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let x = required(inputs, 0)?;
        let perm = self.perm_for(x.rank())?;
        let shape = perm.iter().map(|&p| x.shape[p]).collect();
        Ok(vec![Fact::new(x.dtype, shape)])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let x = required(inputs, 0)?;
        let perm = self.perm_for(x.rank())?;
        let shape: Vec<usize> = perm.iter().map(|&p| x.shape()[p]).collect();
        let data = dispatch_data!(x.data(), v => transpose_typed(v, x.shape(), &perm))?;
        Ok(vec![Tensor::new(shape, data)?])
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::shape::test_util::*;

    #[test]
    fn default_reverses_axes() {
        let x = t(&[2, 3], vec![1i32, 2, 3, 4, 5, 6]);
        let out = run(&Transpose { perm: None }, &[Some(&x)]);
        assert_eq!(out[0].shape(), &[3, 2]);
        assert_eq!(out[0].as_slice::<i32>().unwrap(), &[1, 4, 2, 5, 3, 6]);
    }

    #[test]
    fn explicit_perm_3d() {
        let x = t(&[1, 2, 3], (0..6u8).collect());
        let op = Transpose {
            perm: Some(vec![2, 0, 1]),
        };
        let out = run(&op, &[Some(&x)]);
        assert_eq!(out[0].shape(), &[3, 1, 2]);
        assert_eq!(out[0].as_slice::<u8>().unwrap(), &[0, 3, 1, 4, 2, 5]);
        roundtrip(&op, &ctx(13, 1, 1));
        roundtrip(&Transpose { perm: None }, &ctx(13, 1, 1));
    }

    #[test]
    fn invalid_perms_are_refused() {
        let op = |p: Vec<i64>| Transpose { perm: Some(p) };
        assert!(op(vec![0, 0]).perm_for(2).is_err());
        assert!(op(vec![0]).perm_for(2).is_err());
        assert!(op(vec![0, -1]).perm_for(2).is_err());
        assert!(op(vec![0, 2]).perm_for(2).is_err());
    }
}
