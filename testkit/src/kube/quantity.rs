//! Resource quantities (`500m`, `1.5`, `128Mi`, `1G`): parsing and the canonical printing
//! used in quota messages and `status.used`.

/// Parses a quantity into thousandths of its base unit (milli-cores, milli-bytes).
pub fn parse_milli(q: &str) -> Option<i128> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    let mult: i128 = match suffix {
        "" => 1000,
        "m" => 1,
        "k" => 1_000_000,
        "M" => 1_000_000_000,
        "G" => 1_000_000_000_000,
        "T" => 1_000_000_000_000_000,
        "Ki" => 1024 * 1000,
        "Mi" => 1024 * 1024 * 1000,
        "Gi" => 1024 * 1024 * 1024 * 1000,
        "Ti" => 1024_i128.pow(4) * 1000,
        _ => return None,
    };
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    let int: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut value = int * mult;
    if !frac.is_empty() {
        let digits = frac.len() as u32;
        let f: i128 = frac.parse().ok()?;
        value += f * mult / 10_i128.pow(digits);
    }
    Some(value)
}

/// Prints thousandths back in the usual form: `500m`/`2` for CPU-like amounts,
/// `128Mi`/`1Gi` for byte amounts.
pub fn format_milli(resource: &str, milli: i128) -> String {
    let is_bytes = resource.contains("memory") || resource.contains("storage");
    if !is_bytes {
        return if milli % 1000 == 0 {
            (milli / 1000).to_string()
        } else {
            format!("{milli}m")
        };
    }
    let bytes = milli / 1000;
    for (suffix, size) in [("Gi", 1_i128 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] {
        if bytes != 0 && bytes % size == 0 {
            return format!("{}{suffix}", bytes / size);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        assert_eq!(parse_milli("500m"), Some(500));
        assert_eq!(parse_milli("1.5"), Some(1500));
        assert_eq!(parse_milli("128Mi"), Some(128 * 1024 * 1024 * 1000));
        assert_eq!(parse_milli("1G"), Some(1_000_000_000_000));
        assert_eq!(parse_milli("x"), None);
        assert_eq!(format_milli("limits.cpu", 2000), "2");
        assert_eq!(format_milli("requests.cpu", 250), "250m");
        assert_eq!(
            format_milli("limits.memory", 256 * 1024 * 1024 * 1000),
            "256Mi"
        );
    }
}
