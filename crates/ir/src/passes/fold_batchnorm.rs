//! BatchNormalization (inference mode) after a Conv or Gemm is folded into that layer's weights
//! and bias: y = s·(W∗x + b − mean) + beta with s = scale / sqrt(var + eps) per channel, so
//! W' = s·W (per output channel) and b' = s·(b − mean) + beta.
use super::PassReport;
use crate::rewrite::{rewrite_to_fixpoint, Patch};
use crate::{build_op, Attr, BuildCtx, Graph, IrError, Node, NodeId, Value, ValueId};
use mw_tensor::Tensor;
use std::cell::RefCell;

pub fn fold_batchnorm(graph: &mut Graph) -> Result<PassReport, IrError> {
    let report = RefCell::new(PassReport {
        pass: "fold-batchnorm",
        ..Default::default()
    });
    let rule = |g: &Graph, id: NodeId| -> Result<Option<Patch>, IrError> {
        let bn = g.node(id);
        if bn.op.op_type() != "BatchNormalization" {
            return Ok(None);
        }
        match plan_fold(g, id) {
            Ok(patch) => {
                report.borrow_mut().changed.push(bn.name.clone());
                Ok(Some(patch))
            }
            Err(why) => {
                let mut r = report.borrow_mut();
                if !r.untouched.iter().any(|(n, _)| *n == bn.name) {
                    r.untouched.push((bn.name.clone(), why));
                }
                Ok(None)
            }
        }
    };
    rewrite_to_fixpoint(graph, &[&rule])?;
    Ok(report.into_inner())
}

/// Per-channel `(s, t)` with BN(y) = s·y + t.
fn bn_affine(g: &Graph, bn: &Node) -> Result<(Vec<f32>, Vec<f32>), String> {
    let c = |i: usize| -> Result<Vec<f32>, String> {
        let v = bn.inputs.get(i).copied().flatten().ok_or("missing input")?;
        let t = g
            .value(v)
            .konst
            .as_deref()
            .ok_or("its parameters are not constant")?;
        Ok(t.as_slice::<f32>().map_err(|e| e.to_string())?.to_vec())
    };
    let (scale, beta, mean, var) = (c(1)?, c(2)?, c(3)?, c(4)?);
    let eps = match bn.op.attrs().get("epsilon") {
        Some(Attr::Float(e)) => *e,
        _ => 1e-5,
    };
    let n = scale.len();
    if [beta.len(), mean.len(), var.len()].iter().any(|&l| l != n) {
        return Err("parameter lengths differ".into());
    }
    let s: Vec<f32> = (0..n).map(|i| scale[i] / (var[i] + eps).sqrt()).collect();
    let t: Vec<f32> = (0..n).map(|i| beta[i] - s[i] * mean[i]).collect();
    Ok((s, t))
}

fn plan_fold(g: &Graph, id: NodeId) -> Result<Patch, String> {
    let bn = g.node(id);
    if bn.outputs.len() > 1 {
        return Err("training-mode outputs are requested".into());
    }
    let x = bn.inputs.first().copied().flatten().ok_or("no input")?;
    let producers = g.producers();
    let prev_id = *producers
        .get(&x)
        .ok_or("its input is not produced by a layer")?;
    let prev = g.node(prev_id);
    if g.consumers().get(&x).map_or(0, Vec::len) != 1 || g.outputs.contains(&x) {
        return Err("the preceding layer's output has other readers".into());
    }
    let (s, t) = bn_affine(g, bn)?;
    let weight = prev
        .inputs
        .get(1)
        .copied()
        .flatten()
        .ok_or("layer has no weight")?;
    let w = g
        .value(weight)
        .konst
        .as_deref()
        .ok_or("layer weight is not constant")?;
    let mut w = w.clone();
    let bias_in = prev.inputs.get(2).copied().flatten();
    let bias = match bias_in {
        Some(b) => g
            .value(b)
            .konst
            .as_deref()
            .ok_or("layer bias is not constant")?
            .clone(),
        None => Tensor::from_vec(vec![s.len()], vec![0f32; s.len()]).map_err(|e| e.to_string())?,
    };
    let mut attrs = prev.op.attrs();
    match prev.op.op_type() {
        "Conv" => scale_rows(&mut w, &s)?,
        "Gemm" => {
            let trans_b = matches!(attrs.get("transB"), Some(Attr::Int(1)));
            let alpha = match attrs.get("alpha") {
                Some(Attr::Float(a)) => *a,
                _ => 1.0,
            };
            let beta = match attrs.get("beta") {
                Some(Attr::Float(b)) => *b,
                _ => 1.0,
            };
            let alpha_s: Vec<f32> = s.iter().map(|v| v * alpha).collect();
            if trans_b {
                scale_rows(&mut w, &alpha_s)?;
            } else {
                scale_cols(&mut w, &alpha_s)?;
            }
            let b = broadcast_bias(&bias, s.len())?;
            let new_b: Vec<f32> = (0..s.len()).map(|i| s[i] * beta * b[i] + t[i]).collect();
            attrs
                .set("alpha", Attr::Float(1.0))
                .set("beta", Attr::Float(1.0));
            return finish(g, id, prev_id, w, new_b, attrs);
        }
        other => return Err(format!("the preceding layer is {other}, not Conv or Gemm")),
    }
    let b = broadcast_bias(&bias, s.len())?;
    let new_b: Vec<f32> = (0..s.len()).map(|i| s[i] * b[i] + t[i]).collect();
    finish(g, id, prev_id, w, new_b, attrs)
}

fn finish(
    g: &Graph,
    bn_id: NodeId,
    prev_id: NodeId,
    w: Tensor,
    bias: Vec<f32>,
    attrs: crate::Attrs,
) -> Result<Patch, String> {
    let prev = g.node(prev_id);
    let bn = g.node(bn_id);
    let mut patch = Patch::new(g);
    let wname = format!("{}__bnfolded_w", prev.name);
    let bname = format!("{}__bnfolded_b", prev.name);
    let n = bias.len();
    let w_id = patch.add_value(Value::constant(wname, w));
    let b_id = patch.add_value(Value::constant(
        bname,
        Tensor::from_vec(vec![n], bias).map_err(|e| e.to_string())?,
    ));
    let ctx = BuildCtx {
        opset: g.meta.opset,
        n_inputs: 3,
        n_outputs: 1,
    };
    let op = build_op(prev.op.op_type(), &attrs, &ctx)
        .map_err(|e| e.to_string())?
        .ok_or("layer op no longer registered")?;
    let x: Option<ValueId> = prev.inputs[0];
    patch.new_nodes.push(Node {
        name: prev.name.clone(),
        op,
        inputs: vec![x, Some(w_id), Some(b_id)],
        outputs: vec![bn.outputs[0]],
    });
    patch.remove_nodes.extend([prev_id, bn_id]);
    Ok(patch)
}

fn scale_rows(w: &mut Tensor, s: &[f32]) -> Result<(), String> {
    let rows = *w.shape().first().ok_or("scalar weight")?;
    if rows != s.len() {
        return Err(format!(
            "weight has {rows} output channels, BatchNormalization {}",
            s.len()
        ));
    }
    let data = w.as_slice_mut::<f32>().map_err(|e| e.to_string())?;
    let per = data.len() / rows.max(1);
    for (r, chunk) in data.chunks_mut(per.max(1)).enumerate() {
        chunk.iter_mut().for_each(|v| *v *= s[r]);
    }
    Ok(())
}

fn scale_cols(w: &mut Tensor, s: &[f32]) -> Result<(), String> {
    let cols = *w.shape().get(1).ok_or("weight is not a matrix")?;
    if cols != s.len() {
        return Err(format!(
            "weight has {cols} columns, BatchNormalization {}",
            s.len()
        ));
    }
    let data = w.as_slice_mut::<f32>().map_err(|e| e.to_string())?;
    for row in data.chunks_mut(cols) {
        row.iter_mut().zip(s).for_each(|(v, k)| *v *= k);
    }
    Ok(())
}

/// A bias given as a scalar, [C] or [1, C], as C values.
fn broadcast_bias(b: &Tensor, n: usize) -> Result<Vec<f32>, String> {
    let v = b.as_slice::<f32>().map_err(|e| e.to_string())?;
    match v.len() {
        1 => Ok(vec![v[0]; n]),
        l if l == n => Ok(v.to_vec()),
        l => Err(format!(
            "bias of {l} values cannot broadcast to {n} channels"
        )),
    }
}
