//! Text helpers shared by the page and the plots: HTML escaping, number formatting, file names.

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A number with about four significant digits.
pub fn num(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if !a.is_finite() {
        format!("{v}")
    } else if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        trim(format!("{v:.1}"))
    } else if a >= 0.1 {
        trim(format!("{v:.3}"))
    } else {
        format!("{v:.2e}")
    }
}

/// An axis tick: `v` with as many decimals as `step` needs.
pub fn tick(v: f64, step: f64) -> String {
    let decimals = if step > 0.0 && step.is_finite() {
        (-step.log10().floor()).max(0.0) as usize
    } else {
        0
    };
    format!("{v:.decimals$}")
}

fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// `name` cut to at most `n` characters, keeping its end (layer names differ at the end).
pub fn short(name: &str, n: usize) -> String {
    let count = name.chars().count();
    if count <= n || n < 2 {
        return name.to_string();
    }
    let tail: String = name.chars().skip(count - (n - 1)).collect();
    format!("…{tail}")
}

/// A file-name-safe form of `s`: ASCII letters, digits, `-`, `_` and `.` kept, anything else `_`.
pub fn slug(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let t = t.trim_start_matches('.').to_string();
    if t.is_empty() {
        "_".into()
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_keeps_safe_characters_only() {
        assert_eq!(slug("horowitz-45nm"), "horowitz-45nm");
        assert_eq!(slug("../a b/µ.onnx"), "_a_b__.onnx");
        assert_eq!(slug(""), "_");
    }

    #[test]
    fn short_keeps_the_end() {
        assert_eq!(short("abcdef", 4), "…def");
        assert_eq!(short("abc", 4), "abc");
    }

    #[test]
    fn num_has_about_four_digits() {
        assert_eq!(num(1234.5), "1234");
        assert_eq!(num(12.345), "12.3");
        assert_eq!(num(1.2345), "1.234");
        assert_eq!(num(10.0), "10");
        assert_eq!(num(0.620), "0.62");
        assert_eq!(tick(0.1, 0.1), "0.1");
        assert_eq!(tick(500.0, 500.0), "500");
        assert_eq!(tick(0.04, 0.02), "0.04");
        assert_eq!(num(0.01234), "1.23e-2");
    }
}
