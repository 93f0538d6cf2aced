//! What the server records about a request in its log. Values that come from clients
//! (operation names, methods, paths, database messages that quote an input value) are
//! clipped where they are recorded, so a 1 MB `operationName` costs the log a few hundred
//! bytes whatever the output format. Control characters are the formatter's job: the
//! binary's text format escapes them and JSON escapes them by construction, so a value with a
//! newline never starts a line of its own.

use std::borrow::Cow;

/// The most bytes of one client-derived value that reach the log.
pub(crate) const MAX_LOGGED: usize = 512;

/// `value`, cut to [`MAX_LOGGED`] bytes (on a character boundary) with a note of how much
/// was left out.
pub(crate) fn clip(value: &str) -> Cow<'_, str> {
    if value.len() <= MAX_LOGGED {
        return Cow::Borrowed(value);
    }
    let mut end = MAX_LOGGED;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!(
        "{}…[{} more bytes]",
        &value[..end],
        value.len() - end
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_pass_and_long_ones_are_cut_on_a_char_boundary() {
        assert_eq!(clip("Orders"), "Orders");
        let huge = "é".repeat(1_000_000);
        let clipped = clip(&huge);
        assert!(clipped.len() < MAX_LOGGED + 40, "{}", clipped.len());
        assert!(clipped.ends_with("…[1999488 more bytes]"), "{clipped}");
    }
}
