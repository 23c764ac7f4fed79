//! ONNX-style node attributes, typed but protobuf-free.
use crate::OpError;
use mw_tensor::Tensor;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    Int(i64),
    Float(f32),
    String(String),
    Tensor(Tensor),
    Ints(Vec<i64>),
    Floats(Vec<f32>),
    Strings(Vec<String>),
}

/// Attributes of one node by name. Getters return `Ok(None)` when absent and a typed
/// [`OpError::Attribute`] when present with the wrong kind.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Attrs(pub BTreeMap<String, Attr>);

fn wrong(name: &str, want: &str) -> OpError {
    OpError::Attribute {
        name: name.to_string(),
        reason: format!("expected {want}"),
    }
}

impl Attrs {
    pub fn new() -> Attrs {
        Attrs::default()
    }

    pub fn set(&mut self, name: &str, value: Attr) -> &mut Self {
        self.0.insert(name.to_string(), value);
        self
    }

    /// Builder-style insert, for ops returning their attributes.
    pub fn with(mut self, name: &str, value: Attr) -> Self {
        self.0.insert(name.to_string(), value);
        self
    }

    pub fn get(&self, name: &str) -> Option<&Attr> {
        self.0.get(name)
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, OpError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Attr::Int(v)) => Ok(Some(*v)),
            Some(_) => Err(wrong(name, "an int")),
        }
    }

    pub fn int_or(&self, name: &str, default: i64) -> Result<i64, OpError> {
        Ok(self.int(name)?.unwrap_or(default))
    }

    pub fn float(&self, name: &str) -> Result<Option<f32>, OpError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Attr::Float(v)) => Ok(Some(*v)),
            Some(_) => Err(wrong(name, "a float")),
        }
    }

    pub fn float_or(&self, name: &str, default: f32) -> Result<f32, OpError> {
        Ok(self.float(name)?.unwrap_or(default))
    }

    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>, OpError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Attr::Ints(v)) => Ok(Some(v.clone())),
            Some(_) => Err(wrong(name, "a list of ints")),
        }
    }

    pub fn floats(&self, name: &str) -> Result<Option<Vec<f32>>, OpError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Attr::Floats(v)) => Ok(Some(v.clone())),
            Some(_) => Err(wrong(name, "a list of floats")),
        }
    }

    pub fn string(&self, name: &str) -> Result<Option<String>, OpError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Attr::String(v)) => Ok(Some(v.clone())),
            Some(_) => Err(wrong(name, "a string")),
        }
    }

    pub fn string_or(&self, name: &str, default: &str) -> Result<String, OpError> {
        Ok(self.string(name)?.unwrap_or_else(|| default.to_string()))
    }

    pub fn tensor(&self, name: &str) -> Result<Option<Tensor>, OpError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Attr::Tensor(v)) => Ok(Some(v.clone())),
            Some(_) => Err(wrong(name, "a tensor")),
        }
    }
}
