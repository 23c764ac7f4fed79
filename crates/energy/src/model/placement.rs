//! Placement (each layer on the first unit that runs its op at its precision), residency of
//! weights and activations, and transfers between units.
use crate::profile::{Profile, Unit};
use crate::report::{Fallback, Residency, WeightHome};
use crate::workload::{LayerWorkload, ModelWorkload};
use crate::EnergyError;

use super::ResidencyPolicy;

pub(super) struct Placed {
    /// Unit index of each layer.
    pub units: Vec<usize>,
    pub fallbacks: Vec<Fallback>,
}

/// Why `unit` cannot run `l`, if it cannot.
pub(super) fn refusal(l: &LayerWorkload, unit: &Unit) -> Option<String> {
    if !unit.supports_op(&l.op_type) {
        return Some(format!("unit `{}` does not run `{}`", unit.name, l.op_type));
    }
    let p = l.required_precision();
    let ok = if l.is_mac() {
        let a = l.activation_precision;
        let w = l.weights.as_ref().map_or(a, |w| w.precision);
        if p.is_float() {
            unit.mac_precision(p).is_some()
        } else {
            unit.mac_precision(w).is_some() && unit.mac_precision(a).is_some()
        }
    } else {
        unit.datapath_precision(p).is_some()
    };
    (!ok).then(|| {
        let what = if l.is_mac() { "MACs" } else { "arithmetic" };
        format!("unit `{}` has no {p} {what}", unit.name)
    })
}

pub(super) fn place(w: &ModelWorkload, profile: &Profile) -> Result<Placed, EnergyError> {
    let mut units = Vec::with_capacity(w.layers.len());
    let mut fallbacks = Vec::new();
    for l in &w.layers {
        let mut reasons = Vec::new();
        let mut chosen = None;
        for (u, unit) in profile.units.iter().enumerate() {
            match refusal(l, unit) {
                None => {
                    chosen = Some(u);
                    break;
                }
                Some(r) => reasons.push(r),
            }
        }
        let u = chosen.ok_or_else(|| EnergyError::Unplaceable {
            layer: l.name.clone(),
            reason: reasons.join("; "),
        })?;
        if u != 0 {
            fallbacks.push(Fallback {
                layer: l.name.clone(),
                op_type: l.op_type.clone(),
                precision: l.required_precision().to_string(),
                unit: profile.units[u].name.clone(),
                reason: reasons.join("; "),
            });
        }
        units.push(u);
    }
    Ok(Placed { units, fallbacks })
}

/// Residency on one unit given its weight bits and the model's peak activation bits.
pub(super) fn residency(
    profile: &Profile,
    unit: &Unit,
    weight_bits: f64,
    peak_bits: f64,
    policy: ResidencyPolicy,
) -> Residency {
    let capacity = unit.memory.sram.capacity_bytes.value;
    let (weights, peak) = (weight_bits / 8.0, peak_bits / 8.0);
    let backing = profile.backing.is_some();
    let fits = weights + peak <= capacity;
    let weights_in = if unit.weights_in_backing {
        WeightHome::Dram
    } else {
        match policy {
            ResidencyPolicy::Sram => WeightHome::Sram,
            ResidencyPolicy::Dram if backing => WeightHome::Dram,
            ResidencyPolicy::Dram => WeightHome::Sram,
            ResidencyPolicy::Auto if fits || !backing => WeightHome::Sram,
            ResidencyPolicy::Auto => WeightHome::Staged,
        }
    };
    Residency {
        unit: unit.name.clone(),
        sram_capacity_bytes: capacity,
        weight_bytes: weights,
        peak_activation_bytes: peak,
        fits,
        weights_in,
        activations_in_dram: backing && peak > capacity,
    }
}

/// Where one layer's weights are read from: the unit's choice, except that a staged layer too
/// large for the SRAM is read from the backing store at every fetch.
pub(super) fn layer_home(
    l: &LayerWorkload,
    unit: &Unit,
    unit_home: WeightHome,
    backing: bool,
) -> WeightHome {
    if unit_home != WeightHome::Staged {
        return unit_home;
    }
    let bytes = (l.weights.as_ref().map_or(0, |w| w.stored_bits)
        + l.param_bits
        + l.input_bits()
        + l.output_bits()) as f64
        / 8.0;
    if bytes <= unit.memory.sram.capacity_bytes.value || !backing {
        WeightHome::Staged
    } else {
        WeightHome::Dram
    }
}

/// Inputs of layer `i` that come from another unit (graph inputs arrive at the first unit):
/// (bits, pJ per byte, MB/s).
pub(super) fn transfers(
    w: &ModelWorkload,
    units: &[usize],
    i: usize,
    profile: &Profile,
) -> Vec<(f64, f64, f64)> {
    let here = units[i];
    w.layers[i]
        .inputs
        .iter()
        .filter_map(|input| {
            let there = input.from.map_or(0, |p| units[p]);
            if there == here {
                return None;
            }
            let t = profile.transfer(&profile.units[there].name, &profile.units[here].name)?;
            Some((
                input.bits() as f64,
                t.energy_pj_per_byte.value,
                t.bandwidth_mb_s.value,
            ))
        })
        .collect()
}
