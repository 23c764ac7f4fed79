//! The one table of shape cases that drives every low-bit kernel's test battery.
//!
//! Sizes cover 1, odd K (odd nibble counts, partial bytes of INT2 and binary rows), the tile edges
//! (`MR = 4`; `NR8 = 8`, K quads of 4 and the `i16` block of 32 for A8; `NR16 = 16`, K pairs for
//! A16) on both sides, the KWS DS-CNN layers and long reductions.

use crate::int8::conv::Conv2dParams;

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Case {
    Gemm { m: usize, n: usize, k: usize },
    Conv(Conv2dParams),
}

const fn gemm(m: usize, n: usize, k: usize) -> Case {
    Case::Gemm { m, n, k }
}

#[allow(clippy::too_many_arguments)]
const fn conv(
    batch: usize,
    c: usize,
    hw: [usize; 2],
    oc: usize,
    k: [usize; 2],
    stride: [usize; 2],
    dil: [usize; 2],
    pads: [usize; 4],
    groups: usize,
) -> Case {
    Case::Conv(Conv2dParams {
        batch,
        in_channels: c,
        in_hw: hw,
        out_channels: oc,
        kernel: k,
        stride,
        dilation: dil,
        pads,
        groups,
    })
}

const S1: [usize; 2] = [1, 1];

/// The table.
pub(crate) const CASES: &[Case] = &[
    // GEMM: unit, odd K (1, 3, 5, 7, 9 nibbles), quad and pair edges, tile edges, i16 block edges
    // (K = 31, 32, 33), KWS (first conv 64×125×40, pointwise 64×125×64, classifier 12×1×64),
    // long reductions, empty.
    gemm(1, 1, 1),
    gemm(1, 1, 2),
    gemm(1, 9, 3),
    gemm(3, 7, 5),
    gemm(4, 8, 4),
    gemm(4, 16, 8),
    gemm(5, 17, 7),
    gemm(7, 15, 9),
    gemm(8, 32, 31),
    gemm(9, 33, 32),
    gemm(3, 1, 33),
    gemm(12, 1, 64),
    gemm(64, 125, 40),
    gemm(64, 125, 64),
    gemm(13, 2, 255),
    gemm(2, 3, 4001),
    gemm(5, 18, 3001),
    gemm(0, 5, 3),
    gemm(3, 0, 3),
    gemm(3, 5, 0),
    // Convolutions: pointwise, general, strided, dilated, grouped, depthwise (incl. multiplier 2).
    conv(1, 1, [1, 1], 1, [1, 1], S1, S1, [0; 4], 1),
    conv(1, 3, [5, 7], 5, [1, 1], S1, S1, [0; 4], 1),
    conv(1, 3, [5, 7], 17, [3, 3], S1, S1, [1; 4], 1),
    conv(1, 2, [9, 6], 4, [3, 2], [2, 3], S1, [2, 0, 1, 1], 1),
    conv(1, 4, [7, 7], 6, [3, 3], [1, 2], S1, [0, 1, 2, 0], 2),
    conv(1, 6, [5, 9], 6, [3, 3], S1, S1, [1; 4], 6),
    conv(1, 5, [4, 3], 10, [3, 3], [2, 1], S1, [1, 2, 0, 1], 5),
    conv(1, 3, [1, 1], 3, [1, 1], S1, S1, [0; 4], 3),
    conv(2, 4, [8, 7], 4, [3, 3], [1, 2], [2, 2], [2, 1, 2, 3], 4),
    conv(2, 3, [6, 5], 7, [2, 3], S1, [2, 1], [1, 0, 0, 2], 1),
    // KWS DS-CNN: first conv, depthwise 3×3, pointwise 64→64.
    conv(1, 1, [49, 10], 64, [10, 4], [2, 2], S1, [4, 1, 5, 1], 1),
    conv(1, 64, [25, 5], 64, [3, 3], S1, S1, [1; 4], 64),
    conv(1, 64, [25, 5], 64, [1, 1], S1, S1, [0; 4], 1),
];

/// The GEMM cases as `(m, n, k)`.
pub(crate) fn gemm_cases() -> impl Iterator<Item = (usize, usize, usize)> {
    CASES.iter().filter_map(|c| match *c {
        Case::Gemm { m, n, k } => Some((m, n, k)),
        Case::Conv(_) => None,
    })
}

/// The convolution cases.
pub(crate) fn conv_cases() -> impl Iterator<Item = Conv2dParams> {
    CASES.iter().filter_map(|c| match *c {
        Case::Conv(p) => Some(p),
        Case::Gemm { .. } => None,
    })
}
