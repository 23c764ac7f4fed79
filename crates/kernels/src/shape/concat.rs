use super::ShapeKernelError;

/// Concatenates along one axis. Each part is viewed as `[outer, chunk]` (`chunk` = its length
/// along the axis times the inner size); the output is `[outer, Σ chunk]`.
pub fn concat<T: Copy>(parts: &[(&[T], usize)], outer: usize) -> Result<Vec<T>, ShapeKernelError> {
    let mut total = 0usize;
    for &(p, chunk) in parts {
        let expected = outer.checked_mul(chunk).ok_or(ShapeKernelError::Overflow)?;
        if p.len() != expected {
            return Err(ShapeKernelError::Length {
                expected,
                actual: p.len(),
            });
        }
        total = total
            .checked_add(expected)
            .ok_or(ShapeKernelError::Overflow)?;
    }
    let mut out = Vec::with_capacity(total);
    for o in 0..outer {
        for &(p, chunk) in parts {
            out.extend_from_slice(&p[o * chunk..(o + 1) * chunk]);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concat_interleaves_chunks() {
        let a = [1, 2, 3, 4]; // [2, 2]
        let b = [5, 6]; // [2, 1]
        assert_eq!(concat(&[(&a, 2), (&b, 1)], 2).unwrap(), [1, 2, 5, 3, 4, 6]);
        let empty: [i32; 0] = [];
        assert_eq!(concat(&[(&a, 4), (&empty, 0)], 1).unwrap(), a);
    }

    #[test]
    fn concat_checks_lengths() {
        let a = [1, 2, 3];
        assert!(concat(&[(&a, 2)], 2).is_err());
    }
}
