//! Streaming the Hessian statistics of every layer's input from a float run: im2col patches of a
//! Conv's input (one accumulator per group), rows of a Gemm/MatMul input.
use super::hessian::{Hessian, HessianAccumulator};
use super::layers::{Layer, LayerKind};
use super::RoundingError;
use mw_exec::Plan;
use mw_ir::ops::nn::Conv;
use mw_ir::{Graph, ValueId};
use mw_kernels::nn::ConvGeometry;
use mw_tensor::Tensor;

/// One [`HessianAccumulator`] per layer and group; feed it every tensor of a run with
/// [`HessianCollector::observe`] (the callback of `Plan::run_observed`).
pub struct HessianCollector {
    layers: Vec<Watched>,
    error: Option<RoundingError>,
}

struct Watched {
    layer: Layer,
    conv: Option<Conv>,
    weight_shape: Vec<usize>,
    accs: Vec<HessianAccumulator>,
}

impl HessianCollector {
    pub fn new(graph: &Graph, layers: &[Layer]) -> Result<HessianCollector, RoundingError> {
        let mut watched = Vec::with_capacity(layers.len());
        for l in layers {
            let node = graph.node(l.node);
            let conv = node.op.as_any().downcast_ref::<Conv>().cloned();
            let weight_shape = graph
                .value(l.weight)
                .konst
                .as_deref()
                .map(|t| t.shape().to_vec())
                .ok_or_else(|| l.err("weight is not constant".into()))?;
            let accs = (0..l.groups)
                .map(|_| HessianAccumulator::new(l.cols))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| l.err(e.to_string()))?;
            watched.push(Watched {
                layer: l.clone(),
                conv,
                weight_shape,
                accs,
            });
        }
        Ok(HessianCollector {
            layers: watched,
            error: None,
        })
    }

    /// Feeds `t` to every layer whose data input is `value`. The first failure is kept and
    /// returned by [`HessianCollector::finish`].
    pub fn observe(&mut self, value: ValueId, t: &Tensor) {
        if self.error.is_some() {
            return;
        }
        for w in self.layers.iter_mut().filter(|w| w.layer.input == value) {
            if let Err(e) = w.feed(t) {
                self.error = Some(e);
                return;
            }
        }
    }

    /// The statistics per layer (in the order given to `new`), one [`Hessian`] per group.
    pub fn finish(self) -> Result<Vec<Vec<Hessian>>, RoundingError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        Ok(self
            .layers
            .into_iter()
            .map(|w| w.accs.into_iter().map(HessianAccumulator::finish).collect())
            .collect())
    }
}

impl Watched {
    fn feed(&mut self, t: &Tensor) -> Result<(), RoundingError> {
        let l = &self.layer;
        let x = t.as_slice::<f32>().map_err(|e| l.err(e.to_string()))?;
        match (l.kind, &self.conv) {
            (LayerKind::Conv, Some(conv)) => {
                let (g, out) = conv
                    .geometry(t.shape(), &self.weight_shape, None)
                    .map_err(|e| l.err(e.to_string()))?;
                feed_patches(x, &g, &out[2..], &mut self.accs).map_err(|e| l.err(e.to_string()))
            }
            (LayerKind::Conv, None) => Err(l.err("Conv op of an unknown type".into())),
            _ => {
                let n = x.len() / l.cols.max(1);
                self.accs[0]
                    .add_rows(&x[..n * l.cols], n)
                    .map_err(|e| l.err(e.to_string()))
            }
        }
    }
}

/// The patches of a 1-D or 2-D convolution, in the weight's `[Cin/g, k…]` order (zeros where the
/// window covers padding), one accumulator per group.
fn feed_patches(
    x: &[f32],
    g: &ConvGeometry,
    out: &[usize],
    accs: &mut [HessianAccumulator],
) -> Result<(), RoundingError> {
    let two = |v: &[usize], d: usize| -> (usize, usize) {
        if v.len() == 1 {
            (d, v[0])
        } else {
            (v[0], v[1])
        }
    };
    if !(1..=2).contains(&g.input.len()) {
        return Err(RoundingError::Shape(format!(
            "{}-D convolution (1-D and 2-D supported)",
            g.input.len()
        )));
    }
    let (ih, iw) = two(&g.input, 1);
    let (kh, kw) = two(&g.kernel, 1);
    let (sh, sw) = two(&g.strides, 1);
    let (dh, dw) = two(&g.dilations, 1);
    let (ph, pw) = two(&g.pads_begin, 0);
    let (oh, ow) = two(out, 1);
    let cg = g.in_channels / g.group;
    let k = cg * kh * kw;
    let mut rows = vec![0f32; oh * ow * k];
    for b in 0..g.batch {
        for (grp, acc) in accs.iter_mut().enumerate() {
            for oy in 0..oh {
                for ox in 0..ow {
                    let patch = &mut rows[(oy * ow + ox) * k..(oy * ow + ox + 1) * k];
                    for c in 0..cg {
                        let plane = &x[(b * g.in_channels + grp * cg + c) * ih * iw..][..ih * iw];
                        for i in 0..kh {
                            let y = (oy * sh + i * dh).checked_sub(ph).filter(|&y| y < ih);
                            for j in 0..kw {
                                let xx = (ox * sw + j * dw).checked_sub(pw).filter(|&v| v < iw);
                                patch[(c * kh + i) * kw + j] = match (y, xx) {
                                    (Some(y), Some(xx)) => plane[y * iw + xx],
                                    _ => 0.0,
                                };
                            }
                        }
                    }
                }
            }
            acc.add_rows(&rows, oh * ow)?;
        }
    }
    Ok(())
}

/// Runs `plan` over `batches` (each the model's single input) and returns every layer's
/// statistics.
pub fn collect_hessians<I>(
    plan: &Plan,
    layers: &[Layer],
    batches: I,
) -> Result<Vec<Vec<Hessian>>, RoundingError>
where
    I: IntoIterator<Item = Tensor>,
{
    let mut c = HessianCollector::new(plan.graph(), layers)?;
    for x in batches {
        plan.run_observed(vec![x], &mut |v, t| c.observe(v, t))
            .map_err(|e| RoundingError::Run(e.to_string()))?;
    }
    c.finish()
}
