//! The Pareto front of an additive multiple-choice knapsack: each layer picks one option with a
//! resource and a cost; a configuration's totals are the sums. Exact for the additive model.

/// One option of one layer: what it adds to the resource (bytes or µJ) and to the cost.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Choice {
    pub resource: f64,
    pub cost: f64,
}

/// A non-dominated configuration: one option index per layer and its totals.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub picks: Vec<usize>,
    pub resource: f64,
    pub cost: f64,
}

/// Every configuration not dominated in (resource, cost), sorted by increasing resource (and
/// so decreasing cost). `options[l]` are layer `l`'s options; a layer without options makes the
/// front empty. Ties keep the configuration with the lower option indices (deterministic).
pub fn pareto_front(options: &[Vec<Choice>]) -> Vec<Point> {
    let mut front = vec![Point {
        picks: Vec::new(),
        resource: 0.0,
        cost: 0.0,
    }];
    for layer in options {
        let mut next = Vec::with_capacity(front.len() * layer.len());
        for p in &front {
            for (i, c) in layer.iter().enumerate() {
                let mut picks = p.picks.clone();
                picks.push(i);
                next.push(Point {
                    picks,
                    resource: p.resource + c.resource,
                    cost: p.cost + c.cost,
                });
            }
        }
        front = prune(next);
    }
    front
}

/// Keeps the non-dominated points, sorted by resource.
fn prune(mut points: Vec<Point>) -> Vec<Point> {
    points.sort_by(|a, b| {
        a.resource
            .total_cmp(&b.resource)
            .then(a.cost.total_cmp(&b.cost))
            .then(a.picks.cmp(&b.picks))
    });
    let mut out: Vec<Point> = Vec::new();
    for p in points {
        if out.last().is_none_or(|last| p.cost < last.cost) {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(resource: f64, cost: f64) -> Choice {
        Choice { resource, cost }
    }

    /// Brute force over every configuration.
    fn brute(options: &[Vec<Choice>]) -> Vec<(f64, f64)> {
        let mut all = vec![(0.0, 0.0)];
        for layer in options {
            all = all
                .iter()
                .flat_map(|&(r, k)| layer.iter().map(move |c| (r + c.resource, k + c.cost)))
                .collect();
        }
        let mut front: Vec<(f64, f64)> = all
            .iter()
            .copied()
            .filter(|&(r, k)| {
                !all.iter()
                    .any(|&(r2, k2)| r2 <= r && k2 <= k && (r2 < r || k2 < k))
            })
            .collect();
        front.sort_by(|a, b| a.0.total_cmp(&b.0));
        front.dedup();
        front
    }

    #[test]
    fn matches_brute_force() {
        let options = vec![
            vec![c(8.0, 0.0), c(4.0, 0.5), c(2.0, 3.0), c(1.0, 9.0)],
            vec![c(16.0, 0.0), c(8.0, 0.1), c(4.0, 4.0)],
            vec![c(3.0, 0.2), c(3.0, 0.1), c(1.0, 2.0)],
        ];
        let front = pareto_front(&options);
        let got: Vec<(f64, f64)> = front.iter().map(|p| (p.resource, p.cost)).collect();
        assert_eq!(got, brute(&options));
        for p in &front {
            let r: f64 = p
                .picks
                .iter()
                .zip(&options)
                .map(|(&i, o)| o[i].resource)
                .sum();
            assert_eq!(r, p.resource);
        }
    }

    #[test]
    fn single_and_empty() {
        let front = pareto_front(&[vec![c(1.0, 1.0)]]);
        assert_eq!(front.len(), 1);
        assert!(pareto_front(&[vec![]]).is_empty());
        assert_eq!(pareto_front(&[]).len(), 1);
    }
}
