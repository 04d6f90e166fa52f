//! Kubernetes resource quantities (`100m`, `128Mi`, `1.5G`, `1e3`, `2E`, `1Ei`), read just far
//! enough to compare two of them.
//!
//! Written here rather than taken from a crate: `kube_quantity` 0.9, the maintained one, fails
//! on the exa suffixes `E` and `Ei` and reads a bare `Mi` as zero. The grammar is the one of
//! `k8s.io/apimachinery/pkg/api/resource`:
//!
//! ```text
//! quantity        ::= signedNumber suffix
//! suffix          ::= binarySI | decimalExponent | decimalSI
//! binarySI        ::= Ki | Mi | Gi | Ti | Pi | Ei
//! decimalSI       ::= n | u | m | "" | k | M | G | T | P | E
//! decimalExponent ::= ("e" | "E") signedNumber
//! number          ::= digits | digits "." digits | digits "." | "." digits
//! ```
//!
//! `E` alone is exa; `E` followed by a signed number is an exponent.

/// The value of a quantity in base units (cores, bytes), or `None` if it is not one, is
/// negative, or does not fit a finite float.
pub fn parse(quantity: &str) -> Option<f64> {
    let q = quantity.trim();
    let (number, suffix) = split_number(q)?;
    let value: f64 = number.parse().ok()?;
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
        exponent => {
            let digits = exponent.strip_prefix(['e', 'E'])?;
            let unsigned = digits.strip_prefix(['+', '-']).unwrap_or(digits);
            if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            10f64.powi(digits.parse::<i32>().ok()?)
        }
    };
    let value = value * multiplier;
    (value.is_finite() && value >= 0.0).then_some(value)
}

/// Splits `signedNumber` from the suffix; `None` when there is no number.
fn split_number(q: &str) -> Option<(&str, &str)> {
    let bytes = q.as_bytes();
    let mut i = 0;
    if matches!(bytes.first(), Some(b'+' | b'-')) {
        i = 1;
    }
    let digits_start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - digits_start;
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        let fraction_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - fraction_start;
    }
    (digits > 0).then(|| q.split_at(i))
}

/// Whether an int-or-percent value (`maxUnavailable`, `maxSurge`, a PDB's bounds) is zero as
/// written: `0`, `"0"`, `"0%"`, `" 0.0 % "`.
pub fn int_or_percent_is_zero(
    value: &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString,
) -> bool {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    match value {
        IntOrString::Int(n) => *n == 0,
        IntOrString::String(s) => s.trim().trim_end_matches('%').trim().parse::<f64>() == Ok(0.0),
    }
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
        assert_eq!(parse("1E3"), Some(1000.0));
        assert_eq!(parse("5e-3"), Some(0.005));
        assert_eq!(parse("0.5Gi"), Some(512.0 * 1024.0 * 1024.0));
        assert_eq!(parse(".5"), Some(0.5));
        assert_eq!(parse("1."), Some(1.0));
        assert_eq!(parse("+5"), Some(5.0));
    }

    #[test]
    fn exa_suffixes_are_quantities_not_exponents() {
        // Both failed to parse before: `E` was taken for the start of an exponent.
        assert_eq!(parse("2E"), Some(2e18));
        assert_eq!(parse("1Ei"), Some(1024.0_f64.powi(6)));
        assert!(parse("1Ei") > parse("1E"));
    }

    #[test]
    fn rejects_what_is_not_a_quantity() {
        for bad in [
            "", "lots", "12XB", "-1", "Mi", ".", "1e", "1e+", "1.2.3", "1e1e1", "1 Gi", "1e9999",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
