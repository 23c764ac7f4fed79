use std::fmt;

/// Element types milliwatt stores. ONNX types outside this list are refused at import.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F64,
    I8,
    U8,
    /// 4-bit signed integer `[-8, 7]` (ONNX INT4): one value per `i8` in memory, two per byte
    /// on disk.
    I4,
    /// 4-bit unsigned integer `[0, 15]` (ONNX UINT4): one value per `u8` in memory.
    U4,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    Bool,
}

impl DType {
    /// Bytes one element occupies in memory (4-bit types are stored one value per byte).
    pub fn size_of(self) -> usize {
        match self {
            DType::I8 | DType::U8 | DType::I4 | DType::U4 | DType::Bool => 1,
            DType::I16 | DType::U16 => 2,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F64 | DType::I64 | DType::U64 => 8,
        }
    }

    /// Bits one element occupies when stored packed (on disk, in a weight memory).
    pub fn bits(self) -> usize {
        match self {
            DType::I4 | DType::U4 => 4,
            other => other.size_of() * 8,
        }
    }

    /// Bytes of `n` elements stored packed (4-bit types two per byte, rounded up).
    pub fn packed_bytes(self, n: usize) -> usize {
        n.saturating_mul(self.bits()).div_ceil(8)
    }

    /// The in-memory element type: `I8` for `I4`, `U8` for `U4`, the type itself otherwise.
    pub fn storage(self) -> DType {
        match self {
            DType::I4 => DType::I8,
            DType::U4 => DType::U8,
            other => other,
        }
    }

    /// Inclusive value range of the 4-bit types (`None` for the others).
    pub fn narrow_range(self) -> Option<(i32, i32)> {
        match self {
            DType::I4 => Some((-8, 7)),
            DType::U4 => Some((0, 15)),
            _ => None,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }

    pub fn is_integer(self) -> bool {
        !self.is_float() && self != DType::Bool
    }

    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::I8 => "i8",
            DType::U8 => "u8",
            DType::I4 => "i4",
            DType::U4 => "u4",
            DType::I16 => "i16",
            DType::U16 => "u16",
            DType::I32 => "i32",
            DType::U32 => "u32",
            DType::I64 => "i64",
            DType::U64 => "u64",
            DType::Bool => "bool",
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A Rust type that can be the element of a [`crate::Tensor`].
pub trait Element: Copy + Default + Send + Sync + fmt::Debug + PartialEq + 'static {
    const DTYPE: DType;
    fn slice(data: &crate::Data) -> Option<&[Self]>;
    fn slice_mut(data: &mut crate::Data) -> Option<&mut [Self]>;
    fn wrap(v: Vec<Self>) -> crate::Data;
    fn unwrap(data: crate::Data) -> Result<Vec<Self>, crate::Data>;
    /// Lossy conversion used by Cast-like code paths and printing.
    fn to_f64(self) -> f64;
    /// Conversion from f64 following Rust `as` semantics (saturating for integers, NaN → 0).
    fn from_f64(v: f64) -> Self;
}

macro_rules! element {
    ($t:ty, $variant:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            fn slice(data: &crate::Data) -> Option<&[Self]> {
                match data {
                    crate::Data::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn slice_mut(data: &mut crate::Data) -> Option<&mut [Self]> {
                match data {
                    crate::Data::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn wrap(v: Vec<Self>) -> crate::Data {
                crate::Data::$variant(v)
            }
            fn unwrap(data: crate::Data) -> Result<Vec<Self>, crate::Data> {
                match data {
                    crate::Data::$variant(v) => Ok(v),
                    other => Err(other),
                }
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
        }
    };
}

element!(f32, F32);
element!(f64, F64);
element!(i8, I8);
element!(u8, U8);
element!(i16, I16);
element!(u16, U16);
element!(i32, I32);
element!(u32, U32);
element!(i64, I64);
element!(u64, U64);

impl Element for bool {
    const DTYPE: DType = DType::Bool;
    fn slice(data: &crate::Data) -> Option<&[Self]> {
        match data {
            crate::Data::Bool(v) => Some(v),
            _ => None,
        }
    }
    fn slice_mut(data: &mut crate::Data) -> Option<&mut [Self]> {
        match data {
            crate::Data::Bool(v) => Some(v),
            _ => None,
        }
    }
    fn wrap(v: Vec<Self>) -> crate::Data {
        crate::Data::Bool(v)
    }
    fn unwrap(data: crate::Data) -> Result<Vec<Self>, crate::Data> {
        match data {
            crate::Data::Bool(v) => Ok(v),
            other => Err(other),
        }
    }
    fn to_f64(self) -> f64 {
        if self {
            1.0
        } else {
            0.0
        }
    }
    fn from_f64(v: f64) -> Self {
        v != 0.0
    }
}
