//! Kubernetes resource quantities (`100m`, `128Mi`, `1.5G`, `1e3`), parsed just far enough to
//! compare two of them.

/// The value of a quantity in base units (cores, bytes), or `None` if it is not one.
pub fn parse(quantity: &str) -> Option<f64> {
    let q = quantity.trim();
    let split = q
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let multiplier = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0_f64.powi(2),
        "Gi" => 1024.0_f64.powi(3),
        "Ti" => 1024.0_f64.powi(4),
        "Pi" => 1024.0_f64.powi(5),
        "Ei" => 1024.0_f64.powi(6),
        _ => return None,
    };
    let value: f64 = number.parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some(value * multiplier)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_binary_decimal_milli_and_exponent_forms() {
        assert_eq!(parse("128Mi"), Some(128.0 * 1024.0 * 1024.0));
        assert_eq!(parse("1G"), Some(1e9));
        assert_eq!(parse("100m"), Some(0.1));
        assert_eq!(parse("2"), Some(2.0));
        assert_eq!(parse("1e3"), Some(1000.0));
        assert_eq!(parse("0.5Gi"), Some(512.0 * 1024.0 * 1024.0));
    }

    #[test]
    fn rejects_what_is_not_a_quantity() {
        for bad in ["", "lots", "12XB", "-1", "Mi"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
