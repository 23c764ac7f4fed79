use super::*;
use crate::lowbit::testutil::{Rng, FORMATS};
use proptest::prelude::*;

#[test]
fn int4_is_onnx_order_low_nibble_first() {
    // Element 2i in bits 0–3, 2i+1 in bits 4–7; an odd count pads the last high nibble with 0.
    assert_eq!(
        pack_values(LowBitFormat::Int4, &[1, -1, 7, -8, -3]).unwrap(),
        [0xF1, 0x87, 0x0D]
    );
    assert_eq!(
        unpack_values(LowBitFormat::Int4, &[0xF1, 0x87, 0x0D], 5).unwrap(),
        [1, -1, 7, -8, -3]
    );
}

#[test]
fn int2_ternary_binary_codes() {
    // INT2 two's complement, LSB first: -2→10, 1→01, 0→00, -1→11.
    assert_eq!(
        pack_values(LowBitFormat::Int2, &[-2, 1, 0, -1, 1]).unwrap(),
        [0b11_00_01_10, 0b01]
    );
    assert_eq!(
        pack_values(LowBitFormat::Ternary, &[-1, 1, 0]).unwrap(),
        [0b00_01_11]
    );
    // Binary: bit 1 = +1, bit 0 = -1, LSB first; pad bits 0.
    assert_eq!(
        pack_values(LowBitFormat::Binary, &[1, -1, -1, 1, 1, 1, 1, 1, -1, 1]).unwrap(),
        [0b1111_1001, 0b10]
    );
    assert_eq!(
        unpack_values(LowBitFormat::Binary, &[0b1111_1001, 0b10], 10).unwrap(),
        [1, -1, -1, 1, 1, 1, 1, 1, -1, 1]
    );
}

#[test]
fn rows_start_on_byte_boundaries() {
    // 3 rows of 3 INT4 values: 2 bytes per row, the high nibble of each row's last byte zero.
    let v = [1, 2, 3, -1, -2, -3, 7, -8, 0];
    let w = PackedWeights::pack(LowBitFormat::Int4, 3, 3, &v).unwrap();
    assert_eq!(w.row_bytes(), 2);
    assert_eq!(w.bytes(), [0x21, 0x03, 0xEF, 0x0D, 0x87, 0x00]);
    assert_eq!(w.row(1), [0xEF, 0x0D]);
    assert_eq!(w.unpack(), v);
    assert_eq!(w.row_sums(), [6, -6, -1]);
    assert_eq!(w.get(2, 1), Some(-8));
    assert_eq!(w.get(3, 0), None);
    assert_eq!(w.get(0, 3), None);
    let b = PackedWeights::pack(LowBitFormat::Binary, 2, 9, &[1; 18]).unwrap();
    assert_eq!(b.bytes(), [0xFF, 0x01, 0xFF, 0x01]);
    assert_eq!(b.row_sums(), [9, 9]);
}

#[test]
fn out_of_range_values_are_typed_errors() {
    let cases: [(LowBitFormat, i8); 9] = [
        (LowBitFormat::Int4, 8),
        (LowBitFormat::Int4, -9),
        (LowBitFormat::Int2, 2),
        (LowBitFormat::Int2, -3),
        (LowBitFormat::Ternary, 2),
        (LowBitFormat::Ternary, -2),
        (LowBitFormat::Binary, 0),
        (LowBitFormat::Binary, 2),
        (LowBitFormat::Binary, -128),
    ];
    for (format, bad) in cases {
        let first = if format == LowBitFormat::Binary { 1 } else { 0 };
        let v = [first, 1, -1, bad];
        assert_eq!(
            PackedWeights::pack(format, 2, 2, &v),
            Err(LowBitError::ValueOutOfRange {
                format,
                index: 3,
                value: bad
            }),
            "{format} {bad}"
        );
        assert!(pack_values(format, &v).is_err());
    }
}

#[test]
fn from_bytes_checks_length_and_codes_and_clears_padding() {
    let f = LowBitFormat::Int4;
    assert!(PackedWeights::from_bytes(f, 2, 3, vec![0; 3]).is_err());
    let w = PackedWeights::from_bytes(f, 2, 3, vec![0x21, 0xF3, 0x54, 0xE6]).unwrap();
    assert_eq!(w.bytes(), [0x21, 0x03, 0x54, 0x06]);
    assert_eq!(
        w,
        PackedWeights::pack(f, 2, 3, &[1, 2, 3, 4, 5, 6]).unwrap()
    );
    assert_eq!(
        PackedWeights::from_bytes(LowBitFormat::Ternary, 1, 3, vec![0b10_00_01]),
        Err(LowBitError::BadCode {
            format: LowBitFormat::Ternary,
            index: 2
        })
    );
    // A bad code in the padding is not a value.
    assert!(PackedWeights::from_bytes(LowBitFormat::Ternary, 1, 3, vec![0b10_00_00_01]).is_ok());
    assert!(unpack_values(LowBitFormat::Ternary, &[0b10], 1).is_err());
    assert!(unpack_values(f, &[0, 0], 5).is_err());
    let huge = PackedWeights::from_bytes(f, usize::MAX, usize::MAX, vec![]);
    assert!(matches!(huge, Err(LowBitError::Int8(_))));
}

#[test]
fn empty_matrices_are_valid() {
    for f in FORMATS {
        for (r, c) in [(0, 5), (3, 0), (0, 0)] {
            let w = PackedWeights::pack(f, r, c, &[]).unwrap();
            assert_eq!(w.unpack(), Vec::<i8>::new());
            assert_eq!(w.row_sums().len(), r);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn pack_unpack_round_trips(
        rows in 1usize..6, cols in prop_oneof![1usize..=17, 18usize..200], seed in any::<u64>()
    ) {
        let mut rng = Rng::new(seed);
        for f in FORMATS {
            let (w, v) = rng.weights(f, rows, cols);
            prop_assert_eq!(w.bytes().len(), rows * (cols * f.bits()).div_ceil(8));
            prop_assert_eq!(w.unpack(), v.clone());
            let again = PackedWeights::from_bytes(f, rows, cols, w.bytes().to_vec()).unwrap();
            prop_assert_eq!(&again, &w);
            for r in 0..rows {
                let row = &v[r * cols..(r + 1) * cols];
                prop_assert_eq!(unpack_values(f, w.row(r), cols).unwrap(), row.to_vec());
                prop_assert_eq!(pack_values(f, row).unwrap(), w.row(r).to_vec());
                let sum: i32 = row.iter().map(|&x| i32::from(x)).sum();
                prop_assert_eq!(w.row_sums()[r], sum);
            }
        }
    }
}
