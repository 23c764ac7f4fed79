use crate::{checked_numel, DType, Element};

/// Typed element storage of a tensor.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I8(Vec<i8>),
    U8(Vec<u8>),
    /// 4-bit signed values, each in `[-8, 7]` (checked by [`Tensor::new`]).
    I4(Vec<i8>),
    /// 4-bit unsigned values, each in `[0, 15]` (checked by [`Tensor::new`]).
    U4(Vec<u8>),
    I16(Vec<i16>),
    U16(Vec<u16>),
    I32(Vec<i32>),
    U32(Vec<u32>),
    I64(Vec<i64>),
    U64(Vec<u64>),
    Bool(Vec<bool>),
}

/// Dispatches an expression over every [`Data`] variant, binding the inner `Vec` as `$v`.
#[macro_export]
macro_rules! dispatch_data {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            $crate::Data::F32($v) => $body,
            $crate::Data::F64($v) => $body,
            $crate::Data::I8($v) => $body,
            $crate::Data::U8($v) => $body,
            $crate::Data::I4($v) => $body,
            $crate::Data::U4($v) => $body,
            $crate::Data::I16($v) => $body,
            $crate::Data::U16($v) => $body,
            $crate::Data::I32($v) => $body,
            $crate::Data::U32($v) => $body,
            $crate::Data::I64($v) => $body,
            $crate::Data::U64($v) => $body,
            $crate::Data::Bool($v) => $body,
        }
    };
}

impl Data {
    pub fn dtype(&self) -> DType {
        match self {
            Data::F32(_) => DType::F32,
            Data::F64(_) => DType::F64,
            Data::I8(_) => DType::I8,
            Data::U8(_) => DType::U8,
            Data::I4(_) => DType::I4,
            Data::U4(_) => DType::U4,
            Data::I16(_) => DType::I16,
            Data::U16(_) => DType::U16,
            Data::I32(_) => DType::I32,
            Data::U32(_) => DType::U32,
            Data::I64(_) => DType::I64,
            Data::U64(_) => DType::U64,
            Data::Bool(_) => DType::Bool,
        }
    }

    pub fn len(&self) -> usize {
        dispatch_data!(self, v => v.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `n` default (zero / false) elements of `dtype`.
    pub fn zeros(dtype: DType, n: usize) -> Data {
        match dtype {
            DType::F32 => Data::F32(vec![0.0; n]),
            DType::F64 => Data::F64(vec![0.0; n]),
            DType::I8 => Data::I8(vec![0; n]),
            DType::U8 => Data::U8(vec![0; n]),
            DType::I4 => Data::I4(vec![0; n]),
            DType::U4 => Data::U4(vec![0; n]),
            DType::I16 => Data::I16(vec![0; n]),
            DType::U16 => Data::U16(vec![0; n]),
            DType::I32 => Data::I32(vec![0; n]),
            DType::U32 => Data::U32(vec![0; n]),
            DType::I64 => Data::I64(vec![0; n]),
            DType::U64 => Data::U64(vec![0; n]),
            DType::Bool => Data::Bool(vec![false; n]),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TensorError {
    #[error("shape {shape:?} holds {expected} elements but {actual} were given")]
    SizeMismatch {
        shape: Vec<usize>,
        expected: usize,
        actual: usize,
    },
    #[error("shape {0:?} overflows the addressable element count")]
    Overflow(Vec<usize>),
    #[error("{dtype} value {value} is outside [{lo}, {hi}]")]
    OutOfRange {
        dtype: DType,
        value: i64,
        lo: i32,
        hi: i32,
    },
    #[error("expected a {expected} tensor, found {actual}")]
    DType { expected: DType, actual: DType },
}

/// A dense row-major tensor: a shape and its elements.
///
/// Invariant: `data.len() == shape.iter().product()` (a scalar has shape `[]` and one element).
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Data,
}

impl Tensor {
    /// Builds a tensor, checking that the element count matches the shape and that 4-bit values
    /// are in their range.
    pub fn new(shape: Vec<usize>, data: Data) -> Result<Tensor, TensorError> {
        let expected = checked_numel(&shape).ok_or_else(|| TensorError::Overflow(shape.clone()))?;
        if expected != data.len() {
            return Err(TensorError::SizeMismatch {
                shape,
                expected,
                actual: data.len(),
            });
        }
        check_narrow(&data)?;
        Ok(Tensor { shape, data })
    }

    /// A 4-bit tensor (`dtype` `I4` or `U4`) from its values held in the storage type
    /// ([`DType::storage`]); any other `dtype` is built as is. Values are range-checked.
    pub fn narrow(dtype: DType, shape: Vec<usize>, data: Data) -> Result<Tensor, TensorError> {
        let data = match (dtype, data) {
            (DType::I4, Data::I8(v)) => Data::I4(v),
            (DType::U4, Data::U8(v)) => Data::U4(v),
            (DType::I4 | DType::U4, other) => {
                return Err(TensorError::DType {
                    expected: dtype.storage(),
                    actual: other.dtype(),
                })
            }
            (_, other) => other,
        };
        Tensor::new(shape, data)
    }

    pub fn from_vec<T: Element>(shape: Vec<usize>, v: Vec<T>) -> Result<Tensor, TensorError> {
        Tensor::new(shape, T::wrap(v))
    }

    pub fn scalar<T: Element>(v: T) -> Tensor {
        Tensor {
            shape: vec![],
            data: T::wrap(vec![v]),
        }
    }

    pub fn zeros(dtype: DType, shape: Vec<usize>) -> Result<Tensor, TensorError> {
        let n = checked_numel(&shape).ok_or_else(|| TensorError::Overflow(shape.clone()))?;
        Ok(Tensor {
            shape,
            data: Data::zeros(dtype, n),
        })
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    pub fn data(&self) -> &Data {
        &self.data
    }

    pub fn into_data(self) -> Data {
        self.data
    }

    /// Bytes of the elements (unpacked).
    pub fn byte_len(&self) -> usize {
        self.len() * self.dtype().size_of()
    }

    pub fn as_slice<T: Element>(&self) -> Result<&[T], TensorError> {
        T::slice(&self.data).ok_or(TensorError::DType {
            expected: T::DTYPE,
            actual: self.dtype(),
        })
    }

    /// The elements in their storage type: like [`Tensor::as_slice`], and also `&[i8]` of an
    /// `I4` tensor and `&[u8]` of a `U4` tensor.
    pub fn as_storage_slice<T: Element>(&self) -> Result<&[T], TensorError> {
        let any: Option<&dyn std::any::Any> = match &self.data {
            Data::I4(v) => Some(v),
            Data::U4(v) => Some(v),
            _ => None,
        };
        match any.and_then(|v| v.downcast_ref::<Vec<T>>()) {
            Some(v) => Ok(v),
            None => self.as_slice::<T>(),
        }
    }

    pub fn as_slice_mut<T: Element>(&mut self) -> Result<&mut [T], TensorError> {
        let actual = self.dtype();
        T::slice_mut(&mut self.data).ok_or(TensorError::DType {
            expected: T::DTYPE,
            actual,
        })
    }

    pub fn into_vec<T: Element>(self) -> Result<Vec<T>, TensorError> {
        T::unwrap(self.data).map_err(|d| TensorError::DType {
            expected: T::DTYPE,
            actual: d.dtype(),
        })
    }

    /// Same elements, new shape of equal element count.
    pub fn reshaped(self, shape: Vec<usize>) -> Result<Tensor, TensorError> {
        Tensor::new(shape, self.data)
    }

    /// Every element as f64 (for printing, comparisons and index-like inputs).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        dispatch_data!(&self.data, v => v.iter().map(|x| x.to_f64()).collect())
    }

    /// Integer-valued tensor (shape, axes, indices inputs) as i64, any integer dtype.
    pub fn to_i64_vec(&self) -> Result<Vec<i64>, TensorError> {
        match &self.data {
            Data::I64(v) => Ok(v.clone()),
            Data::I32(v) => Ok(v.iter().map(|&x| x as i64).collect()),
            Data::I16(v) => Ok(v.iter().map(|&x| x as i64).collect()),
            Data::I8(v) | Data::I4(v) => Ok(v.iter().map(|&x| x as i64).collect()),
            Data::U8(v) | Data::U4(v) => Ok(v.iter().map(|&x| x as i64).collect()),
            Data::U16(v) => Ok(v.iter().map(|&x| x as i64).collect()),
            Data::U32(v) => Ok(v.iter().map(|&x| x as i64).collect()),
            Data::U64(v) => Ok(v.iter().map(|&x| x as i64).collect()),
            other => Err(TensorError::DType {
                expected: DType::I64,
                actual: other.dtype(),
            }),
        }
    }

    /// Converts every element to `dtype` with Rust `as` semantics via f64 (NaN → 0 for integers).
    /// Integer → integer conversions of 64-bit values go through i64/u64 exactly.
    pub fn cast(&self, dtype: DType) -> Tensor {
        if dtype == self.dtype() {
            return self.clone();
        }
        let data = match (&self.data, dtype) {
            (Data::I64(v), DType::U64) => Data::U64(v.iter().map(|&x| x as u64).collect()),
            (Data::U64(v), DType::I64) => Data::I64(v.iter().map(|&x| x as i64).collect()),
            _ => {
                let values = self.to_f64_vec();
                from_f64_values(dtype, &values)
            }
        };
        Tensor {
            shape: self.shape.clone(),
            data,
        }
    }
}

fn from_f64_values(dtype: DType, values: &[f64]) -> Data {
    fn conv<T: Element>(values: &[f64]) -> Data {
        T::wrap(values.iter().map(|&x| T::from_f64(x)).collect())
    }
    match dtype {
        DType::F32 => conv::<f32>(values),
        DType::F64 => conv::<f64>(values),
        DType::I8 => conv::<i8>(values),
        DType::U8 => conv::<u8>(values),
        DType::I4 => Data::I4(values.iter().map(|&x| x.clamp(-8.0, 7.0) as i8).collect()),
        DType::U4 => Data::U4(values.iter().map(|&x| x.clamp(0.0, 15.0) as u8).collect()),
        DType::I16 => conv::<i16>(values),
        DType::U16 => conv::<u16>(values),
        DType::I32 => conv::<i32>(values),
        DType::U32 => conv::<u32>(values),
        DType::I64 => conv::<i64>(values),
        DType::U64 => conv::<u64>(values),
        DType::Bool => conv::<bool>(values),
    }
}

/// Checks that every 4-bit value is in its type's range.
fn check_narrow(data: &Data) -> Result<(), TensorError> {
    let (dtype, bad) = match data {
        Data::I4(v) => (
            DType::I4,
            v.iter()
                .find(|&&x| !(-8..=7).contains(&x))
                .map(|&x| x as i64),
        ),
        Data::U4(v) => (DType::U4, v.iter().find(|&&x| x > 15).map(|&x| x as i64)),
        _ => return Ok(()),
    };
    match (bad, dtype.narrow_range()) {
        (Some(value), Some((lo, hi))) => Err(TensorError::OutOfRange {
            dtype,
            value,
            lo,
            hi,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_checks_element_count() {
        assert!(Tensor::from_vec(vec![2, 3], vec![0f32; 6]).is_ok());
        let err = Tensor::from_vec(vec![2, 3], vec![0f32; 5]).unwrap_err();
        assert!(matches!(
            err,
            TensorError::SizeMismatch {
                expected: 6,
                actual: 5,
                ..
            }
        ));
    }

    #[test]
    fn overflowing_shape_is_refused() {
        let err = Tensor::zeros(DType::F32, vec![usize::MAX, 2]).unwrap_err();
        assert!(matches!(err, TensorError::Overflow(_)));
    }

    #[test]
    fn typed_access_checks_dtype() {
        let t = Tensor::from_vec(vec![2], vec![1i8, 2]).unwrap();
        assert_eq!(t.as_slice::<i8>().unwrap(), &[1, 2]);
        assert!(t.as_slice::<f32>().is_err());
    }

    #[test]
    fn cast_saturates_and_maps_nan_to_zero() {
        let t = Tensor::from_vec(vec![3], vec![300.0f32, -1e9, f32::NAN]).unwrap();
        let c = t.cast(DType::I8);
        assert_eq!(c.as_slice::<i8>().unwrap(), &[127, -128, 0]);
    }

    #[test]
    fn four_bit_values_are_range_checked_and_read_as_storage() {
        let t = Tensor::narrow(DType::I4, vec![3], Data::I8(vec![-8, 0, 7])).unwrap();
        assert_eq!(t.dtype(), DType::I4);
        assert_eq!(t.as_storage_slice::<i8>().unwrap(), &[-8, 0, 7]);
        assert!(t.as_slice::<i8>().is_err());
        assert_eq!(t.to_i64_vec().unwrap(), vec![-8, 0, 7]);
        let err = Tensor::new(vec![1], Data::I4(vec![8])).unwrap_err();
        assert!(matches!(err, TensorError::OutOfRange { value: 8, .. }));
        assert!(Tensor::new(vec![1], Data::U4(vec![16])).is_err());
        assert!(Tensor::narrow(DType::U4, vec![1], Data::I8(vec![1])).is_err());
        let c = Tensor::from_vec(vec![3], vec![-20.0f32, 3.0, 20.0])
            .unwrap()
            .cast(DType::I4);
        assert_eq!(c.as_storage_slice::<i8>().unwrap(), &[-8, 3, 7]);
        assert_eq!(DType::I4.packed_bytes(5), 3);
        assert_eq!(DType::I8.packed_bytes(5), 5);
    }
}
