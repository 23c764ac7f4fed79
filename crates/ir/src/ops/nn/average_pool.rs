//! AveragePool: N-D mean pooling with pads / auto_pad, strides, dilations (opset 19+),
//! ceil_mode and count_include_pad. f32.
use super::spatial::{attr_err, pool_geometry, Window};
use super::util::{check_dtype, first_numel, kernel_error, typed_input};
use crate::op::required;
use crate::{op_boilerplate, Attr, Attrs, BuildCtx, Cost, Fact, Op, OpError};
use mw_kernels::nn;
use mw_tensor::{DType, Tensor};

#[derive(Clone, Debug, PartialEq)]
pub struct AveragePool {
    pub window: Window,
    pub ceil_mode: bool,
    pub count_include_pad: bool,
}

pub fn build_average_pool(attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    let window = Window::from_attrs(attrs)?;
    if window.kernel_shape.is_none() {
        return Err(attr_err("kernel_shape", "required"));
    }
    Ok(Box::new(AveragePool {
        window,
        ceil_mode: attrs.int_or("ceil_mode", 0)? != 0,
        count_include_pad: attrs.int_or("count_include_pad", 0)? != 0,
    }))
}

impl Op for AveragePool {
    fn op_type(&self) -> &'static str {
        "AveragePool"
    }
    fn attrs(&self) -> Attrs {
        let mut a = self.window.to_attrs(Attrs::new());
        if self.ceil_mode {
            a.set("ceil_mode", Attr::Int(1));
        }
        if self.count_include_pad {
            a.set("count_include_pad", Attr::Int(1));
        }
        a
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let x = required(inputs, 0)?;
        check_dtype(x.dtype, 0, &[DType::F32])?;
        let (_, out) = pool_geometry(&self.window, &x.shape, self.ceil_mode)?;
        Ok(vec![Fact::new(DType::F32, out)])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let xs = typed_input::<f32>(inputs, 0)?;
        let (g, out) = pool_geometry(&self.window, required(inputs, 0)?.shape(), self.ceil_mode)?;
        let mut y = Tensor::zeros(DType::F32, out)?;
        nn::average_pool(&g, self.count_include_pad, xs, y.as_slice_mut::<f32>()?)
            .map_err(kernel_error)?;
        Ok(vec![y])
    }
    fn cost(&self, _inputs: &[Option<&Fact>], outputs: &[Fact]) -> Cost {
        Cost {
            elementwise: first_numel(outputs) * (self.window.taps() + 1),
            ..Default::default()
        }
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(pairs: &[(&str, Attr)]) -> Box<dyn Op> {
        let mut a = Attrs::new();
        for (k, v) in pairs {
            a.set(k, v.clone());
        }
        let ctx = BuildCtx {
            opset: 22,
            n_inputs: 1,
            n_outputs: 1,
        };
        build_average_pool(&a, &ctx).unwrap()
    }

    #[test]
    fn kws_pool_averages_the_whole_plane() {
        let op = build(&[
            ("kernel_shape", Attr::Ints(vec![25, 5])),
            ("strides", Attr::Ints(vec![25, 5])),
        ]);
        let x = Tensor::from_vec(
            vec![1, 2, 25, 5],
            (0..250).map(|v| (v / 125) as f32 + 0.5).collect(),
        )
        .unwrap();
        let y = op.eval(&[Some(&x)]).unwrap().remove(0);
        assert_eq!(y.shape(), &[1, 2, 1, 1]);
        assert_eq!(y.as_slice::<f32>().unwrap(), &[0.5, 1.5]);
    }

    #[test]
    fn same_upper_with_a_stride_beyond_the_kernel_shifts_like_onnxruntime() {
        // ONNX Runtime 1.32 gives [1, 5] for arange(7), kernel 1, stride 4, SAME_UPPER: the
        // total pad 4 + 1 − 7 = −2 splits into −1 and −1.
        let op = build(&[
            ("kernel_shape", Attr::Ints(vec![1])),
            ("strides", Attr::Ints(vec![4])),
            ("auto_pad", Attr::String("SAME_UPPER".into())),
        ]);
        let x = Tensor::from_vec(vec![1, 1, 7], (0..7).map(|v| v as f32).collect()).unwrap();
        let y = op.eval(&[Some(&x)]).unwrap().remove(0);
        assert_eq!(y.as_slice::<f32>().unwrap(), &[1.0, 5.0]);
    }

    #[test]
    fn count_include_pad_changes_the_divisor() {
        let pads = [
            ("kernel_shape", Attr::Ints(vec![3])),
            ("pads", Attr::Ints(vec![1, 1])),
        ];
        let x = Tensor::from_vec(vec![1, 1, 2], vec![3.0f32, 6.0]).unwrap();
        let excl = build(&pads).eval(&[Some(&x)]).unwrap().remove(0);
        assert_eq!(excl.as_slice::<f32>().unwrap(), &[4.5, 4.5]);
        let mut with = pads.to_vec();
        with.push(("count_include_pad", Attr::Int(1)));
        let incl = build(&with).eval(&[Some(&x)]).unwrap().remove(0);
        assert_eq!(incl.as_slice::<f32>().unwrap(), &[3.0, 3.0]);
        assert_eq!(
            build(&with).attrs().int("count_include_pad").unwrap(),
            Some(1)
        );
    }
}
