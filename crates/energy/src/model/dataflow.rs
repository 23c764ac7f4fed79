//! Tiling of a grouped GEMM on an `R × C` MAC array under each dataflow, and the operand
//! fetches that follow. Counts are in elements; the caller turns them into bits.
//!
//! With `G` groups of `[P × K] · [K × N]`, `t(x, y) = ceil(x / y)`:
//!
//! | | weight-stationary (R ↔ K, C ↔ N) | output-stationary (R ↔ P, C ↔ N) | no local reuse |
//! |---|---|---|---|
//! | groups side by side `g` | `min(G, R/K, C/N)` if `K ≤ R`, `N ≤ C`, else 1 | `min(G, C/N)` if `N ≤ C`, else 1 | – |
//! | passes | `t(G,g)·t(K,R)·t(N,C)` | `t(G,g)·t(P,R)·t(N,C)` | – |
//! | ideal cycles | `passes · P` | `passes · K` | `t(GPKN, R·C)` |
//! | weight fetches (whole tensor) | 1 | `t(P,R)` | `P` (one per MAC) |
//! | input fetches (whole tensor) | `t(N,C)` | `t(N,C)` | `K·N` per input element (one per MAC) |
//! | window (im2col) reads | `G·P·K·t(N,C)` | `G·P·K·t(N,C)` | – |
//! | partial sums moved | `2·O·(t(K,R) − 1)` | 0 | 0 |
//! | partial-sum tile | `P · min(N·g, C)` | – | – |
//!
//! Window reads come from the local buffer when the unit has one, else from the SRAM in place
//! of the input fetches. Partial sums stay in the local buffer when their tile fits it, else they
//! go through the SRAM.
use crate::profile::Dataflow;
use crate::workload::GemmShape;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tiling {
    pub dataflow: Dataflow,
    /// Groups mapped side by side onto the array in one pass.
    pub groups_per_pass: u64,
    /// Array loads (weight tiles for weight-stationary, output tiles for output-stationary).
    pub passes: u64,
    /// Cycles at full throughput with one MAC per PE per cycle, before zero skipping.
    pub ideal_cycles: f64,
    /// Times the whole weight tensor is read (the refetch count).
    pub weight_fetches: f64,
    /// Times each input element is read from SRAM (unique-input basis); for no-local-reuse, the
    /// reads per input element implied by one read per MAC.
    pub input_fetches: f64,
    /// Input elements read through the window (im2col) path.
    pub window_reads: f64,
    /// Partial-sum elements written and read back between reduction tiles.
    pub psum_moves: f64,
    /// Partial sums alive while the reduction tiles of one output tile go by (weight-stationary:
    /// positions × columns in use); they stay in the local buffer when it holds them.
    pub psum_tile: f64,
    /// MACs over (ideal cycles × PEs): how much of the array the mapping keeps busy.
    pub spatial_utilization: f64,
}

fn ceil_div(a: u64, b: u64) -> u64 {
    a.div_ceil(b.max(1))
}

/// Tiling of `g` on `rows × cols` PEs; `inputs` is the layer's unique input elements and
/// `outputs` its output elements.
pub fn tile(
    g: &GemmShape,
    rows: u64,
    cols: u64,
    dataflow: Dataflow,
    inputs: u64,
    outputs: u64,
) -> Tiling {
    let (gr, p, k, n) = (g.groups, g.positions, g.reduction, g.channels);
    let macs = g.macs() as f64;
    let pes = (rows * cols) as f64;
    let (
        groups_per_pass,
        passes,
        ideal_cycles,
        weight_fetches,
        input_fetches,
        window,
        psum,
        psum_tile,
    ) = match dataflow {
        Dataflow::WeightStationary => {
            let pack = if k <= rows && n <= cols {
                gr.min(rows / k.max(1)).min(cols / n.max(1)).max(1)
            } else {
                1
            };
            let (tk, tn) = (ceil_div(k, rows), ceil_div(n, cols));
            let passes = ceil_div(gr, pack) * tk * tn;
            let window = (gr * p * k * tn) as f64;
            let psum = 2.0 * outputs as f64 * (tk - 1) as f64;
            let tile = (p * (n * pack).min(cols)) as f64;
            (
                pack,
                passes,
                (passes * p) as f64,
                1.0,
                tn as f64,
                window,
                psum,
                tile,
            )
        }
        Dataflow::OutputStationary => {
            let pack = if n <= cols {
                gr.min(cols / n.max(1)).max(1)
            } else {
                1
            };
            let (tp, tn) = (ceil_div(p, rows), ceil_div(n, cols));
            let passes = ceil_div(gr, pack) * tp * tn;
            let window = (gr * p * k * tn) as f64;
            (
                pack,
                passes,
                (passes * k) as f64,
                tp as f64,
                tn as f64,
                window,
                0.0,
                0.0,
            )
        }
        Dataflow::NoLocalReuse => {
            let cycles = ceil_div(g.macs(), rows * cols) as f64;
            let per_input = if inputs == 0 {
                0.0
            } else {
                macs / inputs as f64
            };
            (1, 1, cycles, p as f64, per_input, 0.0, 0.0, 0.0)
        }
    };
    Tiling {
        dataflow,
        groups_per_pass,
        passes,
        ideal_cycles,
        weight_fetches,
        input_fetches,
        window_reads: window,
        psum_moves: psum,
        psum_tile,
        spatial_utilization: if ideal_cycles > 0.0 {
            macs / (ideal_cycles * pes)
        } else {
            0.0
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(groups: u64, positions: u64, reduction: u64, channels: u64) -> GemmShape {
        GemmShape {
            groups,
            positions,
            reduction,
            channels,
        }
    }

    #[test]
    fn weight_stationary_pointwise_tiles_by_reduction_and_channels() {
        // 1x1 conv 64 -> 64 over 125 positions on a 12 x 14 array.
        let t = tile(
            &g(1, 125, 64, 64),
            12,
            14,
            Dataflow::WeightStationary,
            8000,
            8000,
        );
        assert_eq!(t.passes, 6 * 5);
        assert_eq!(t.ideal_cycles, 30.0 * 125.0);
        assert_eq!(t.weight_fetches, 1.0);
        assert_eq!(t.input_fetches, 5.0);
        assert_eq!(t.psum_moves, 2.0 * 8000.0 * 5.0);
    }

    #[test]
    fn weight_stationary_packs_depthwise_groups() {
        // 3x3 depthwise, 64 channels: K = 9 fits 12 rows once; 14 columns → 1 group per pass.
        let t = tile(
            &g(64, 125, 9, 1),
            12,
            14,
            Dataflow::WeightStationary,
            8000,
            8000,
        );
        assert_eq!(t.groups_per_pass, 1);
        assert_eq!(t.passes, 64);
        // 16 x 16: 1 group (16 / 9 = 1 row block).
        let t = tile(
            &g(64, 125, 4, 1),
            16,
            16,
            Dataflow::WeightStationary,
            8000,
            8000,
        );
        assert_eq!(t.groups_per_pass, 4);
        assert_eq!(t.passes, 16);
    }

    #[test]
    fn output_stationary_refetches_weights_per_position_tile() {
        let t = tile(
            &g(1, 125, 64, 64),
            16,
            16,
            Dataflow::OutputStationary,
            8000,
            8000,
        );
        assert_eq!(t.weight_fetches, 8.0);
        assert_eq!(t.passes, 8 * 4);
        assert_eq!(t.ideal_cycles, 32.0 * 64.0);
        assert_eq!(t.psum_moves, 0.0);
    }

    #[test]
    fn no_local_reuse_reads_operands_per_mac() {
        let t = tile(&g(1, 10, 3, 4), 1, 2, Dataflow::NoLocalReuse, 30, 40);
        assert_eq!(t.ideal_cycles, 60.0);
        assert_eq!(t.weight_fetches, 10.0);
        assert_eq!(t.input_fetches * 30.0, 120.0);
    }
}
