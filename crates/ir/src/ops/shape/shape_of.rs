//! Shape: the input's dimensions as a 1-D i64 tensor, optionally restricted to `start..end`
//! (opset ≥ 15; negative positions count from the end, out-of-range positions are clamped).
//! The result is known at inference, so shape-computing subgraphs fold into constants.
use crate::op::required;
use crate::{op_boilerplate, Attr, Attrs, BuildCtx, Fact, Op, OpError};
use mw_tensor::Tensor;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq)]
pub struct Shape {
    pub start: Option<i64>,
    pub end: Option<i64>,
}

pub fn build_shape(attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    Ok(Box::new(Shape {
        start: attrs.int("start")?,
        end: attrs.int("end")?,
    }))
}

impl Shape {
    fn of(&self, dims: &[usize]) -> Result<Tensor, OpError> {
        let r = dims.len() as i128;
        let clamp = |v: i64| {
            let v = if v < 0 { v as i128 + r } else { v as i128 };
            v.clamp(0, r) as usize
        };
        let start = clamp(self.start.unwrap_or(0));
        let end = self.end.map_or(dims.len(), clamp);
        let v: Vec<i64> = dims[start..end.max(start)]
            .iter()
            .map(|&d| d as i64)
            .collect();
        Ok(Tensor::from_vec(vec![v.len()], v)?)
    }
}

impl Op for Shape {
    fn op_type(&self) -> &'static str {
        "Shape"
    }
    fn attrs(&self) -> Attrs {
        let mut a = Attrs::new();
        if let Some(s) = self.start {
            a.set("start", Attr::Int(s));
        }
        if let Some(e) = self.end {
            a.set("end", Attr::Int(e));
        }
        a
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        let t = self.of(&required(inputs, 0)?.shape)?;
        Ok(vec![Fact {
            dtype: t.dtype(),
            shape: t.shape().to_vec(),
            konst: Some(Arc::new(t)),
        }])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        Ok(vec![self.of(required(inputs, 0)?.shape())?])
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::shape::test_util::*;

    fn shape(start: Option<i64>, end: Option<i64>) -> Vec<i64> {
        let x = t(&[2, 3, 4], vec![0f32; 24]);
        run(&Shape { start, end }, &[Some(&x)])[0]
            .as_slice::<i64>()
            .unwrap()
            .to_vec()
    }

    #[test]
    fn start_end_clamp_and_count_from_the_end() {
        assert_eq!(shape(None, None), [2, 3, 4]);
        assert_eq!(shape(Some(1), None), [3, 4]);
        assert_eq!(shape(None, Some(-1)), [2, 3]);
        assert_eq!(shape(Some(-10), Some(10)), [2, 3, 4]);
        assert_eq!(shape(Some(2), Some(1)), Vec::<i64>::new());
        assert_eq!(shape(Some(-1), None), [4]);
    }

    #[test]
    fn inference_knows_the_value() {
        let f = Fact::new(mw_tensor::DType::U8, vec![5, 7]);
        let out = Shape {
            start: None,
            end: None,
        }
        .infer(&[Some(&f)])
        .unwrap();
        let k = out[0].konst.as_deref().unwrap();
        assert_eq!(k.as_slice::<i64>().unwrap(), &[5, 7]);
        roundtrip(
            &Shape {
                start: Some(1),
                end: None,
            },
            &ctx(15, 1, 1),
        );
    }
}
