//! The one table of shape cases that drives every int8 kernel's test battery (XNNPACK-style).
//!
//! Each kernel's tests run their kind of case through both the reference and the optimized kernel
//! and print the case (dims, tile, scale, zero point) on failure. Sizes cover 1, odd sizes, the
//! GEMM tile edges (`MR = 4`, `NR = 16`, K pairs of 2) on both sides, the KWS DS-CNN layers and long
//! reductions.

/// Dimensions of a 2-D NCHW convolution case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConvCase {
    pub batch: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub oc: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    pub dil: [usize; 2],
    /// Top, left, bottom, right (ONNX order).
    pub pads: [usize; 4],
    pub groups: usize,
}

/// Dimensions of a 2-D NCHW pooling case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PoolCase {
    pub batch: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    pub dil: [usize; 2],
    pub pads: [usize; 4],
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Case {
    Gemm { m: usize, n: usize, k: usize },
    Conv(ConvCase),
    Pool(PoolCase),
    Elementwise { len: usize },
}

const fn conv_case(
    c: usize,
    hw: [usize; 2],
    oc: usize,
    k: [usize; 2],
    stride: [usize; 2],
    pads: [usize; 4],
    groups: usize,
) -> Case {
    Case::Conv(ConvCase {
        batch: 1,
        c,
        h: hw[0],
        w: hw[1],
        oc,
        kh: k[0],
        kw: k[1],
        stride,
        dil: [1, 1],
        pads,
        groups,
    })
}

const fn pool_case(
    c: usize,
    hw: [usize; 2],
    k: [usize; 2],
    stride: [usize; 2],
    pads: [usize; 4],
) -> Case {
    Case::Pool(PoolCase {
        batch: 1,
        c,
        h: hw[0],
        w: hw[1],
        kh: k[0],
        kw: k[1],
        stride,
        dil: [1, 1],
        pads,
    })
}

/// The table.
pub(crate) const CASES: &[Case] = &[
    // GEMM: unit, odd, tile edges (MR=4, NR=16, K pairs), KWS, long reductions.
    Case::Gemm { m: 1, n: 1, k: 1 },
    Case::Gemm { m: 1, n: 1, k: 2 },
    Case::Gemm { m: 1, n: 17, k: 3 },
    Case::Gemm { m: 3, n: 15, k: 5 },
    Case::Gemm { m: 4, n: 16, k: 2 },
    Case::Gemm { m: 5, n: 17, k: 7 },
    Case::Gemm { m: 7, n: 31, k: 8 },
    Case::Gemm { m: 8, n: 32, k: 9 },
    Case::Gemm { m: 9, n: 33, k: 1 },
    Case::Gemm { m: 12, n: 1, k: 64 },
    Case::Gemm {
        m: 64,
        n: 125,
        k: 64,
    },
    Case::Gemm {
        m: 13,
        n: 2,
        k: 255,
    },
    Case::Gemm {
        m: 64,
        n: 125,
        k: 40,
    },
    Case::Gemm {
        m: 2,
        n: 3,
        k: 4000,
    },
    Case::Gemm {
        m: 5,
        n: 18,
        k: 3001,
    },
    Case::Gemm { m: 0, n: 5, k: 3 },
    Case::Gemm { m: 3, n: 0, k: 3 },
    Case::Gemm { m: 3, n: 5, k: 0 },
    // Convolutions: pointwise, general, strided, dilated, grouped, depthwise (incl. multiplier 2).
    conv_case(1, [1, 1], 1, [1, 1], [1, 1], [0; 4], 1),
    conv_case(3, [5, 7], 5, [1, 1], [1, 1], [0; 4], 1),
    conv_case(3, [5, 7], 17, [3, 3], [1, 1], [1; 4], 1),
    conv_case(2, [9, 6], 4, [3, 2], [2, 3], [2, 0, 1, 1], 1),
    conv_case(4, [7, 7], 6, [3, 3], [1, 2], [0, 1, 2, 0], 2),
    conv_case(6, [5, 9], 6, [3, 3], [1, 1], [1; 4], 6),
    conv_case(5, [4, 3], 10, [3, 3], [2, 1], [1, 2, 0, 1], 5),
    conv_case(3, [1, 1], 3, [1, 1], [1, 1], [0; 4], 3),
    // KWS DS-CNN: first conv, depthwise 3×3, pointwise 64→64.
    conv_case(1, [49, 10], 64, [10, 4], [2, 2], [4, 1, 5, 1], 1),
    conv_case(64, [25, 5], 64, [3, 3], [1, 1], [1; 4], 64),
    conv_case(64, [25, 5], 64, [1, 1], [1, 1], [0; 4], 1),
    Case::Conv(ConvCase {
        batch: 2,
        c: 4,
        h: 8,
        w: 7,
        oc: 4,
        kh: 3,
        kw: 3,
        stride: [1, 2],
        dil: [2, 2],
        pads: [2, 1, 2, 3],
        groups: 4,
    }),
    Case::Conv(ConvCase {
        batch: 2,
        c: 3,
        h: 6,
        w: 5,
        oc: 7,
        kh: 2,
        kw: 3,
        stride: [1, 1],
        dil: [2, 1],
        pads: [1, 0, 0, 2],
        groups: 1,
    }),
    // Pools: unit, odd, padded, strided, KWS global average 25×5.
    pool_case(1, [1, 1], [1, 1], [1, 1], [0; 4]),
    pool_case(3, [5, 7], [2, 2], [2, 2], [0; 4]),
    pool_case(2, [7, 5], [3, 3], [1, 1], [1; 4]),
    pool_case(2, [6, 9], [3, 2], [2, 3], [1, 0, 2, 1]),
    pool_case(64, [25, 5], [25, 5], [25, 5], [0; 4]),
    Case::Pool(PoolCase {
        batch: 2,
        c: 3,
        h: 9,
        w: 8,
        kh: 3,
        kw: 2,
        stride: [2, 1],
        dil: [2, 3],
        pads: [2, 1, 1, 1],
    }),
    // Elementwise: unit, odd, around vector widths, KWS tensor.
    Case::Elementwise { len: 0 },
    Case::Elementwise { len: 1 },
    Case::Elementwise { len: 7 },
    Case::Elementwise { len: 31 },
    Case::Elementwise { len: 33 },
    Case::Elementwise { len: 8000 },
];

/// The GEMM cases as `(m, n, k)`.
pub(crate) fn gemm() -> impl Iterator<Item = (usize, usize, usize)> {
    CASES.iter().filter_map(|c| match *c {
        Case::Gemm { m, n, k } => Some((m, n, k)),
        _ => None,
    })
}

/// The convolution cases.
pub(crate) fn conv() -> impl Iterator<Item = ConvCase> {
    CASES.iter().filter_map(|c| match *c {
        Case::Conv(cc) => Some(cc),
        _ => None,
    })
}

/// The pooling cases.
pub(crate) fn pool() -> impl Iterator<Item = PoolCase> {
    CASES.iter().filter_map(|c| match *c {
        Case::Pool(pc) => Some(pc),
        _ => None,
    })
}

/// The elementwise lengths.
pub(crate) fn elementwise() -> impl Iterator<Item = usize> {
    CASES.iter().filter_map(|c| match *c {
        Case::Elementwise { len } => Some(len),
        _ => None,
    })
}
