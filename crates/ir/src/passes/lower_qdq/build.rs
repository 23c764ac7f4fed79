//! Building the replacement of one QDQ pattern into a [`Patch`], checking every new node's
//! inference against the facts of the graph before the patch is returned.
use super::matcher::{Matcher, Why};
use crate::rewrite::Patch;
use crate::{build_op, Attrs, BuildCtx, Fact, Node, Value, ValueId};
use mw_tensor::{DType, Tensor};
use std::collections::HashMap;

pub(crate) struct Builder<'m, 'a> {
    m: &'m Matcher<'a>,
    pub patch: Patch,
    new_facts: HashMap<ValueId, Fact>,
    new_names: Vec<String>,
}

impl<'m, 'a> Builder<'m, 'a> {
    pub fn new(m: &'m Matcher<'a>) -> Self {
        Builder {
            m,
            patch: Patch::new(m.g),
            new_facts: HashMap::new(),
            new_names: Vec::new(),
        }
    }

    /// `base`, or `base` with a numeric suffix, unused by the graph and this patch.
    fn unique(&mut self, base: &str) -> String {
        let taken =
            |n: &str| self.m.g.find_value(n).is_some() || self.new_names.iter().any(|x| x == n);
        let mut name = base.to_string();
        let mut k = 1;
        while taken(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.new_names.push(name.clone());
        name
    }

    /// A new constant value.
    pub fn constant(&mut self, name: &str, t: Tensor) -> ValueId {
        let name = self.unique(name);
        let fact = Fact::of(&t);
        let id = self.patch.add_value(Value::constant(name, t));
        self.new_facts.insert(id, fact);
        id
    }

    /// A new intermediate value (its fact comes from the node that writes it).
    pub fn value(&mut self, name: &str) -> ValueId {
        let name = self.unique(name);
        self.patch.add_value(Value::named(name))
    }

    /// `zp`, or a new one-element zero of `dtype` named after `hint`.
    pub fn zero_point(&mut self, zp: Option<ValueId>, dtype: DType, hint: &str) -> ValueId {
        match zp {
            Some(z) => z,
            None => {
                let t = Tensor::zeros(dtype, vec![]).expect("a scalar always fits");
                self.constant(&format!("{hint}_zero_point"), t)
            }
        }
    }

    fn fact(&self, v: ValueId) -> Option<Fact> {
        self.new_facts
            .get(&v)
            .cloned()
            .or_else(|| self.m.fact(v).cloned())
    }

    /// Adds node `name` of `op_type` writing `output`, after checking that it infers and, when
    /// `output` is an existing value, that it yields that value's dtype and shape.
    pub fn node(
        &mut self,
        name: &str,
        op_type: &str,
        attrs: &Attrs,
        inputs: Vec<Option<ValueId>>,
        output: ValueId,
    ) -> Result<(), Why> {
        let ctx = BuildCtx {
            opset: self.m.g.meta.opset,
            n_inputs: inputs.len(),
            n_outputs: 1,
        };
        let op = build_op(op_type, attrs, &ctx)
            .map_err(|e| format!("{op_type} refuses the attributes: {e}"))?
            .ok_or_else(|| format!("{op_type} is not registered"))?;
        let facts: Vec<Option<Fact>> = inputs
            .iter()
            .map(|v| v.map(|v| self.fact(v).ok_or("an input has no known type or shape")))
            .map(Option::transpose)
            .collect::<Result<_, _>>()?;
        let refs: Vec<Option<&Fact>> = facts.iter().map(Option::as_ref).collect();
        let out = op
            .infer(&refs)
            .map_err(|e| format!("{op_type} cannot run it: {e}"))?
            .into_iter()
            .next()
            .ok_or("no output")?;
        if let Some(old) = self.m.fact(output) {
            if old.dtype != out.dtype || old.shape != out.shape {
                return Err(format!(
                    "{op_type} would give {} {:?} where the graph has {} {:?}",
                    out.dtype, out.shape, old.dtype, old.shape
                ));
            }
        }
        self.new_facts
            .insert(output, Fact::new(out.dtype, out.shape));
        self.patch.new_nodes.push(Node {
            name: name.to_string(),
            op,
            inputs,
            outputs: vec![output],
        });
        Ok(())
    }
}
