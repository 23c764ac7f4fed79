//! Constant (a tensor held in the node) and ConstantOfShape (a tensor of a given shape filled with
//! one value). Both outputs are known at inference.
use super::{attr_err, guard, ints, Known};
use crate::{op_boilerplate, Attr, Attrs, BuildCtx, Fact, Op, OpError};
use mw_tensor::{dispatch_data, Data, Element, Tensor};
use std::sync::Arc;

/// Which attribute a Constant's value came from (kept so that export writes it back the same way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConstForm {
    Tensor,
    Float,
    Floats,
    Int,
    Ints,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Constant {
    pub value: Arc<Tensor>,
    pub form: ConstForm,
}

const UNSUPPORTED: [&str; 3] = ["sparse_value", "value_string", "value_strings"];

pub fn build_constant(attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    if let Some(name) = UNSUPPORTED.iter().find(|n| attrs.get(n).is_some()) {
        return Err(OpError::Unsupported(format!("Constant with `{name}`")));
    }
    let mut found = Vec::new();
    if let Some(t) = attrs.tensor("value")? {
        found.push((t, ConstForm::Tensor));
    }
    if let Some(v) = attrs.float("value_float")? {
        found.push((Tensor::scalar(v), ConstForm::Float));
    }
    if let Some(v) = attrs.floats("value_floats")? {
        found.push((Tensor::from_vec(vec![v.len()], v)?, ConstForm::Floats));
    }
    if let Some(v) = attrs.int("value_int")? {
        found.push((Tensor::scalar(v), ConstForm::Int));
    }
    if let Some(v) = attrs.ints("value_ints")? {
        found.push((Tensor::from_vec(vec![v.len()], v)?, ConstForm::Ints));
    }
    if found.len() != 1 {
        return Err(attr_err(
            "value",
            format!(
                "exactly one value attribute is needed, {} given",
                found.len()
            ),
        ));
    }
    let (value, form) = found.remove(0);
    Ok(Box::new(Constant {
        value: Arc::new(value),
        form,
    }))
}

impl Op for Constant {
    fn op_type(&self) -> &'static str {
        "Constant"
    }
    fn attrs(&self) -> Attrs {
        let v = &*self.value;
        let (name, attr) = match self.form {
            ConstForm::Tensor => ("value", Attr::Tensor(v.clone())),
            ConstForm::Float => ("value_float", Attr::Float(first_f64(v) as f32)),
            ConstForm::Floats => (
                "value_floats",
                Attr::Floats(v.as_slice::<f32>().unwrap_or(&[]).to_vec()),
            ),
            ConstForm::Int => ("value_int", Attr::Int(first_f64(v) as i64)),
            ConstForm::Ints => (
                "value_ints",
                Attr::Ints(v.as_slice::<i64>().unwrap_or(&[]).to_vec()),
            ),
        };
        Attrs::new().with(name, attr)
    }
    fn infer(&self, _inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        Ok(vec![Fact {
            dtype: self.value.dtype(),
            shape: self.value.shape().to_vec(),
            konst: Some(Arc::clone(&self.value)),
        }])
    }
    fn eval(&self, _inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        Ok(vec![(*self.value).clone()])
    }
    op_boilerplate!();
}

fn first_f64(t: &Tensor) -> f64 {
    t.to_f64_vec().first().copied().unwrap_or(0.0)
}

#[derive(Clone, Debug, PartialEq)]
pub struct ConstantOfShape {
    /// The one-element fill tensor; `None` is f32 zero.
    pub value: Option<Tensor>,
}

pub fn build_constant_of_shape(attrs: &Attrs, _ctx: &BuildCtx) -> Result<Box<dyn Op>, OpError> {
    let value = attrs.tensor("value")?;
    if let Some(v) = &value {
        if v.len() != 1 {
            return Err(attr_err(
                "value",
                format!("{} elements, expected one", v.len()),
            ));
        }
    }
    Ok(Box::new(ConstantOfShape { value }))
}

impl ConstantOfShape {
    fn fill(&self) -> Tensor {
        self.value.clone().unwrap_or_else(|| Tensor::scalar(0f32))
    }

    fn out_shape<K: Known>(&self, inputs: &[Option<&K>]) -> Result<Vec<usize>, OpError> {
        let dims = ints(inputs, 0)?
            .into_iter()
            .map(|d| {
                usize::try_from(d).map_err(|_| OpError::Shape(format!("negative dimension {d}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        guard(self.fill().dtype(), &dims)?;
        Ok(dims)
    }
}

fn filled<T: Element>(v: &[T], n: usize) -> Data {
    T::wrap(vec![v.first().copied().unwrap_or_default(); n])
}

impl Op for ConstantOfShape {
    fn op_type(&self) -> &'static str {
        "ConstantOfShape"
    }
    fn attrs(&self) -> Attrs {
        match &self.value {
            Some(v) => Attrs::new().with("value", Attr::Tensor(v.clone())),
            None => Attrs::new(),
        }
    }
    fn infer(&self, inputs: &[Option<&Fact>]) -> Result<Vec<Fact>, OpError> {
        Ok(vec![Fact::new(
            self.fill().dtype(),
            self.out_shape(inputs)?,
        )])
    }
    fn eval(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>, OpError> {
        let shape = self.out_shape(inputs)?;
        let n = shape.iter().product();
        let data = dispatch_data!(self.fill().data(), v => filled(v, n));
        Ok(vec![Tensor::new(shape, data)?])
    }
    op_boilerplate!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::shape::test_util::*;
    use mw_tensor::DType;

    fn build(a: Attrs) -> Result<Box<dyn Op>, OpError> {
        build_constant(&a, &ctx(13, 0, 1))
    }

    #[test]
    fn every_value_attribute_roundtrips() {
        let cases = [
            (
                "value",
                Attr::Tensor(t(&[2], vec![1u8, 2])),
                DType::U8,
                vec![2],
            ),
            ("value_float", Attr::Float(1.5), DType::F32, vec![]),
            (
                "value_floats",
                Attr::Floats(vec![1.0, 2.0]),
                DType::F32,
                vec![2],
            ),
            ("value_int", Attr::Int(-3), DType::I64, vec![]),
            ("value_ints", Attr::Ints(vec![4, 5, 6]), DType::I64, vec![3]),
        ];
        for (name, attr, dtype, shape) in cases {
            let op = build(attrs(&[(name, attr.clone())])).unwrap();
            assert_eq!(op.attrs().get(name), Some(&attr));
            let out = run(op.as_ref(), &[]);
            assert_eq!((out[0].dtype(), out[0].shape().to_vec()), (dtype, shape));
            let f = op.infer(&[]).unwrap();
            assert_eq!(f[0].konst.as_deref(), Some(&out[0]));
        }
    }

    #[test]
    fn unsupported_and_ambiguous_values_are_refused() {
        let s = attrs(&[("value_string", Attr::String("a".into()))]);
        assert!(matches!(build(s), Err(OpError::Unsupported(_))));
        assert!(build(Attrs::new()).is_err());
        let two = attrs(&[
            ("value_int", Attr::Int(1)),
            ("value_float", Attr::Float(1.0)),
        ]);
        assert!(build(two).is_err());
    }

    #[test]
    fn constant_of_shape_fills() {
        let op = ConstantOfShape {
            value: Some(t(&[1], vec![7i32])),
        };
        let out = run_with(&op, &[Some(&i64s(&[2, 3]))], &[]);
        assert_eq!(out[0].as_slice::<i32>().unwrap(), &[7; 6]);
        let out = run_with(&ConstantOfShape { value: None }, &[Some(&i64s(&[]))], &[]);
        assert_eq!(out[0], Tensor::scalar(0f32));
        let out = run_with(&op, &[Some(&i64s(&[0]))], &[]);
        assert_eq!(out[0].shape(), &[0]);
        roundtrip(&op, &ctx(13, 1, 1));
    }

    #[test]
    fn constant_of_shape_refuses_hostile_shapes() {
        let op = ConstantOfShape { value: None };
        let err = op.eval(&[Some(&i64s(&[1 << 40, 1 << 40]))]).unwrap_err();
        assert!(matches!(err, OpError::MemoryCap { .. }));
        assert!(op
            .eval(&[Some(&i64s(&[i64::MAX, i64::MAX, i64::MAX]))])
            .is_err());
        assert!(op.eval(&[Some(&i64s(&[-1]))]).is_err());
        let shape = Fact::new(DType::I64, vec![1]);
        assert_eq!(op.infer(&[Some(&shape)]), Err(OpError::NotConstant(0)));
        let bad = attrs(&[("value", Attr::Tensor(t(&[2], vec![1f32, 2.0])))]);
        assert!(build_constant_of_shape(&bad, &ctx(13, 1, 1)).is_err());
    }
}
