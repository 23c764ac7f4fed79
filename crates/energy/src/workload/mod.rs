//! What a model asks of hardware, layer by layer, as it is stored: MACs at their real bit widths,
//! weights as stored (bits per element, stored bits, zeros), activation traffic.
//!
//! [`ModelWorkload::from_graph`] derives it from an [`mw_ir::Graph`] — float, QDQ (int weights
//! behind `DequantizeLinear`, `QuantizeLinear`/`DequantizeLinear` around activations) or lowered
//! integer ops (`QLinearConv`, `MwQGemm`, ...). Later compression formats (packed sub-byte
//! weights, codebooks, entropy-coded streams) plug in by setting [`WeightTensor::stored_bits`]
//! (and `bits`) of the layers they change: the cost model reads only these fields.
mod extract;
mod trace;

use crate::precision::Precision;
use serde::Serialize;

/// A layer's weight tensor as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WeightTensor {
    /// The initializer holding the stored values.
    pub name: String,
    pub elements: u64,
    /// Precision of one weight as the arithmetic sees it (int8 for an int8 initializer behind a
    /// `DequantizeLinear`, fp32 for a float initializer).
    pub precision: Precision,
    /// Bits the tensor occupies in memory, exactly: `elements × bits` for plain types; packed
    /// sub-byte, codebook or entropy-coded formats set their true size here.
    pub stored_bits: u64,
    /// Weights equal to zero (a quantized weight equal to its zero point), skippable by units
    /// with zero skipping.
    pub zeros: u64,
}

impl WeightTensor {
    /// Fraction of weights that are not zero.
    pub fn density(&self) -> f64 {
        if self.elements == 0 {
            1.0
        } else {
            (self.elements - self.zeros.min(self.elements)) as f64 / self.elements as f64
        }
    }
}

/// A MAC layer as `groups` independent matrix products `[positions × reduction] ·
/// [reduction × channels]` (im2col view of a convolution; `groups = channels` of a depthwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct GemmShape {
    pub groups: u64,
    pub positions: u64,
    pub reduction: u64,
    pub channels: u64,
}

impl GemmShape {
    pub fn macs(&self) -> u64 {
        self.groups * self.positions * self.reduction * self.channels
    }
}

/// One activation read by a layer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ActivationInput {
    /// The value's name in the graph.
    pub name: String,
    /// Index of the producing layer; `None` for a graph input.
    pub from: Option<usize>,
    pub elements: u64,
    pub precision: Precision,
}

impl ActivationInput {
    pub fn bits(&self) -> u64 {
        self.elements * self.precision.bits() as u64
    }
}

/// One layer: an anchor node plus the nodes fused into it (activation, bias add, requantize).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerWorkload {
    /// The anchor node's name.
    pub name: String,
    /// The anchor node's op type.
    pub op_type: String,
    /// Op types fused into the layer, in order.
    pub fused: Vec<String>,
    /// Dense multiply-accumulates (zero weights included).
    pub macs: u64,
    pub gemm: Option<GemmShape>,
    pub weights: Option<WeightTensor>,
    /// Other constants read (biases, scales, zero points), stored bits.
    pub param_bits: u64,
    /// Non-MAC arithmetic operations (activations, pooling sums, softmax, float quantize).
    pub elementwise_ops: u64,
    /// Output elements requantized by a fixed-point multiplier (integer layers).
    pub requant_ops: u64,
    pub inputs: Vec<ActivationInput>,
    /// Precision of the activations the layer computes on (the join of its inputs').
    pub activation_precision: Precision,
    pub output_name: String,
    pub output_elements: u64,
    pub output_precision: Precision,
}

impl LayerWorkload {
    pub fn is_mac(&self) -> bool {
        self.macs > 0
    }

    /// Precision the layer's arithmetic needs (weights joined with activations for MAC layers).
    pub fn required_precision(&self) -> Precision {
        match &self.weights {
            Some(w) if self.is_mac() => w.precision.join(self.activation_precision),
            _ => self.activation_precision,
        }
    }

    pub fn input_bits(&self) -> u64 {
        self.inputs.iter().map(ActivationInput::bits).sum()
    }

    pub fn output_bits(&self) -> u64 {
        self.output_elements * self.output_precision.bits() as u64
    }

    /// MACs left after skipping zero weights.
    pub fn nonzero_macs(&self) -> f64 {
        let density = self.weights.as_ref().map_or(1.0, WeightTensor::density);
        self.macs as f64 * density
    }
}

/// A whole model's workload.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelWorkload {
    pub layers: Vec<LayerWorkload>,
    /// Largest total of activations alive at once (bits), over the layer sequence.
    pub peak_activation_bits: u64,
}

impl ModelWorkload {
    pub fn weight_stored_bits(&self) -> u64 {
        self.layers
            .iter()
            .filter_map(|l| l.weights.as_ref().map(|w| w.stored_bits))
            .sum()
    }

    pub fn param_bits(&self) -> u64 {
        self.layers.iter().map(|l| l.param_bits).sum()
    }

    pub fn macs(&self) -> u64 {
        self.layers.iter().map(|l| l.macs).sum()
    }

    /// Recomputes [`Self::peak_activation_bits`] after layers' precisions changed.
    pub fn refresh_peak(&mut self) {
        self.peak_activation_bits = extract::peak_activation_bits(&self.layers);
    }
}
