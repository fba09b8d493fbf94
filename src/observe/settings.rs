//! Redis's own spelling of configuration values, so a declared value and what CONFIG GET
//! answers compare equal when they mean the same.

/// Redis answers CONFIG GET in its own spelling: memory in bytes ("100mb" → "104857600"),
/// booleans as yes/no. Compare in that spelling.
pub(crate) fn same_setting(observed: Option<&str>, desired: &str) -> bool {
    observed.is_some_and(|o| canonical_setting(o) == canonical_setting(desired))
}

fn canonical_setting(value: &str) -> String {
    let v = value.trim().to_ascii_lowercase();
    match v.as_str() {
        "true" => return "yes".into(),
        "false" => return "no".into(),
        _ => {}
    }
    let digits = v.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = v.split_at(digits);
    let factor: Option<u64> = match unit {
        "k" => Some(1000),
        "kb" => Some(1024),
        "m" => Some(1000 * 1000),
        "mb" => Some(1024 * 1024),
        "g" => Some(1000 * 1000 * 1000),
        "gb" => Some(1024 * 1024 * 1024),
        _ => None,
    };
    match (number.parse::<u64>(), factor) {
        (Ok(n), Some(f)) => n.saturating_mul(f).to_string(),
        _ => v,
    }
}
