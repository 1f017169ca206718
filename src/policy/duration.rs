//! Durations as people write them in `berth.yaml` and on the command line: `168h`, `7d`,
//! `2h30m`, `90s`, `1w`, `0`. Go's `time.ParseDuration` spellings (werf's `in: 168h`) parse
//! the same way, plus days and weeks, which werf lacks.

use std::time::Duration;

use super::Error;

/// Parses a duration: one or more `<integer><unit>` parts, units `w`, `d`, `h`, `m`, `s`
/// (e.g. `168h`, `7d`, `2h30m`, `90s`), or a bare `0`.
pub fn parse_duration(text: &str) -> Result<Duration, Error> {
    let invalid = |why: &str| Error::Duration {
        value: text.to_string(),
        why: why.to_string(),
    };
    let trimmed = text.trim();
    if trimmed == "0" {
        return Ok(Duration::ZERO);
    }
    if trimmed.is_empty() {
        return Err(invalid("it is empty"));
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in trimmed.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c {
            'w' => 7 * 86_400,
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return Err(invalid(&format!("`{c}` is not a unit"))),
        };
        if digits.is_empty() {
            return Err(invalid(&format!("unit `{c}` has no number before it")));
        }
        let n: u64 = digits
            .parse()
            .map_err(|_| invalid("the number is too large"))?;
        digits.clear();
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(|| invalid("the duration is too large"))?;
    }
    if !digits.is_empty() {
        return Err(invalid(&format!("`{digits}` has no unit")));
    }
    Ok(Duration::from_secs(total))
}

/// Renders a duration the way [`parse_duration`] reads it, largest units first (`2h30m`).
pub fn format_duration(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_spellings() {
        let h = |n: u64| Duration::from_secs(n * 3600);
        assert_eq!(parse_duration("168h").unwrap(), h(168));
        assert_eq!(parse_duration("7d").unwrap(), h(168));
        assert_eq!(parse_duration("1w").unwrap(), h(168));
        assert_eq!(parse_duration("2h30m").unwrap(), Duration::from_secs(9000));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
    }

    #[test]
    fn rejects_bad_spellings_with_the_reason() {
        for bad in ["", "h", "10", "5x", "1.5h", "-1h", "99999999999999999999s"] {
            let err = parse_duration(bad).unwrap_err().to_string();
            assert!(err.contains("duration"), "{bad}: {err}");
        }
        assert!(
            parse_duration("10")
                .unwrap_err()
                .to_string()
                .contains("no unit")
        );
    }

    #[test]
    fn format_round_trips() {
        for text in ["2h30m", "7d", "90s", "1d1h1m1s"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
        assert_eq!(format_duration(Duration::from_secs(9000)), "2h30m");
    }
}
