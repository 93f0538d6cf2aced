//! Scalar input read as its type before any SQL exists. Each dialect then receives only
//! values that it parses, and compares, the same way as every other dialect; anything else
//! is refused here (`BAD_USER_INPUT`) rather than reaching a database as a raw error or as a
//! silently different comparison. Two examples of what this prevents: PostgreSQL reads
//! `"yesterday"` as a timestamp while SQLite's `julianday` reads it as NULL (so one returned
//! rows and the other none), and SQLite's `julianday` accepts February 30th.
//!
//! The accepted forms are deliberately the intersection of what PostgreSQL and SQLite read:
//!
//! - `DateTime`: `YYYY-MM-DDTHH:MM[:SS[.fraction]]` followed by `Z` or `±HH:MM` (a space may
//!   replace the `T`). A datetime without an offset is refused: PostgreSQL would read it in
//!   the server's time zone and SQLite in UTC, so its instant depends on the database.
//! - `Date`: `YYYY-MM-DD`, a real calendar date, years 0001 to 9999.
//! - `UUID`: the canonical `8-4-4-4-12` hex form (either case, compared in lowercase).
//! - numbers given as strings: an optional sign, digits with an optional fraction and
//!   exponent, that a 64-bit float holds without overflow or underflow to zero (no `NaN`,
//!   `Infinity`, hex, or whitespace).
//! - text anywhere (including inside JSON values): no NUL character, which PostgreSQL
//!   cannot store in `text` or `jsonb`.

use serde_json::Value as Json;

/// The longest `like`/`ilike` pattern or `contains`-family value accepted, in bytes. SQLite
/// refuses LIKE patterns over 50,000 bytes (`SQLITE_MAX_LIKE_PATTERN_LENGTH`); escaping may
/// double a `contains` value, so the bound keeps every dialect well inside that limit.
pub(crate) const MAX_PATTERN_BYTES: usize = 10_000;

/// The lowercase canonical form of a UUID in `8-4-4-4-12` hex form (either case).
pub(crate) fn canonical_uuid(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() != 36 {
        return None;
    }
    for (i, c) in b.iter().enumerate() {
        let ok = if matches!(i, 8 | 13 | 18 | 23) {
            *c == b'-'
        } else {
            c.is_ascii_hexdigit()
        };
        if !ok {
            return None;
        }
    }
    Some(s.to_ascii_lowercase())
}

/// Whether `s` is exactly a lowercase canonical UUID (the text a PostgreSQL `uuid` prints).
pub(crate) fn is_canonical_uuid(s: &str) -> bool {
    canonical_uuid(s).is_some_and(|c| c == s)
}

/// Reads `n` ASCII digits at `*i`, advancing it.
fn digits(b: &[u8], i: &mut usize, n: usize) -> Option<u32> {
    let part = b.get(*i..*i + n)?;
    if !part.iter().all(u8::is_ascii_digit) {
        return None;
    }
    *i += n;
    Some(part.iter().fold(0, |acc, d| acc * 10 + u32::from(d - b'0')))
}

fn expect(b: &[u8], i: &mut usize, c: u8) -> Option<()> {
    (b.get(*i) == Some(&c)).then(|| *i += 1)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

/// `YYYY-MM-DD` at `*i`: (year, month, day) of a real calendar date.
fn date_at(b: &[u8], i: &mut usize) -> Option<(u32, u32, u32)> {
    let year = digits(b, i, 4)?;
    expect(b, i, b'-')?;
    let month = digits(b, i, 2)?;
    expect(b, i, b'-')?;
    let day = digits(b, i, 2)?;
    let valid = year >= 1 && (1..=12).contains(&month) && day >= 1;
    (valid && day <= days_in_month(year, month)).then_some((year, month, day))
}

/// Whether `s` is a `Date`.
pub(crate) fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    date_at(b, &mut i).is_some() && i == b.len()
}

/// Whether `s` is a `DateTime` with an offset.
pub(crate) fn is_datetime(s: &str) -> bool {
    datetime(s.as_bytes(), true).is_some()
}

/// Whether `s` is a `DateTime`, with or without an offset: the form a cursor may carry, as
/// the view's JSON holds it (PostgreSQL prints a `timestamp` without one). Each dialect reads
/// such a value as it reads the row's own value, so the comparison stays consistent.
pub(crate) fn is_cursor_datetime(s: &str) -> bool {
    datetime(s.as_bytes(), false).is_some()
}

fn datetime(b: &[u8], need_offset: bool) -> Option<()> {
    let mut i = 0;
    let (year, month, day) = date_at(b, &mut i)?;
    match b.get(i) {
        Some(b'T' | b' ') => i += 1,
        _ => return None,
    }
    let hour = digits(b, &mut i, 2)?;
    expect(b, &mut i, b':')?;
    let minute = digits(b, &mut i, 2)?;
    if hour > 23 || minute > 59 {
        return None;
    }
    if b.get(i) == Some(&b':') {
        i += 1;
        if digits(b, &mut i, 2)? > 59 {
            return None;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == start || i - start > 9 {
                return None;
            }
        }
    }
    let offset_minutes: i64 = match b.get(i) {
        Some(b'Z') => {
            i += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            let sign = if *sign == b'-' { -1 } else { 1 };
            i += 1;
            let h = digits(b, &mut i, 2)?;
            expect(b, &mut i, b':')?;
            let m = digits(b, &mut i, 2)?;
            if h > 14 || m > 59 {
                return None;
            }
            sign * i64::from(h * 60 + m)
        }
        None if !need_offset => 0,
        _ => return None,
    };
    if i != b.len() {
        return None;
    }
    // The instant in UTC must stay within years 0001..9999, which SQLite can represent.
    let utc_minutes = i64::from(hour * 60 + minute) - offset_minutes;
    let past_end = (year, month, day) == (9999, 12, 31) && utc_minutes >= 24 * 60;
    let before_start = (year, month, day) == (1, 1, 1) && utc_minutes < 0;
    (!past_end && !before_start).then_some(())
}

/// Whether `s` is a finite number in plain decimal or exponent notation.
pub(crate) fn is_number_text(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let int_start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let mut mantissa_digits = i - int_start;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let frac_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        mantissa_digits += i - frac_start;
    }
    if mantissa_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == b.len() && as_f64(s).is_some()
}

/// A number's text as a 64-bit float, when it is one without overflow (`1e400`) or
/// underflow to zero (`1e-400`), either of which would compare as a different number.
pub(crate) fn as_f64(s: &str) -> Option<f64> {
    let x = s.parse::<f64>().ok().filter(|x| x.is_finite())?;
    let mantissa = s.split(['e', 'E']).next().unwrap_or_default();
    let nonzero = mantissa.bytes().any(|c| matches!(c, b'1'..=b'9'));
    (x != 0.0 || !nonzero).then_some(x)
}

/// Whether `s` is an integer within `i32` (GraphQL's `Int`).
pub(crate) fn is_int_text(s: &str) -> bool {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) && s.parse::<i32>().is_ok()
}

/// Whether any string (or object key) in a JSON value holds a NUL character.
pub(crate) fn has_nul(v: &Json) -> bool {
    match v {
        Json::String(s) => s.contains('\0'),
        Json::Array(items) => items.iter().any(has_nul),
        Json::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        Json::Null | Json::Bool(_) | Json::Number(_) => false,
    }
}

/// Why a LIKE pattern is refused, if it is: too long, or ending in a lone `\` (PostgreSQL
/// raises an error there, SQLite matches nothing).
pub(crate) fn pattern_problem(pattern: &str) -> Option<String> {
    if pattern.len() > MAX_PATTERN_BYTES {
        return Some(format!(
            "is longer than {MAX_PATTERN_BYTES} bytes ({} bytes)",
            pattern.len()
        ));
    }
    let trailing = pattern.bytes().rev().take_while(|c| *c == b'\\').count();
    (trailing % 2 == 1).then(|| "ends with a lone escape character `\\`".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_canonical() {
        let ok = "a0000000-0000-4000-8000-000000000004";
        assert_eq!(canonical_uuid(ok).as_deref(), Some(ok));
        assert_eq!(
            canonical_uuid("A0000000-0000-4000-8000-00000000000F").as_deref(),
            Some("a0000000-0000-4000-8000-00000000000f")
        );
        assert!(is_canonical_uuid(ok));
        assert!(!is_canonical_uuid("A0000000-0000-4000-8000-000000000004"));
        for bad in [
            "a000000-00000-4000-8000-000000000004", // misplaced dash, still 36 chars
            "a0000000000040008000000000000004",     // no dashes
            "{a0000000-0000-4000-8000-000000000004}",
            "a0000000-0000-4000-8000-00000000000g",
            "a0000000-0000-4000-8000-0000000000\u{0}4",
            "",
        ] {
            assert_eq!(canonical_uuid(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn datetimes_need_an_offset_and_a_real_date() {
        for ok in [
            "2024-03-01T00:00:00Z",
            "2024-03-01T01:00:00+01:00",
            "2024-03-01 01:00:00.123456789-05:30",
            "2024-02-29T10:00Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
        ] {
            assert!(is_datetime(ok), "{ok}");
        }
        assert!(is_cursor_datetime("2024-03-01T00:00:00"));
        assert!(!is_cursor_datetime("yesterday"));
        for bad in [
            "yesterday",
            "now",
            "2024-03-01T00:00:00",          // no offset
            "2024-03-01",                   // a date
            "2023-02-29T10:00:00Z",         // not a leap year
            "2024-02-30T10:00:00Z",         // SQLite would roll it over to March 1st
            "2024-01-03t10:00:00z",         // SQLite reads lowercase as NULL
            "2024-01-03T24:00:00Z",         // SQLite reads the next day, PostgreSQL too
            "2024-01-03T10:00:60Z",         // leap second
            "2024-01-03T10:00:00.Z",        // empty fraction
            "2024-01-03T10:00:00+0100",     // SQLite needs the colon
            "2024-01-03T10:00:00+15:00",    // no such offset
            "9999-12-31T23:59:59-01:00",    // past what SQLite represents
            "0001-01-01T00:00:00+01:00",    // before it
            "2024-01-03T10:00:00Z\nforged", // trailing text
            "0000-01-01T00:00:00Z",
            "",
        ] {
            assert!(!is_datetime(bad), "{bad:?}");
        }
    }

    #[test]
    fn dates_are_calendar_dates() {
        assert!(is_date("2024-02-29"));
        assert!(is_date("9999-12-31"));
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-04-31",
            "0000-01-01",
            "2024-1-1",
            "2024-01-01T00:00:00Z",
            "today",
        ] {
            assert!(!is_date(bad), "{bad:?}");
        }
    }

    #[test]
    fn numbers_are_finite_decimals() {
        for ok in [
            "1",
            "-1.5",
            "+2",
            ".5",
            "5.",
            "1e308",
            "1E-5",
            "120.00",
            "0",
            "0.00e-999",
        ] {
            assert!(is_number_text(ok), "{ok}");
        }
        for bad in [
            "1e400",
            "NaN",
            "inf",
            "Infinity",
            "-infinity",
            "0x10",
            " 1",
            "1 ",
            "1_000",
            "e5",
            ".",
            "-",
            "",
            "1e",
            "1.2.3",
            "1\u{0}",
        ] {
            assert!(!is_number_text(bad), "{bad:?}");
        }
        assert!(is_int_text("2147483647"));
        assert!(is_int_text("-2147483648"));
        assert!(!is_int_text("2147483648"));
        assert!(!is_int_text("1.0"));
        assert!(!is_int_text("+"));
    }

    #[test]
    fn nul_is_found_anywhere_in_json() {
        assert!(!has_nul(&serde_json::json!({"a": ["b", 1, null]})));
        assert!(has_nul(&serde_json::json!({"a": ["b\u{0}"]})));
        assert!(has_nul(&serde_json::json!({"a\u{0}": 1})));
    }

    #[test]
    fn patterns_are_bounded_and_well_formed() {
        assert_eq!(pattern_problem("%\\%%"), None);
        assert_eq!(pattern_problem("a\\\\"), None);
        assert!(pattern_problem("a\\").is_some());
        assert!(pattern_problem("a\\\\\\").is_some());
        assert_eq!(pattern_problem(&"x".repeat(MAX_PATTERN_BYTES)), None);
        assert!(pattern_problem(&"x".repeat(MAX_PATTERN_BYTES + 1)).is_some());
    }
}
