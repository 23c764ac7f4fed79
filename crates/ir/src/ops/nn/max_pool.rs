//! MaxPool: N-D max pooling with pads / auto_pad, strides, dilations, ceil_mode and the optional
//! `Indices` output (i64, flat indices into X; `storage_order = 1` takes the in-plane offset
//! column-major). f32, f64, i8 and u8.
use super::spatial::{attr_err, pool_geometry, Window};
use super::util::{check_dtype, first_numel, kernel_error};
use crate::op::required;
use crate::{op_boilerplate, Attr, Attrs, BuildCtx, Cost, Fact, Op, OpError};
use mw_kernels::nn::{self, PoolElement, PoolGeometry};
use mw_tensor::{DType, Element, Tensor};

const DTYPES: &[DType] = &[DType::F32, DType::F64, DType::I8, DType::U8];

#[derive(Clone, Debug, PartialEq)]
pub struct MaxPool {
    pub window: Window,
    pub ceil_mode: bool,
    pub column_major: bool,
    /// Whether the node lists the `Indices` output.
    pub with_indices: bool,
}

pub fn build_max_pool(attrs: &Attrs, ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    let storage_order = attrs.int_or("storage_order", 0)?;
    if !(0..=1).contains(&storage_order) {
        return Err(attr_err(
            "storage_order",
            format!("{storage_order} is not 0 or 1"),
        ));
    }
    let window = Window::from_attrs(attrs)?;
    if window.kernel_shape.is_none() {
        return Err(attr_err("kernel_shape", "required"));
    }
    Ok(Box::new(MaxPool {
        window,
        ceil_mode: attrs.int_or("ceil_mode", 0)? != 0,
        column_major: storage_order == 1,
        with_indices: ctx.n_outputs > 1,
    }))
}

impl MaxPool {
    fn run<T: Element + PoolElement>(
        &self,
        x: &Tensor,
        g: &PoolGeometry,
        out: Vec<usize>,
    ) -> Result<Vec<Tensor>, OpError> {
        let xs = x.as_slice::<T>()?;
        let mut y = Tensor::zeros(T::DTYPE, out.clone())?;
        let mut ix = if self.with_indices {
            Some(Tensor::zeros(DType::I64, out)?)
        } else {
            None
        };
        let ixs = match ix.as_mut() {
            Some(t) => Some(t.as_slice_mut::<i64>()?),
            None => None,
        };
        nn::max_pool(g, xs, y.as_slice_mut::<T>()?, ixs, self.column_major)
            .map_err(kernel_error)?;
        Ok([Some(y), ix].into_iter().flatten().collect())
    }
}

impl Op for MaxPool {
    fn op_type(&self) -> &'static str {
        "MaxPool"
    }
    fn attrs(&self) -> Attrs {
        let mut a = self.window.to_attrs(Attrs::new());
        if self.ceil_mode {
            a.set("ceil_mode", Attr::Int(1));
        }
        if self.column_major {
            a.set("storage_order", Attr::Int(1));
        }
        a
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let x = required(inputs, 0)?;
        check_dtype(x.dtype, 0, DTYPES)?;
        let (_, out) = pool_geometry(&self.window, &x.shape, self.ceil_mode)?;
        let mut facts = vec![Fact::new(x.dtype, out.clone())];
        if self.with_indices {
            facts.push(Fact::new(DType::I64, out));
        }
        Ok(facts)
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let x = required(inputs, 0)?;
        check_dtype(x.dtype(), 0, DTYPES)?;
        let (g, out) = pool_geometry(&self.window, x.shape(), self.ceil_mode)?;
        match x.dtype() {
            DType::F64 => self.run::<f64>(x, &g, out),
            DType::I8 => self.run::<i8>(x, &g, out),
            DType::U8 => self.run::<u8>(x, &g, out),
            _ => self.run::<f32>(x, &g, out),
        }
    }
    fn cost(&self, _inputs: &[Option<&Fact>], outputs: &[Fact]) -> Cost {
        Cost {
            elementwise: first_numel(outputs) * self.window.taps(),
            ..Default::default()
        }
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(pairs: &[(&str, Attr)], n_outputs: usize) -> Box<dyn Op> {
        let mut a = Attrs::new();
        for (k, v) in pairs {
            a.set(k, v.clone());
        }
        let ctx = BuildCtx {
            opset: 22,
            n_inputs: 1,
            n_outputs,
        };
        build_max_pool(&a, &ctx).unwrap()
    }

    #[test]
    fn pads_and_indices() {
        // 1x1x2x2 input, 2x2 kernel, pads 1: each output sees one corner-anchored window.
        let op = build(
            &[
                ("kernel_shape", Attr::Ints(vec![2, 2])),
                ("pads", Attr::Ints(vec![1, 1, 1, 1])),
                ("strides", Attr::Ints(vec![2, 2])),
            ],
            2,
        );
        let x = Tensor::from_vec(vec![1, 1, 2, 2], vec![4.0f32, 3.0, 2.0, 1.0]).unwrap();
        let out = op.eval(&[Some(&x)]).unwrap();
        assert_eq!(out[0].shape(), &[1, 1, 2, 2]);
        assert_eq!(out[0].as_slice::<f32>().unwrap(), &[4.0, 3.0, 2.0, 1.0]);
        assert_eq!(out[1].as_slice::<i64>().unwrap(), &[0, 1, 2, 3]);
        let facts = op
            .infer(&[Some(&Fact::new(DType::F32, vec![1, 1, 2, 2]))])
            .unwrap();
        assert_eq!(facts[1].dtype, DType::I64);
    }

    #[test]
    fn uint8_ceil_mode() {
        let op = build(
            &[
                ("kernel_shape", Attr::Ints(vec![2])),
                ("strides", Attr::Ints(vec![2])),
                ("ceil_mode", Attr::Int(1)),
            ],
            1,
        );
        let x = Tensor::from_vec(vec![1, 1, 5], vec![1u8, 9, 3, 4, 250]).unwrap();
        let out = op.eval(&[Some(&x)]).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].as_slice::<u8>().unwrap(), &[9, 4, 250]);
    }

    #[test]
    fn missing_kernel_and_bad_dtype_are_refused() {
        let ctx = BuildCtx {
            opset: 22,
            n_inputs: 1,
            n_outputs: 1,
        };
        assert!(build_max_pool(&Attrs::new(), &ctx).is_err());
        let op = build(&[("kernel_shape", Attr::Ints(vec![2]))], 1);
        let x = Fact::new(DType::I32, vec![1, 1, 4]);
        assert!(matches!(
            op.infer(&[Some(&x)]),
            Err(OpError::InputDType { .. })
        ));
        let x = Fact::new(DType::F32, vec![1, 1, 4, 4]);
        assert!(
            op.infer(&[Some(&x)]).is_err(),
            "kernel rank 1 on 2 spatial dims"
        );
    }
}
