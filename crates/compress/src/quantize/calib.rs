//! The calibration passes: stream the float graph over the batches feeding one histogram observer
//! per watched tensor, then choose each tensor's clipping range.
//!
//! Examples (rows along axis 0) are split as they arrive: every `holdout_every`-th goes to the
//! *held-back* observers, the rest to the *fit* observers. Fixed methods use both merged (the
//! histogram is exact under merging, so this equals observing everything once). `auto` computes
//! every candidate's range on the fit observers, fake-quantizes the held-back examples' tensors
//! with each (a second pass over the held-back rows only) and keeps, per tensor, the candidate with
//! the lowest squared error; the final range is the winner applied to both observers merged.
use super::config::RangeChoice;
use super::QuantizeError;
use crate::calibrate::{
    dequantize_value, qparams_from_range, quantize_value, select_auto, CalibError, Candidate,
    HistogramObserver, Method, Observer, QParams, QScheme,
};
use crate::rounding::HessianCollector;
use mw_exec::Plan;
use mw_ir::ValueId;
use mw_tensor::Tensor;
use std::convert::Infallible;

/// What the calibration pass kept: histograms per watched value (indexed by value id) and the
/// input batches (the model's inputs, not activations) for the later passes.
pub(crate) struct Observed {
    pub fit: Vec<Option<HistogramObserver>>,
    pub held: Vec<Option<HistogramObserver>>,
    pub batches: Vec<Tensor>,
    pub examples: usize,
    pub held_examples: usize,
}

/// A tensor's calibrated range and how it was chosen.
#[derive(Clone, Debug)]
pub(crate) struct Calibrated {
    pub method: String,
    pub range: (f32, f32),
    pub observed: (f32, f32),
    /// `auto` only: every candidate with its held-back squared error.
    pub candidates: Vec<Candidate>,
}

/// Splits rows of `t` (axis 0) whose global index `first + r` is `≡ every - 1 (mod every)` off.
/// Returns `(fit, held)`, either `None` when empty.
fn split_rows(
    t: &Tensor,
    first: usize,
    every: usize,
) -> Result<(Option<Tensor>, Option<Tensor>), String> {
    let shape = t.shape();
    let Some(&rows) = shape.first() else {
        return Err("a calibration batch must have a batch axis".into());
    };
    let x = t.as_slice::<f32>().map_err(|e| e.to_string())?;
    let width = x.len().checked_div(rows).unwrap_or(0);
    let (mut fit, mut held) = (Vec::new(), Vec::new());
    let (mut nf, mut nh) = (0, 0);
    for r in 0..rows {
        let row = &x[r * width..(r + 1) * width];
        if every > 0 && (first + r) % every == every - 1 {
            held.extend_from_slice(row);
            nh += 1;
        } else {
            fit.extend_from_slice(row);
            nf += 1;
        }
    }
    let make = |n: usize, v: Vec<f32>| -> Result<Option<Tensor>, String> {
        if n == 0 {
            return Ok(None);
        }
        let mut s = shape.to_vec();
        s[0] = n;
        Tensor::from_vec(s, v).map(Some).map_err(|e| e.to_string())
    };
    Ok((make(nf, fit)?, make(nh, held)?))
}

fn observers(n: usize, watch: &[ValueId], bins: usize) -> Vec<Option<HistogramObserver>> {
    let mut v = vec![None; n];
    for w in watch {
        v[w.0] = HistogramObserver::new(bins).ok();
    }
    v
}

fn feed(
    plan: &Plan,
    x: Tensor,
    obs: &mut [Option<HistogramObserver>],
    hessians: &mut Option<&mut HessianCollector>,
) -> Result<(), QuantizeError> {
    plan.run_observed(vec![x], &mut |v, t| {
        if let (Some(Some(o)), Ok(s)) = (obs.get_mut(v.0), t.as_slice::<f32>()) {
            o.observe(s);
        }
        if let Some(h) = hessians.as_deref_mut() {
            h.observe(v, t);
        }
    })?;
    Ok(())
}

/// The calibration pass over `batches`, each one tensor for the model's single input. `hessians`,
/// when given, sees every tensor of the same runs (every example, fit and held back).
pub(crate) fn observe<I, E>(
    plan: &Plan,
    watch: &[ValueId],
    batches: I,
    holdout_every: usize,
    bins: usize,
    mut hessians: Option<&mut HessianCollector>,
) -> Result<Observed, QuantizeError>
where
    I: IntoIterator<Item = Result<Tensor, E>>,
    E: std::fmt::Display,
{
    let n = plan.graph().values.len();
    let mut o = Observed {
        fit: observers(n, watch, bins),
        held: observers(n, watch, bins),
        batches: Vec::new(),
        examples: 0,
        held_examples: 0,
    };
    for (index, batch) in batches.into_iter().enumerate() {
        let bad = |reason: String| QuantizeError::Batch { index, reason };
        let batch = batch.map_err(|e| bad(e.to_string()))?;
        let (fit, held) = split_rows(&batch, o.examples, holdout_every).map_err(bad)?;
        o.examples += batch.shape()[0];
        if let Some(f) = fit {
            feed(plan, f, &mut o.fit, &mut hessians)?;
        }
        if let Some(h) = held {
            o.held_examples += h.shape()[0];
            feed(plan, h, &mut o.held, &mut hessians)?;
        }
        o.batches.push(batch);
    }
    if o.examples == 0 {
        return Err(QuantizeError::NoCalibrationData);
    }
    Ok(o)
}

/// `fit` and `held` merged.
fn merged(o: &Observed, v: ValueId) -> Option<HistogramObserver> {
    let mut m = o.fit[v.0].clone()?;
    if let Some(h) = &o.held[v.0] {
        m.merge(h).ok()?;
    }
    Some(m)
}

/// Sum of squared fake-quantization errors of `values` under each of `qps`.
fn add_errors(values: &[f32], qps: &[QParams], sse: &mut [f64]) {
    for (qp, e) in qps.iter().zip(sse.iter_mut()) {
        let mut s = 0f64;
        for &x in values.iter().filter(|x| x.is_finite()) {
            let d = (x - dequantize_value(quantize_value(x, qp), qp)) as f64;
            s += d * d;
        }
        *e += s;
    }
}

/// Candidate ranges per watched tensor, on the fit observers.
type Candidates = Vec<Option<Vec<(Method, (f32, f32))>>>;

/// The fit observer with its candidate ranges already computed, so that [`select_auto`] does not
/// run the entropy and MSE searches a second time.
struct Precomputed<'a> {
    fit: &'a HistogramObserver,
    ranges: &'a [(Method, (f32, f32))],
}

impl Observer for Precomputed<'_> {
    fn observe(&mut self, _values: &[f32]) {}

    fn stats(&self) -> crate::calibrate::ValueStats {
        self.fit.stats()
    }

    fn range(&self, method: Method, scheme: QScheme) -> Result<(f32, f32), CalibError> {
        match self.ranges.iter().find(|(m, _)| *m == method) {
            Some(&(_, r)) => Ok(r),
            None => self.fit.range(method, scheme),
        }
    }
}

fn candidate_ranges(
    o: &Observed,
    watch: &[ValueId],
    methods: &[Method],
    scheme: QScheme,
    names: &dyn Fn(ValueId) -> String,
) -> Result<Candidates, QuantizeError> {
    let mut out = vec![None; o.fit.len()];
    for &v in watch {
        let Some(fit) = o.fit[v.0].as_ref() else {
            continue;
        };
        let list = methods
            .iter()
            .map(|&m| Ok((m, fit.range(m, scheme)?)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| QuantizeError::calib(&names(v), e))?;
        out[v.0] = Some(list);
    }
    Ok(out)
}

/// The `auto` scoring pass: squared error of each candidate over the held-back rows (over the fit
/// rows when nothing was held back).
fn score(
    plan: &Plan,
    o: &Observed,
    cands: &Candidates,
    scheme: QScheme,
    holdout_every: usize,
) -> Result<Vec<Vec<f64>>, QuantizeError> {
    let qps: Vec<Vec<QParams>> = cands
        .iter()
        .map(|c| {
            c.iter()
                .flatten()
                .map(|&(_, r)| qparams_from_range(r, scheme))
                .collect::<Result<Vec<_>, _>>()
                .unwrap_or_default()
        })
        .collect();
    let mut sse: Vec<Vec<f64>> = qps.iter().map(|q| vec![0.0; q.len()]).collect();
    let use_held = o.held_examples > 0;
    let mut first = 0;
    for batch in &o.batches {
        let (fit, held) = split_rows(batch, first, holdout_every)
            .map_err(|reason| QuantizeError::Batch { index: 0, reason })?;
        first += batch.shape()[0];
        let Some(x) = (if use_held { held } else { fit }) else {
            continue;
        };
        plan.run_observed(vec![x], &mut |v, t| {
            if let (Some(q), Ok(s)) = (qps.get(v.0), t.as_slice::<f32>()) {
                if !q.is_empty() {
                    add_errors(s, q, &mut sse[v.0]);
                }
            }
        })?;
    }
    Ok(sse)
}

/// Chooses the range of every watched tensor.
pub(crate) fn choose_ranges(
    plan: &Plan,
    o: &Observed,
    watch: &[ValueId],
    choice: &RangeChoice,
    scheme: QScheme,
    holdout_every: usize,
) -> Result<Vec<Option<Calibrated>>, QuantizeError> {
    let g = plan.graph();
    let name = |v: ValueId| g.value(v).name.clone();
    let mut out = vec![None; o.fit.len()];
    let (methods, auto) = match choice {
        RangeChoice::Method(m) => (vec![*m], None),
        RangeChoice::Auto(ms) => {
            if ms.is_empty() {
                return Err(QuantizeError::Config("auto needs candidate methods".into()));
            }
            let cands = candidate_ranges(o, watch, ms, scheme, &name)?;
            let sse = score(plan, o, &cands, scheme, holdout_every)?;
            (ms.clone(), Some((cands, sse)))
        }
    };
    for &v in watch {
        let Some(all) = merged(o, v) else {
            continue;
        };
        let observed = all
            .stats()
            .min_max()
            .map_err(|e| QuantizeError::calib(&name(v), e))?;
        let (method, candidates) = match &auto {
            None => (methods[0], Vec::new()),
            Some((cands, sse)) => {
                let list = cands[v.0].as_deref().unwrap_or(&[]);
                let fit = Precomputed {
                    fit: o.fit[v.0].as_ref().unwrap_or(&all),
                    ranges: list,
                };
                let errors = &sse[v.0];
                let choice = select_auto(&fit, scheme, &methods, |m, r| {
                    let i = list.iter().position(|c| c.0 == m && c.1 == r);
                    Ok::<f64, Infallible>(
                        i.and_then(|i| errors.get(i).copied()).unwrap_or(f64::NAN),
                    )
                })
                .map_err(|e| match e {
                    crate::calibrate::AutoError::Calib(c) => QuantizeError::calib(&name(v), c),
                    crate::calibrate::AutoError::Callback(never) => match never {},
                })?;
                (choice.winner().method, choice.candidates)
            }
        };
        let range = all
            .range(method, scheme)
            .map_err(|e| QuantizeError::calib(&name(v), e))?;
        let label = match auto {
            Some(_) => format!("auto:{method}"),
            None => method.to_string(),
        };
        out[v.0] = Some(Calibrated {
            method: label,
            range,
            observed,
            candidates,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_split_by_global_index() {
        let t = Tensor::from_vec(vec![5, 2], (0..10).map(|i| i as f32).collect()).unwrap();
        let (fit, held) = split_rows(&t, 2, 4).unwrap();
        // Global rows 2..7: row 3 (local 1) is held back.
        assert_eq!(held.unwrap().as_slice::<f32>().unwrap(), &[2.0, 3.0]);
        assert_eq!(fit.unwrap().shape(), &[4, 2]);
        let (fit, held) = split_rows(&t, 0, 0).unwrap();
        assert!(held.is_none());
        assert_eq!(fit.unwrap().shape(), &[5, 2]);
        assert!(split_rows(&Tensor::scalar(1.0f32), 0, 4).is_err());
    }
}
