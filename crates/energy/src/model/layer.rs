//! Cost of one layer on one unit. Every quantity is a product of a workload count and a profile
//! figure, so a test can recompute it by hand:
//!
//! * compute = effective MACs × (mult(w, a) + add(accumulator)) + elementwise × add(datapath)
//!   + requantizations × (mult(int32) + 2 · add(int32));
//! * register file = effective MACs × (w + a + accumulator bits) × RF pJ/bit;
//! * weights: stored bits × weight fetches (+ other parameters once), at SRAM or backing pJ/bit
//!   according to where they live (staged: backing once, SRAM write once, SRAM reads);
//! * activations: input bits × input fetches + output bits at SRAM pJ/bit (backing when
//!   activations spill); window reads at local-buffer pJ/bit; partial sums (accumulator bits) at
//!   the local buffer when their tile fits it, else at the SRAM;
//! * compute cycles = the array's tiled cycles / (MACs per PE per cycle × utilization), or the
//!   elementwise cycles if more; on a unit with a software kernel, effective MACs ×
//!   cycles_per_mac + outputs × cycles_per_output + cycles_per_layer for a MAC layer, and
//!   elementwise cycles + cycles_per_layer for any other;
//! * time = max(compute cycles, SRAM cycles) / clock, or the backing-store time if longer,
//!   plus transfers; static = Σ units' static power × time; overhead = active power × time.
use super::dataflow::{tile, Tiling};
use crate::precision::Precision;
use crate::profile::{ArithOp, BackingStore, Dataflow, LayerKind, Profile, SoftwareKernel, Unit};
use crate::report::{EnergySplit, LayerReport, Traffic, WeightHome};
use crate::workload::{LayerWorkload, ModelWorkload};

/// What the evaluation decided around a layer before costing it.
pub(super) struct Context<'a> {
    pub profile: &'a Profile,
    pub unit: &'a Unit,
    pub weights_in: WeightHome,
    pub activations_in_dram: bool,
    /// Bits of inputs that arrive from another unit, with the transfer's pJ/byte and MB/s.
    pub transfers: Vec<(f64, f64, f64)>,
    pub static_mw: f64,
    pub fallback: bool,
}

/// Precisions the unit executes a layer at.
struct Executed {
    weight: Precision,
    activation: Precision,
    /// MACs per PE per cycle at that precision.
    lanes: f64,
    mult_pj: f64,
    add_pj: f64,
    acc_bits: f64,
}

fn arith(unit: &Unit, op: ArithOp, p: Precision) -> f64 {
    unit.arith.energy(op, p).unwrap_or(0.0)
}

fn executed(l: &LayerWorkload, unit: &Unit) -> Option<Executed> {
    let a = l.activation_precision;
    let w = l.weights.as_ref().map_or(a, |w| w.precision);
    let acc = unit.mac_array.accumulator_bits.value;
    if w.is_float() || a.is_float() {
        let (p, lanes) = unit.mac_precision(w.join(a))?;
        return Some(Executed {
            weight: p,
            activation: p,
            lanes,
            mult_pj: arith(unit, ArithOp::Mult, p),
            add_pj: arith(unit, ArithOp::Add, p),
            acc_bits: p.bits() as f64,
        });
    }
    let (we, _) = unit.mac_precision(w)?;
    let (ae, _) = unit.mac_precision(a)?;
    let (_, lanes) = unit.mac_precision(we.join(ae))?;
    Some(Executed {
        weight: we,
        activation: ae,
        lanes,
        mult_pj: unit.arith.mult_energy(we, ae).unwrap_or(0.0),
        add_pj: arith(unit, ArithOp::Add, Precision::Int(acc as u32)),
        acc_bits: acc,
    })
}

fn precision_label(e: &Executed) -> String {
    if e.weight == e.activation {
        e.weight.to_string()
    } else {
        format!("{}x{}", e.weight, e.activation)
    }
}

/// Operand traffic of a layer, before deciding where it lives.
#[derive(Default)]
struct Moves {
    weight_read_bits: f64,
    weight_once_bits: f64,
    activation_bits: f64,
    local_buffer_bits: f64,
    rf_bits: f64,
}

pub(super) fn cost(l: &LayerWorkload, ctx: &Context) -> LayerReport {
    let unit = ctx.unit;
    let dp = unit
        .datapath_precision(l.activation_precision)
        .unwrap_or(l.activation_precision);
    let exec = if l.is_mac() { executed(l, unit) } else { None };
    let skip = unit.zero_skipping && l.is_mac();
    let density = if skip {
        l.weights.as_ref().map_or(1.0, |w| w.density())
    } else {
        1.0
    };
    let effective_macs = l.macs as f64 * density;
    let (rows, cols) = (
        unit.mac_array.rows.value as u64,
        unit.mac_array.cols.value as u64,
    );
    let tiling = match (&exec, l.gemm) {
        (Some(_), Some(g)) => {
            let inputs = l.inputs.first().map_or(0, |i| i.elements);
            Some(tile(
                &g,
                rows,
                cols,
                unit.mac_array.dataflow,
                inputs,
                l.output_elements,
            ))
        }
        _ => None,
    };
    let moves = moves(
        l,
        unit,
        exec.as_ref(),
        tiling.as_ref(),
        density,
        effective_macs,
    );

    let mut compute = l.elementwise_ops as f64 * arith(unit, ArithOp::Add, dp)
        + l.requant_ops as f64
            * (arith(unit, ArithOp::Mult, Precision::Int(32))
                + 2.0 * arith(unit, ArithOp::Add, Precision::Int(32)));
    if let Some(e) = &exec {
        compute += effective_macs * (e.mult_pj + e.add_pj);
    }

    let mem = &unit.memory;
    let sram_bit = mem.sram.pj_per_bit();
    let backing_bit = ctx
        .profile
        .backing
        .as_ref()
        .map_or(0.0, |b: &BackingStore| b.energy_pj_per_bit.value);
    let mut traffic = Traffic {
        register_file_bits: moves.rf_bits,
        local_buffer_bits: moves.local_buffer_bits,
        ..Traffic::default()
    };
    match ctx.weights_in {
        WeightHome::None | WeightHome::Sram => {
            traffic.weight_sram_bits = moves.weight_read_bits + moves.weight_once_bits
        }
        WeightHome::Dram => {
            traffic.weight_dram_bits = moves.weight_read_bits + moves.weight_once_bits
        }
        WeightHome::Staged => {
            let staged =
                l.weights.as_ref().map_or(0.0, |w| w.stored_bits as f64) + moves.weight_once_bits;
            traffic.weight_dram_bits = staged;
            traffic.weight_sram_bits = staged + moves.weight_read_bits;
        }
    }
    if ctx.activations_in_dram {
        traffic.activation_dram_bits = moves.activation_bits;
    } else {
        traffic.activation_sram_bits = moves.activation_bits;
    }
    traffic.transfer_bits = ctx.transfers.iter().fold(0.0, |a, t| a + t.0);

    let mut energy = EnergySplit {
        compute_pj: compute,
        register_file_pj: traffic.register_file_bits * mem.register_file.pj_per_bit(),
        local_buffer_pj: traffic.local_buffer_bits
            * mem.local_buffer.as_ref().map_or(0.0, |b| b.pj_per_bit()),
        sram_pj: (traffic.weight_sram_bits + traffic.activation_sram_bits) * sram_bit,
        dram_pj: (traffic.weight_dram_bits + traffic.activation_dram_bits) * backing_bit,
        transfer_pj: ctx
            .transfers
            .iter()
            .fold(0.0, |a, (bits, pj_byte, _)| a + bits / 8.0 * pj_byte),
        ..EnergySplit::default()
    };

    // Time.
    let clock = unit.clock_hz();
    let ew_cycles =
        (l.elementwise_ops + l.requant_ops) as f64 / unit.elementwise_ops_per_cycle.value;
    let mac_cycles = match (&exec, &tiling) {
        (Some(e), Some(t)) => {
            t.ideal_cycles * density / (e.lanes * unit.mac_array.utilization.value)
        }
        _ => 0.0,
    };
    let busy = match &unit.software_kernel {
        Some(k) => software_cycles(l, k, exec.is_some(), effective_macs, ew_cycles),
        None => mac_cycles.max(ew_cycles),
    };
    let sram_cycles = (traffic.weight_sram_bits + traffic.activation_sram_bits)
        / mem.sram.bandwidth_bits_per_cycle.value;
    let backing_s = ctx.profile.backing.as_ref().map_or(0.0, |b| {
        (traffic.weight_dram_bits + traffic.activation_dram_bits)
            / 8.0
            / (b.bandwidth_mb_s.value * 1e6)
    });
    let transfer_s = ctx
        .transfers
        .iter()
        .fold(0.0, |a, (bits, _, mb_s)| a + bits / 8.0 / (mb_s * 1e6));
    let seconds = (busy.max(sram_cycles) / clock).max(backing_s) + transfer_s;
    energy.overhead_pj = unit.active_power_mw.as_ref().map_or(0.0, |p| p.value) * seconds * 1e9;
    energy.static_pj = ctx.static_mw * seconds * 1e9;

    LayerReport {
        name: l.name.clone(),
        op_type: l.op_type.clone(),
        fused: l.fused.clone(),
        unit: unit.name.clone(),
        precision: exec.as_ref().map_or(dp.to_string(), precision_label),
        required_precision: l.required_precision().to_string(),
        macs: l.macs,
        effective_macs,
        weight_precision: l.weights.as_ref().map(|w| w.precision.to_string()),
        weight_stored_bytes: l
            .weights
            .as_ref()
            .map_or(0.0, |w| w.stored_bits as f64 / 8.0),
        zero_weights: l.weights.as_ref().map_or(0, |w| w.zeros),
        weights_in: if l.weights.is_some() || l.param_bits > 0 {
            ctx.weights_in
        } else {
            WeightHome::None
        },
        tiling,
        traffic,
        cycles: seconds * clock,
        latency_ms: seconds * 1e3,
        energy_uj: energy.total_pj() * 1e-6,
        energy,
        fallback: ctx.fallback,
    }
}

/// Cycles of a layer run as a software kernel (see the module doc).
fn software_cycles(
    l: &LayerWorkload,
    k: &SoftwareKernel,
    mac_layer: bool,
    effective_macs: f64,
    ew_cycles: f64,
) -> f64 {
    let per_layer = k.cycles_per_layer.value;
    if mac_layer {
        let kind = layer_kind(l);
        let (per_mac, per_output) = k
            .by_kind
            .iter()
            .find(|b| Some(b.kind) == kind)
            .map_or((&k.cycles_per_mac, &k.cycles_per_output), |b| {
                (&b.cycles_per_mac, &b.cycles_per_output)
            });
        effective_macs * per_mac.value + l.output_elements as f64 * per_output.value + per_layer
    } else {
        ew_cycles + per_layer
    }
}

/// The kind of a MAC layer as a kernel library dispatches it (see [`LayerKind`]); `None` for a
/// MAC layer without a grouped-GEMM shape.
pub fn layer_kind(l: &LayerWorkload) -> Option<LayerKind> {
    let g = l.gemm?;
    let conv = matches!(
        l.op_type.as_str(),
        "Conv" | "ConvInteger" | "QLinearConv" | "MwQConv"
    );
    if !conv {
        return Some(LayerKind::Fc);
    }
    if g.groups > 1 {
        return Some(LayerKind::Depthwise);
    }
    // 1x1, stride 1, no padding: the input is the [positions x reduction] matrix itself.
    let input = l.inputs.first().map_or(0, |i| i.elements);
    if g.positions * g.reduction == input && g.reduction % 4 == 0 {
        Some(LayerKind::Pointwise)
    } else {
        Some(LayerKind::Conv)
    }
}

fn moves(
    l: &LayerWorkload,
    unit: &Unit,
    exec: Option<&Executed>,
    tiling: Option<&Tiling>,
    density: f64,
    effective_macs: f64,
) -> Moves {
    let a_bits = l.activation_precision.bits() as f64;
    let mut m = Moves {
        weight_once_bits: l.param_bits as f64,
        ..Moves::default()
    };
    let outputs = l.output_bits() as f64;
    let (Some(e), Some(t)) = (exec, tiling) else {
        m.activation_bits = l.input_bits() as f64 + outputs;
        if l.is_mac() {
            m.weight_read_bits = l.weights.as_ref().map_or(0.0, |w| w.stored_bits as f64);
        }
        return m;
    };
    let stored = l.weights.as_ref().map_or(0.0, |w| w.stored_bits as f64);
    let main_input = l.inputs.first().map_or(0.0, |i| i.bits() as f64);
    let other_inputs = l.input_bits() as f64 - main_input;
    let psum = t.psum_moves * e.acc_bits;
    let (weight_reads, input_reads) = match t.dataflow {
        // One read per MAC actually computed.
        Dataflow::NoLocalReuse => (
            stored * t.weight_fetches * density,
            main_input * t.input_fetches * density,
        ),
        _ => (stored * t.weight_fetches, main_input * t.input_fetches),
    };
    m.weight_read_bits = weight_reads;
    match (&unit.memory.local_buffer, t.dataflow) {
        (Some(lb), Dataflow::WeightStationary | Dataflow::OutputStationary) => {
            let psum_local = t.psum_tile * e.acc_bits <= lb.capacity_bytes.value * 8.0;
            let (psum_lb, psum_sram) = if psum_local { (psum, 0.0) } else { (0.0, psum) };
            m.activation_bits = input_reads + other_inputs + psum_sram + outputs;
            m.local_buffer_bits = t.window_reads * a_bits + psum_lb;
        }
        (None, Dataflow::WeightStationary | Dataflow::OutputStationary) => {
            m.activation_bits = t.window_reads * a_bits + other_inputs + psum + outputs;
        }
        (_, Dataflow::NoLocalReuse) => m.activation_bits = input_reads + other_inputs + outputs,
    }
    m.rf_bits = effective_macs * (e.weight.bits() as f64 + e.activation.bits() as f64 + e.acc_bits);
    m
}

/// Total stored bits of the weights and parameters of `layers` (for residency checks).
pub(super) fn parameter_bits(w: &ModelWorkload, on: impl Fn(usize) -> bool) -> f64 {
    w.layers
        .iter()
        .enumerate()
        .filter(|(i, _)| on(*i))
        .map(|(_, l)| l.weights.as_ref().map_or(0, |w| w.stored_bits) + l.param_bits)
        .sum::<u64>() as f64
}
