//! Measurement passes: each QDQ variant runs in the float engine (fake quantization) beside the
//! float graph over the stored calibration batches; probed values are compared by value.
//!
//! Memory: the float values probed in one batch are held until every variant has run on that
//! batch; nothing is kept across batches but running sums.
use super::QuantizeError;
use mw_exec::Plan;
use mw_ir::ValueId;
use mw_tensor::Tensor;

/// Running signal and noise energies: SQNR = 10·log10(Σx² / Σ(x − x̂)²).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sqnr {
    signal: f64,
    noise: f64,
}

/// SQNR reported when the two tensors are identical.
pub const SQNR_EXACT_DB: f64 = 300.0;

impl Sqnr {
    fn add(&mut self, reference: &[f32], test: &[f32]) {
        for (&x, &y) in reference.iter().zip(test) {
            let (x, y) = (x as f64, y as f64);
            self.signal += x * x;
            self.noise += (x - y) * (x - y);
        }
    }

    /// In dB, capped at [`SQNR_EXACT_DB`]; `None` before any data.
    pub(crate) fn db(&self) -> Option<f64> {
        if self.signal == 0.0 && self.noise == 0.0 {
            return None;
        }
        if self.noise == 0.0 {
            return Some(SQNR_EXACT_DB);
        }
        Some((10.0 * (self.signal / self.noise).log10()).min(SQNR_EXACT_DB))
    }
}

/// One graph to compare with the float graph: `probes[i] = (float value, value in this graph)`.
/// It runs on the batch itself, or, with `feeds`, on those values of the float graph's run.
pub(crate) struct Variant {
    pub plan: Plan,
    pub probes: Vec<(ValueId, ValueId)>,
    pub feeds: Option<Vec<ValueId>>,
}

/// What one variant measured.
#[derive(Clone, Debug, Default)]
pub(crate) struct Measured {
    pub probes: Vec<Sqnr>,
    /// Over every model output.
    pub output: Sqnr,
    /// Examples whose arg-max of the first output equals the float graph's.
    pub agree: usize,
    pub total: usize,
}

impl Measured {
    pub(crate) fn agreement(&self) -> Option<f64> {
        (self.total > 0).then(|| self.agree as f64 / self.total as f64)
    }
}

fn argmax_rows(t: &Tensor) -> Vec<usize> {
    let Ok(x) = t.as_slice::<f32>() else {
        return Vec::new();
    };
    let rows = t.shape().first().copied().unwrap_or(1).max(1);
    let width = x.len() / rows;
    if width == 0 {
        return Vec::new();
    }
    x.chunks(width)
        .map(|r| {
            let mut best = 0;
            for (i, &v) in r.iter().enumerate() {
                if v > r[best] {
                    best = i;
                }
            }
            best
        })
        .collect()
}

/// Runs `float` and every variant over `batches`.
pub(crate) fn measure(
    float: &Plan,
    variants: &[Variant],
    batches: &[Tensor],
) -> Result<Vec<Measured>, QuantizeError> {
    let n = float.graph().values.len();
    let mut wanted = vec![false; n];
    for v in variants {
        for &(f, _) in &v.probes {
            wanted[f.0] = true;
        }
        for &f in v.feeds.iter().flatten() {
            wanted[f.0] = true;
        }
    }
    let mut out: Vec<Measured> = variants
        .iter()
        .map(|v| Measured {
            probes: vec![Sqnr::default(); v.probes.len()],
            ..Default::default()
        })
        .collect();
    for batch in batches {
        let mut kept: Vec<Option<Tensor>> = vec![None; n];
        let reference = float.run_observed(vec![batch.clone()], &mut |v, t| {
            if wanted[v.0] {
                kept[v.0] = Some(t.clone());
            }
        })?;
        let ref_top = reference.first().map(argmax_rows).unwrap_or_default();
        for (variant, m) in variants.iter().zip(out.iter_mut()) {
            let mut slot = vec![usize::MAX; variant.plan.graph().values.len()];
            for (i, &(_, q)) in variant.probes.iter().enumerate() {
                slot[q.0] = i;
            }
            let inputs = match &variant.feeds {
                None => vec![batch.clone()],
                Some(f) => f
                    .iter()
                    .map(|v| {
                        kept[v.0]
                            .clone()
                            .ok_or(QuantizeError::Config("unfed value".into()))
                    })
                    .collect::<Result<_, _>>()?,
            };
            let outputs = variant.plan.run_observed(inputs, &mut |v, t| {
                let i = slot[v.0];
                if i == usize::MAX {
                    return;
                }
                let f = variant.probes[i].0;
                if let (Some(r), Ok(y)) = (kept[f.0].as_ref(), t.as_slice::<f32>()) {
                    if let Ok(x) = r.as_slice::<f32>() {
                        m.probes[i].add(x, y);
                    }
                }
            })?;
            for (r, y) in reference.iter().zip(&outputs) {
                if let (Ok(x), Ok(y)) = (r.as_slice::<f32>(), y.as_slice::<f32>()) {
                    m.output.add(x, y);
                }
            }
            let top = outputs.first().map(argmax_rows).unwrap_or_default();
            m.agree += ref_top.iter().zip(&top).filter(|(a, b)| a == b).count();
            m.total += ref_top.len();
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqnr_in_db() {
        let mut s = Sqnr::default();
        assert_eq!(s.db(), None);
        s.add(&[1.0, -1.0], &[1.0, -1.0]);
        assert_eq!(s.db(), Some(SQNR_EXACT_DB));
        s.add(&[0.0, 0.0], &[0.1, -0.1]);
        // signal 2, noise 0.02 → 20 dB.
        assert!((s.db().unwrap() - 20.0).abs() < 1e-5);
    }

    #[test]
    fn argmax_of_rows() {
        let t = Tensor::from_vec(vec![2, 3], vec![0.1f32, 0.7, 0.2, 0.5, 0.1, 0.4]).unwrap();
        assert_eq!(argmax_rows(&t), vec![1, 0]);
    }
}
