//! The search's accuracy proxy: a candidate graph's outputs against the float model's on
//! held-out calibration examples (never the evaluation split).
use mw_exec::{ExecError, Plan};
use mw_ir::{Graph, Limits};
use mw_tensor::Tensor;
use serde::{Deserialize, Serialize};

/// Held-out examples: input batches, the float model's output rows, optional labels.
pub struct Holdout {
    pub batches: Vec<Tensor>,
    /// Per example, the float model's output as probabilities.
    pub reference: Vec<Vec<f64>>,
    /// Whether the model outputs probabilities (every float row is a distribution); then a
    /// candidate's rows are renormalized, else they go through softmax like the float ones.
    pub probabilities: bool,
    /// Per example, its label (when the caller has them).
    pub labels: Option<Vec<usize>>,
}

/// How a graph scores on the held-out examples.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Mean KL(float ‖ candidate) over examples, in nats: the cost the search minimizes.
    pub kl: f64,
    /// Fraction of examples whose top-1 equals the float model's.
    pub agreement: f64,
    /// Top-1 accuracy against the labels, when given.
    pub top1: Option<f64>,
}

impl Holdout {
    /// Runs the float `graph` over `batches` for the reference rows.
    pub fn new(
        graph: &Graph,
        batches: Vec<Tensor>,
        labels: Option<Vec<usize>>,
        limits: Limits,
    ) -> Result<Holdout, ExecError> {
        let raw = rows(graph, &batches, limits)?;
        let probabilities = raw.iter().all(|r| is_distribution(r));
        let reference = raw
            .iter()
            .map(|r| to_probabilities(r, probabilities))
            .collect();
        Ok(Holdout {
            batches,
            reference,
            probabilities,
            labels,
        })
    }

    /// Scores `graph` (run in the float engine: QDQ graphs fake-quantize).
    pub fn score(&self, graph: &Graph, limits: Limits) -> Result<Score, ExecError> {
        let got: Vec<Vec<f64>> = rows(graph, &self.batches, limits)?
            .iter()
            .map(|r| to_probabilities(r, self.probabilities))
            .collect();
        let n = got.len().min(self.reference.len()).max(1) as f64;
        let mut kl = 0.0;
        let mut agree = 0usize;
        let mut correct = 0usize;
        for (i, (p, q)) in self.reference.iter().zip(&got).enumerate() {
            kl += kl_divergence(p, q);
            let top = argmax(q);
            agree += usize::from(argmax(p) == top);
            if let Some(l) = &self.labels {
                correct += usize::from(l.get(i) == Some(&top));
            }
        }
        Ok(Score {
            kl: kl / n,
            agreement: agree as f64 / n,
            top1: self.labels.as_ref().map(|_| correct as f64 / n),
        })
    }
}

/// The first output of `graph` over every batch, one row per example.
fn rows(graph: &Graph, batches: &[Tensor], limits: Limits) -> Result<Vec<Vec<f64>>, ExecError> {
    let plan = Plan::new(graph.clone(), limits)?;
    let mut out = Vec::new();
    for b in batches {
        let y = plan.run(vec![b.clone()])?.swap_remove(0);
        let n = y.shape().first().copied().unwrap_or(1).max(1);
        let v = y.to_f64_vec();
        let width = v.len() / n;
        for row in v.chunks(width.max(1)) {
            out.push(row.to_vec());
        }
    }
    Ok(out)
}

/// Non-negative and summing to 1 within 1e-3.
pub fn is_distribution(row: &[f64]) -> bool {
    let sum: f64 = row.iter().sum();
    row.iter().all(|&x| x >= 0.0) && (sum - 1.0).abs() < 1e-3
}

/// `row` renormalized to sum 1 (`probabilities`: the model outputs a distribution, which
/// quantization perturbs), else its softmax. A row of zeros becomes uniform.
pub fn to_probabilities(row: &[f64], probabilities: bool) -> Vec<f64> {
    if probabilities {
        let clamped: Vec<f64> = row.iter().map(|&x| x.max(0.0)).collect();
        let sum: f64 = clamped.iter().sum();
        if sum > 0.0 {
            return clamped.into_iter().map(|x| x / sum).collect();
        }
        return vec![1.0 / row.len().max(1) as f64; row.len()];
    }
    let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = row.iter().map(|&x| (x - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|x| x / s).collect()
}

/// KL(p ‖ q) in nats, with q floored at 1e-6 (a quantized softmax can output exact zeros).
pub fn kl_divergence(p: &[f64], q: &[f64]) -> f64 {
    p.iter()
        .zip(q)
        .filter(|(&pi, _)| pi > 0.0)
        .map(|(&pi, &qi)| pi * (pi / qi.max(1e-6)).ln())
        .sum::<f64>()
        .max(0.0)
}

/// Index of the largest value (the first on ties).
pub fn argmax(row: &[f64]) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |(bi, bv), (i, &v)| {
            if v > bv {
                (i, v)
            } else {
                (bi, bv)
            }
        })
        .0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kl_and_softmax() {
        let p = [0.5, 0.5];
        assert_eq!(kl_divergence(&p, &p), 0.0);
        assert!(kl_divergence(&p, &[0.9, 0.1]) > 0.3);
        assert_eq!(to_probabilities(&[0.25, 0.75], true), vec![0.25, 0.75]);
        assert_eq!(to_probabilities(&[0.5, 1.5], true), vec![0.25, 0.75]);
        assert!(is_distribution(&[0.25, 0.75]) && !is_distribution(&[0.5, 1.5]));
        let s = to_probabilities(&[0.0, 0.0, 0.0], false);
        assert!((s[0] - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(argmax(&[0.1, 0.7, 0.7]), 1);
    }
}
