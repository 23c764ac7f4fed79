//! Numeric precisions: integer of 1..=32 bits, or IEEE float of 16 or 32 bits.
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// The arithmetic a value or an operation is carried out in. Written `int8`, `int4`, `fp32`...
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Precision {
    Int(u32),
    Fp(u32),
}

impl Precision {
    pub fn bits(self) -> u32 {
        match self {
            Precision::Int(b) | Precision::Fp(b) => b,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, Precision::Fp(_))
    }

    /// Same kind (integer or float).
    pub fn same_kind(self, other: Precision) -> bool {
        self.is_float() == other.is_float()
    }

    /// The precision of one element of `dtype` (bool counts as a 1-bit integer).
    pub fn of_dtype(dtype: mw_tensor::DType) -> Precision {
        use mw_tensor::DType::*;
        match dtype {
            F32 => Precision::Fp(32),
            F64 => Precision::Fp(64),
            Bool => Precision::Int(1),
            d => Precision::Int(8 * d.size_of() as u32),
        }
    }

    /// The wider of two precisions of a binary operation: float wins over integer.
    pub fn join(self, other: Precision) -> Precision {
        match (self, other) {
            (Precision::Fp(a), Precision::Fp(b)) => Precision::Fp(a.max(b)),
            (Precision::Fp(a), _) | (_, Precision::Fp(a)) => Precision::Fp(a),
            (Precision::Int(a), Precision::Int(b)) => Precision::Int(a.max(b)),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Precision::Int(b) => write!(f, "int{b}"),
            Precision::Fp(b) => write!(f, "fp{b}"),
        }
    }
}

impl FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Precision, String> {
        let (kind, bits) = if let Some(b) = s.strip_prefix("int") {
            (Precision::Int as fn(u32) -> Precision, b)
        } else if let Some(b) = s.strip_prefix("fp") {
            (Precision::Fp as fn(u32) -> Precision, b)
        } else {
            return Err(format!(
                "`{s}` is not a precision (int1..int32, fp16, fp32)"
            ));
        };
        let bits: u32 = bits
            .parse()
            .map_err(|_| format!("`{s}` is not a precision (int1..int32, fp16, fp32)"))?;
        let p = kind(bits);
        let ok = match p {
            Precision::Int(b) => (1..=32).contains(&b),
            Precision::Fp(b) => b == 16 || b == 32,
        };
        if ok {
            Ok(p)
        } else {
            Err(format!("`{s}`: integers have 1..=32 bits, floats 16 or 32"))
        }
    }
}

impl Serialize for Precision {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Precision {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Precision, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for s in ["int1", "int4", "int8", "int32", "fp16", "fp32"] {
            assert_eq!(s.parse::<Precision>().unwrap().to_string(), s);
        }
        for bad in ["int0", "int33", "fp8", "float32", "int", ""] {
            assert!(bad.parse::<Precision>().is_err(), "{bad}");
        }
    }

    #[test]
    fn join_prefers_float_and_width() {
        assert_eq!(Precision::Int(4).join(Precision::Int(8)), Precision::Int(8));
        assert_eq!(Precision::Int(8).join(Precision::Fp(32)), Precision::Fp(32));
    }
}
