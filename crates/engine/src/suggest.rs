//! "Did you mean …?": the closest of several names to a misspelt one, for config keys and
//! for `fraiseql check`'s data keys.

/// How similar (Jaro-Winkler) an unknown key must be to a valid one to be suggested: this
/// catches typos, doubled or swapped letters and `-` for `_`.
const SUGGEST_THRESHOLD: f64 = 0.8;

/// Jaro-Winkler alone rates a long shared tail highly (`observers` vs `server`: 0.89), so a
/// candidate must also start with the same letter or be a few edits away (normalized
/// Damerau-Levenshtein, where `observers`/`server` scores 0.67 and `sever`/`server` 0.83).
const SUGGEST_MIN_EDIT_SIMILARITY: f64 = 0.7;

/// The candidate closest to `key` (case-insensitive), when it is close enough to be a typo.
pub fn closest<'a>(key: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let key = key.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|name| (strsim::jaro_winkler(&key, name), name))
        .filter(|(score, name)| {
            *score >= SUGGEST_THRESHOLD
                && (key.chars().next() == name.chars().next()
                    || strsim::normalized_damerau_levenshtein(&key, name)
                        >= SUGGEST_MIN_EDIT_SIMILARITY)
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn suggestions_need_a_close_match() {
        let root = [
            "project",
            "schema",
            "server",
            "database",
            "databases",
            "query_defaults",
        ];
        assert_eq!(closest("sever", root), Some("server"));
        assert_eq!(closest("erver", root), Some("server"));
        assert_eq!(closest("Databse", root), Some("database"));
        assert_eq!(closest("observers", root), None);
        assert_eq!(closest("queries", root), None);
        assert_eq!(closest("ur", ["url", "type"]), Some("url"));
        assert_eq!(
            closest("pool-max", ["pool_min", "pool_max"]),
            Some("pool_max")
        );
    }
}
