//! The TOML schema of a hardware profile. Every number a model reads is a [`Figure`] (value plus
//! source); widths of operations are [`WidthFigure`]s. See the built-in files in `profiles/`.
use crate::figure::{Figure, WidthFigure};
use crate::precision::Precision;
use serde::{Deserialize, Serialize};

/// A device: one or more compute units, their memories, a backing store and transfer costs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    pub description: String,
    /// Free-text caveats shown with results (what the profile does not model, what is assumed).
    #[serde(default)]
    pub notes: Vec<String>,
    /// Off-chip DRAM, or the on-chip flash an MCU executes weights from. Absent: everything must
    /// fit the units' SRAMs.
    #[serde(default)]
    pub backing: Option<BackingStore>,
    /// In placement order: each op runs on the first unit that supports it at its precision.
    pub units: Vec<Unit>,
    /// Cost of moving activations between two units (either direction).
    #[serde(default)]
    pub transfers: Vec<Transfer>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackingKind {
    Dram,
    Flash,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackingStore {
    pub kind: BackingKind,
    pub energy_pj_per_bit: Figure,
    /// Sustained read bandwidth, MB/s (10^6 bytes per second).
    pub bandwidth_mb_s: Figure,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnitKind {
    Npu,
    Dsp,
    Cpu,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unit {
    pub name: String,
    pub kind: UnitKind,
    pub clock_mhz: Figure,
    /// Power drawn while the device runs an inference whatever this unit does (leakage, clocks
    /// of a powered but waiting unit).
    pub static_power_mw: Figure,
    /// Power between inferences (sleep with memories retained).
    pub idle_power_mw: Figure,
    /// Power while this unit is busy that no per-operation figure accounts for (instruction fetch
    /// and decode, pipeline, clock tree, control): a CPU's run power, or an accelerator's power
    /// beyond its per-operation energies. Absent: zero.
    #[serde(default)]
    pub active_power_mw: Option<Figure>,
    /// Op types (as in the graph: `Conv`, `QLinearConv`, `MwQAvgPool`...) this unit runs; `"*"`
    /// means all.
    pub ops: Vec<String>,
    /// Precisions the unit's datapath handles for non-MAC operations.
    pub precisions: Vec<Precision>,
    /// Multiplications by a zero weight are skipped (energy and cycles).
    #[serde(default)]
    pub zero_skipping: bool,
    /// Weights are always read from the backing store (an MCU executing in place from flash).
    #[serde(default)]
    pub weights_in_backing: bool,
    /// Non-MAC operations (adds, compares, requantizations) per cycle.
    pub elementwise_ops_per_cycle: Figure,
    /// The unit runs layers as software kernels on a processor: their time follows the kernel
    /// library's cycles per MAC, per output and per layer instead of the MAC array's tiling.
    /// Absent: the MAC array's dataflow sets the time.
    #[serde(default)]
    pub software_kernel: Option<SoftwareKernel>,
    pub mac_array: MacArray,
    pub arith: Arith,
    pub memory: Memory,
}

/// The cost in cycles of a kernel library (TFLM reference kernels, CMSIS-NN...) on a processor.
/// A MAC layer takes `effective MACs × cycles_per_mac + outputs × cycles_per_output +
/// cycles_per_layer` cycles; any other layer its elementwise cycles plus `cycles_per_layer`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoftwareKernel {
    /// Which library and build the figures describe (e.g. "TFLM 2.3.1 reference, GCC -O2").
    pub library: String,
    /// Cycles of the innermost loop per multiply-accumulate (loads, index arithmetic, bounds
    /// checks, the MAC, loop control).
    pub cycles_per_mac: Figure,
    /// Cycles per output element outside the innermost loop (bias, requantization, clamp,
    /// store, outer-loop control).
    pub cycles_per_output: Figure,
    /// Cycles per layer invocation (interpreter dispatch, parameter setup).
    pub cycles_per_layer: Figure,
    /// Figures of the kernel a library dispatches one kind of MAC layer to (CMSIS-NN has one
    /// kernel per kind); a MAC layer whose kind is not listed uses the figures above.
    #[serde(default)]
    pub by_kind: Vec<KindKernel>,
}

/// A MAC layer's kind, as kernel libraries dispatch them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayerKind {
    /// A convolution that is none of the kinds below (im2col + matrix product).
    Conv,
    /// A grouped convolution with one group per input channel.
    Depthwise,
    /// A 1x1, stride-1, unpadded convolution whose reduction is a multiple of 4 (CMSIS-NN's
    /// `arm_convolve_1x1_s8_fast` condition): its input is already the im2col matrix.
    Pointwise,
    /// A matrix product (Gemm, MatMul and their quantized forms).
    Fc,
}

/// Cycles of the kernel one [`LayerKind`] runs on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindKernel {
    pub kind: LayerKind,
    /// As [`SoftwareKernel::cycles_per_mac`], for this kind's kernel.
    pub cycles_per_mac: Figure,
    /// As [`SoftwareKernel::cycles_per_output`], for this kind's kernel.
    pub cycles_per_output: Figure,
}

/// Dataflow of the MAC array (Chen, Emer, Sze, ISCA 2016 taxonomy).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dataflow {
    /// Weights stay in the PEs; inputs stream past; partial sums move.
    WeightStationary,
    /// Each PE accumulates one output; weights and inputs stream.
    OutputStationary,
    /// No reuse in the PEs: every MAC reads its operands from the SRAM.
    NoLocalReuse,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MacArray {
    /// Rows: the reduction dimension (weight-stationary) or output positions (output-stationary).
    pub rows: Figure,
    /// Columns: output channels.
    pub cols: Figure,
    pub dataflow: Dataflow,
    /// Width of integer accumulators (the add of an integer MAC is at this width).
    pub accumulator_bits: Figure,
    /// Fraction of peak throughput the unit's kernels reach on MAC layers, in (0, 1].
    pub utilization: Figure,
    /// Precisions the array multiplies at, with MACs per PE per cycle at each.
    pub throughput: Vec<MacThroughput>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MacThroughput {
    pub precision: Precision,
    pub macs_per_pe_per_cycle: Figure,
}

/// Energy of one add or multiply by precision. Widths not listed follow `scaling` from the nearest
/// listed width of the same kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arith {
    pub scaling: Scaling,
    pub int_add: Vec<WidthFigure>,
    pub int_mult: Vec<WidthFigure>,
    #[serde(default)]
    pub fp_add: Vec<WidthFigure>,
    #[serde(default)]
    pub fp_mult: Vec<WidthFigure>,
}

/// The rule for widths a table does not list: `E(b) = E(w) · (b / w)^exponent` from the nearest
/// listed width `w`. A multiply of two different integer widths costs the geometric mean of the
/// two square multiplies (so `∝ a·b` when the exponent is 2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scaling {
    pub add_exponent: f64,
    pub mult_exponent: f64,
    pub rule: String,
    pub source: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Memory {
    pub register_file: MemLevel,
    /// A buffer between SRAM and the PEs serving window reuse (im2col) of inputs.
    #[serde(default)]
    pub local_buffer: Option<MemLevel>,
    pub sram: Sram,
}

/// One memory level: `energy_pj` is the energy of one access of `access_bits` bits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemLevel {
    pub capacity_bytes: Figure,
    pub access_bits: u32,
    pub energy_pj: Figure,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sram {
    pub capacity_bytes: Figure,
    pub access_bits: u32,
    pub energy_pj: Figure,
    pub bandwidth_bits_per_cycle: Figure,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    pub from: String,
    pub to: String,
    pub energy_pj_per_byte: Figure,
    pub bandwidth_mb_s: Figure,
}
