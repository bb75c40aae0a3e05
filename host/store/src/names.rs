//! Index names and index patterns, with the rules OpenSearch applies, so a
//! name that works here works on a cluster too.

use crate::error::{StoreError, invalid};

/// Checks an index name the way OpenSearch does.
pub fn validate_index_name(name: &str) -> Result<(), StoreError> {
    let why = if name.is_empty() {
        Some("is empty")
    } else if name.len() > 255 {
        Some("is longer than 255 bytes")
    } else if name != name.to_lowercase() {
        Some("must be lowercase")
    } else if name.starts_with(['_', '-', '+']) {
        Some("must not start with `_`, `-` or `+`")
    } else if name == "." || name == ".." {
        Some("must not be `.` or `..`")
    } else if name.chars().any(|c| {
        matches!(
            c,
            '\\' | '/' | '*' | '?' | '"' | '<' | '>' | '|' | ' ' | ',' | '#' | ':'
        )
    }) {
        Some("must not contain `\\ / * ? \" < > | , # :` or spaces")
    } else {
        None
    };
    match why {
        Some(why) => Err(invalid(format!("index name `{name}` {why}"))),
        None => Ok(()),
    }
}

/// Whether `name` matches `pattern` (`*` matches any run of characters).
/// A comma-separated pattern matches when any part does.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    pattern
        .split(',')
        .map(str::trim)
        .any(|part| part == "_all" || wildcard(part.as_bytes(), name.as_bytes()))
}

fn wildcard(pattern: &[u8], text: &[u8]) -> bool {
    // Iterative matcher with backtracking to the last `*`.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Whether a pattern names indices by wildcard (a miss is an empty answer)
/// rather than by exact name (a miss is an error), as on a cluster.
pub fn is_wildcard(pattern: &str) -> bool {
    pattern.contains('*') || pattern.contains(',') || pattern == "_all"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_opensearch() {
        assert!(pattern_matches("logs-*", "logs-zeek-conn"));
        assert!(pattern_matches("logs-*-conn", "logs-zeek-conn"));
        assert!(pattern_matches("*", "x"));
        assert!(pattern_matches("a,logs-*", "logs-x"));
        assert!(!pattern_matches("logs-*", "alerts"));
        assert!(!pattern_matches("logs", "logs-x"));
    }

    #[test]
    fn bad_names_are_refused_with_the_reason() {
        assert!(validate_index_name("logs-zeek-conn").is_ok());
        for bad in ["Logs", "_x", "a*b", "a b", "", "a,b"] {
            assert!(validate_index_name(bad).is_err(), "{bad}");
        }
        let err = validate_index_name("Logs").unwrap_err().to_string();
        assert!(err.contains("lowercase"), "{err}");
    }
}
