//! The results of an evaluation: per-layer breakdowns and model totals, serde-serializable
//! (`--json`), and a readable table.
use crate::model::Tiling;
use serde::Serialize;
use std::fmt::Write;

/// Energy by where it goes, in picojoules.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct EnergySplit {
    /// Multiplies, adds, elementwise operations, requantization.
    pub compute_pj: f64,
    pub register_file_pj: f64,
    pub local_buffer_pj: f64,
    pub sram_pj: f64,
    /// The backing store: DRAM, or an MCU's flash.
    pub dram_pj: f64,
    /// Moving activations between units.
    pub transfer_pj: f64,
    /// Busy-time power no operation accounts for (a CPU's run power, an accelerator's control).
    pub overhead_pj: f64,
    /// Static power of every unit over the time.
    pub static_pj: f64,
}

impl EnergySplit {
    pub fn total_pj(&self) -> f64 {
        self.compute_pj + self.data_movement_pj() + self.overhead_pj + self.static_pj
    }

    /// Energy spent moving data: register file, local buffer, SRAM, DRAM, transfers.
    pub fn data_movement_pj(&self) -> f64 {
        self.register_file_pj
            + self.local_buffer_pj
            + self.sram_pj
            + self.dram_pj
            + self.transfer_pj
    }

    pub fn add(&mut self, o: &EnergySplit) {
        self.compute_pj += o.compute_pj;
        self.register_file_pj += o.register_file_pj;
        self.local_buffer_pj += o.local_buffer_pj;
        self.sram_pj += o.sram_pj;
        self.dram_pj += o.dram_pj;
        self.transfer_pj += o.transfer_pj;
        self.overhead_pj += o.overhead_pj;
        self.static_pj += o.static_pj;
    }
}

/// Bits moved at each level by one layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Traffic {
    pub register_file_bits: f64,
    pub local_buffer_bits: f64,
    /// Weight (and other parameter) bits read from, or staged into, SRAM.
    pub weight_sram_bits: f64,
    /// Weight (and other parameter) bits read from the backing store.
    pub weight_dram_bits: f64,
    /// Activation bits (inputs, outputs, partial sums) at SRAM.
    pub activation_sram_bits: f64,
    /// Activation bits spilled to the backing store.
    pub activation_dram_bits: f64,
    pub transfer_bits: f64,
}

/// Where a layer's weights are read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WeightHome {
    /// No weights.
    None,
    /// Resident in the unit's SRAM.
    Sram,
    /// Copied from the backing store into SRAM once per inference, then read there.
    Staged,
    /// Read from the backing store at every fetch.
    Dram,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerReport {
    pub name: String,
    pub op_type: String,
    pub fused: Vec<String>,
    pub unit: String,
    /// The precision the unit computes at (`int8`, `int4xint8`, `fp32`).
    pub precision: String,
    /// The precision the model asks for.
    pub required_precision: String,
    pub macs: u64,
    /// MACs computed after zero skipping.
    pub effective_macs: f64,
    pub weight_precision: Option<String>,
    pub weight_stored_bytes: f64,
    pub zero_weights: u64,
    pub weights_in: WeightHome,
    pub tiling: Option<Tiling>,
    pub traffic: Traffic,
    pub cycles: f64,
    pub latency_ms: f64,
    pub energy: EnergySplit,
    pub energy_uj: f64,
    pub fallback: bool,
}

/// A layer that did not run on the first unit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fallback {
    pub layer: String,
    pub op_type: String,
    pub precision: String,
    pub unit: String,
    pub reason: String,
}

/// Whether a unit's SRAM holds the weights it runs plus the peak activations.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Residency {
    pub unit: String,
    pub sram_capacity_bytes: f64,
    pub weight_bytes: f64,
    pub peak_activation_bytes: f64,
    pub fits: bool,
    pub weights_in: WeightHome,
    pub activations_in_dram: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// Average power at the rate is within the budget.
    Fits {
        margin_mw: f64,
    },
    OverBudget {
        excess_mw: f64,
    },
    /// One inference takes longer than the period: the rate cannot be sustained.
    CannotSustain {
        max_rate_hz: f64,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EnergyReport {
    pub profile: String,
    pub energy_per_inference_uj: f64,
    pub latency_ms: f64,
    pub rate_hz: Option<f64>,
    /// Average power at `rate_hz`, static and idle power included.
    pub power_mw: Option<f64>,
    pub budget_mw: Option<f64>,
    pub verdict: Option<Verdict>,
    pub split: EnergySplit,
    /// Share of dynamic energy (static and overhead excluded) spent moving data.
    pub data_movement_share: f64,
    pub macs: u64,
    pub weight_stored_bytes: f64,
    pub peak_activation_bytes: f64,
    pub residency: Vec<Residency>,
    pub layers: Vec<LayerReport>,
    pub fallbacks: Vec<Fallback>,
    pub notes: Vec<String>,
}

impl EnergyReport {
    /// `value` (an accuracy, say) per millijoule of one inference.
    pub fn per_mj(&self, value: f64) -> f64 {
        value / (self.energy_per_inference_uj * 1e-3)
    }

    /// The per-layer table and the totals, as printed by `milliwatt energy`.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<34} {:<6} {:<10} {:>9} {:>8} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "layer",
            "unit",
            "precision",
            "MACs",
            "w bytes",
            "w in",
            "cycles",
            "compute",
            "sram+rf",
            "dram",
            "other",
            "total µJ"
        );
        for l in &self.layers {
            let e = &l.energy;
            let local = e.register_file_pj + e.local_buffer_pj + e.sram_pj;
            let other = e.transfer_pj + e.overhead_pj + e.static_pj;
            let _ = writeln!(
                s,
                "{:<34} {:<6} {:<10} {:>9} {:>8.0} {:>6} {:>9.0} {:>9.4} {:>9.4} {:>9.4} {:>9.4} {:>9.4}{}",
                short(&l.name, 34),
                l.unit,
                l.precision,
                l.macs,
                l.weight_stored_bytes,
                home(l.weights_in),
                l.cycles,
                e.compute_pj * 1e-6,
                local * 1e-6,
                e.dram_pj * 1e-6,
                other * 1e-6,
                l.energy_uj,
                if l.fallback { "  (fallback)" } else { "" }
            );
        }
        let sp = &self.split;
        let _ = writeln!(
            s,
            "profile {}: {} MACs, {:.0} weight bytes, peak activations {:.0} bytes",
            self.profile, self.macs, self.weight_stored_bytes, self.peak_activation_bytes
        );
        let _ = writeln!(
            s,
            "energy per inference {:.3} µJ (compute {:.3}, register file {:.3}, local buffer {:.3}, SRAM {:.3}, DRAM {:.3}, transfers {:.3}, overhead {:.3}, static {:.3})",
            self.energy_per_inference_uj,
            sp.compute_pj * 1e-6,
            sp.register_file_pj * 1e-6,
            sp.local_buffer_pj * 1e-6,
            sp.sram_pj * 1e-6,
            sp.dram_pj * 1e-6,
            sp.transfer_pj * 1e-6,
            sp.overhead_pj * 1e-6,
            sp.static_pj * 1e-6
        );
        let _ = writeln!(
            s,
            "latency {:.4} ms; data movement {:.1} % of dynamic energy",
            self.latency_ms,
            100.0 * self.data_movement_share
        );
        if let (Some(rate), Some(p)) = (self.rate_hz, self.power_mw) {
            let _ = writeln!(s, "average power at {rate} inferences/s: {p:.4} mW");
        }
        if let (Some(b), Some(v)) = (self.budget_mw, &self.verdict) {
            let line = match v {
                Verdict::Fits { margin_mw } => {
                    format!("fits the {b} mW budget ({margin_mw:.4} mW to spare)")
                }
                Verdict::OverBudget { excess_mw } => {
                    format!("OVER the {b} mW budget by {excess_mw:.4} mW")
                }
                Verdict::CannotSustain { max_rate_hz } => {
                    format!("cannot sustain the rate: at most {max_rate_hz:.2} inferences/s")
                }
            };
            let _ = writeln!(s, "{line}");
        }
        for r in &self.residency {
            let _ = writeln!(
                s,
                "unit {}: weights {:.0} B + peak activations {:.0} B vs SRAM {:.0} B → weights in {}",
                r.unit, r.weight_bytes, r.peak_activation_bytes, r.sram_capacity_bytes, home(r.weights_in)
            );
        }
        for f in &self.fallbacks {
            let _ = writeln!(
                s,
                "fallback: {} ({} at {}) on {}: {}",
                f.layer, f.op_type, f.precision, f.unit, f.reason
            );
        }
        s
    }
}

fn home(h: WeightHome) -> &'static str {
    match h {
        WeightHome::None => "-",
        WeightHome::Sram => "sram",
        WeightHome::Staged => "staged",
        WeightHome::Dram => "dram",
    }
}

fn short(name: &str, n: usize) -> String {
    if name.chars().count() <= n {
        return name.to_string();
    }
    let tail: String = name
        .chars()
        .rev()
        .take(n - 1)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}
