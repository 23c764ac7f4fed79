//! The cost model: places each layer on a unit, decides where weights and activations live,
//! costs every layer (see [`layer`] for the formulas and [`dataflow`] for tiling) and sums the
//! model: energy per inference, latency, average power at a rate, the verdict against a budget.
mod dataflow;
mod layer;
mod placement;

pub use dataflow::{tile, Tiling};

use crate::profile::Profile;
use crate::report::{EnergyReport, EnergySplit, Residency, Verdict, WeightHome};
use crate::workload::ModelWorkload;
use crate::EnergyError;

/// Where weights live, whatever fits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ResidencyPolicy {
    /// In SRAM when a unit's weights plus the peak activations fit its SRAM; otherwise staged
    /// layer by layer from the backing store, or read from it at every fetch when a layer does
    /// not fit either. Units with `weights_in_backing` always read the backing store.
    #[default]
    Auto,
    /// Always in SRAM (even when they would not fit).
    Sram,
    /// Always read from the backing store at every fetch.
    Dram,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Options {
    pub residency: ResidencyPolicy,
    /// Inferences per second, for the average power.
    pub rate_hz: Option<f64>,
    /// Power budget in mW, for the verdict (needs a rate).
    pub budget_mw: Option<f64>,
}

/// Costs `workload` on `profile`.
pub fn evaluate(
    workload: &ModelWorkload,
    profile: &Profile,
    options: &Options,
) -> Result<EnergyReport, EnergyError> {
    check_options(options)?;
    let placed = placement::place(workload, profile)?;
    let peak_bits = workload.peak_activation_bits as f64;
    let residency: Vec<Residency> = profile
        .units
        .iter()
        .enumerate()
        .filter(|(u, _)| placed.units.contains(u))
        .map(|(u, unit)| {
            let weights = layer::parameter_bits(workload, |i| placed.units[i] == u);
            placement::residency(profile, unit, weights, peak_bits, options.residency)
        })
        .collect();
    let static_mw = profile
        .units
        .iter()
        .fold(0.0, |a, u| a + u.static_power_mw.value);

    let mut layers = Vec::with_capacity(workload.layers.len());
    for (i, l) in workload.layers.iter().enumerate() {
        let unit = &profile.units[placed.units[i]];
        let res = residency.iter().find(|r| r.unit == unit.name);
        let unit_home = res.map_or(WeightHome::Sram, |r| r.weights_in);
        let ctx = layer::Context {
            profile,
            unit,
            weights_in: placement::layer_home(l, unit, unit_home, profile.backing.is_some()),
            activations_in_dram: res.is_some_and(|r| r.activations_in_dram),
            transfers: placement::transfers(workload, &placed.units, i, profile),
            static_mw,
            fallback: placed.units[i] != 0,
        };
        layers.push(layer::cost(l, &ctx));
    }

    let mut split = EnergySplit::default();
    for l in &layers {
        split.add(&l.energy);
    }
    let latency_s = layers.iter().fold(0.0, |a, l| a + l.latency_ms * 1e-3);
    let energy_j = split.total_pj() * 1e-12;
    let idle_mw = profile
        .units
        .iter()
        .fold(0.0, |a, u| a + u.idle_power_mw.value);
    let power_mw = options
        .rate_hz
        .map(|r| average_power_mw(r, energy_j, latency_s, idle_mw));
    let verdict = match (options.rate_hz, options.budget_mw, power_mw) {
        (Some(r), Some(b), Some(p)) => Some(verdict(r, b, p, latency_s)),
        _ => None,
    };
    let dynamic = split.compute_pj + split.data_movement_pj();
    Ok(EnergyReport {
        profile: profile.name.clone(),
        energy_per_inference_uj: energy_j * 1e6,
        latency_ms: latency_s * 1e3,
        rate_hz: options.rate_hz,
        power_mw,
        budget_mw: options.budget_mw,
        verdict,
        data_movement_share: if dynamic > 0.0 {
            split.data_movement_pj() / dynamic
        } else {
            0.0
        },
        split,
        macs: workload.macs(),
        weight_stored_bytes: workload.weight_stored_bits() as f64 / 8.0,
        peak_activation_bytes: peak_bits / 8.0,
        residency,
        layers,
        fallbacks: placed.fallbacks,
        notes: profile.notes.clone(),
    })
}

fn check_options(o: &Options) -> Result<(), EnergyError> {
    for (name, v) in [("rate", o.rate_hz), ("budget", o.budget_mw)] {
        if let Some(v) = v {
            if !(v.is_finite() && v > 0.0) {
                return Err(EnergyError::Options(format!(
                    "{name} {v} is not a positive number"
                )));
            }
        }
    }
    if o.budget_mw.is_some() && o.rate_hz.is_none() {
        return Err(EnergyError::Options(
            "a power budget needs a rate (inferences per second)".into(),
        ));
    }
    Ok(())
}

/// Average power (mW) at `rate` inferences per second: the energy of `rate` inferences per
/// second plus idle power for the rest of each second.
pub fn average_power_mw(rate_hz: f64, energy_j: f64, latency_s: f64, idle_mw: f64) -> f64 {
    let busy = (rate_hz * latency_s).min(1.0);
    rate_hz * energy_j * 1e3 + (1.0 - busy) * idle_mw
}

fn verdict(rate_hz: f64, budget_mw: f64, power_mw: f64, latency_s: f64) -> Verdict {
    if rate_hz * latency_s > 1.0 {
        Verdict::CannotSustain {
            max_rate_hz: 1.0 / latency_s,
        }
    } else if power_mw <= budget_mw {
        Verdict::Fits {
            margin_mw: budget_mw - power_mw,
        }
    } else {
        Verdict::OverBudget {
            excess_mw: power_mw - budget_mw,
        }
    }
}
