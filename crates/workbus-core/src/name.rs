//! The rules every name must follow: pools, pool types, queues and workers.
//!
//! ## The rule
//!
//! A name is at most [`MAX_NAME_CHARS`] characters, is not empty or only
//! white space, and holds no character that hides what the name says:
//! control characters (C0, DEL, C1), line and paragraph separators, bidi
//! controls (U+061C, U+200E/F, U+202A–U+202E, U+2066–U+2069), and invisible
//! format characters (soft hyphen, zero-width space, non-joiner and joiner,
//! word joiner and the invisible operators, the byte-order mark). Pool and
//! queue names (and pool types) also refuse Prefect's `/ % & > <`.
//!
//! A work pool's name is reserved when it starts with `prefect` once folded:
//! NFKC (so fullwidth `ｐｒｅｆｅｃｔ` counts), then lowercase, then the
//! confusable skeleton of Unicode TS #39 (so Cyrillic `рrefect` counts).
//!
//! ## Why a length limit
//!
//! Every name is also a path segment. Without a bound, a name could be
//! created whose routes no HTTP server would accept (a 1,000,000-character
//! name is a 431 on every route with it in the path). 255 characters, at most
//! 4 bytes each and 3 characters per percent-encoded byte, keep every path
//! under 8 KiB.

use unicode_normalization::UnicodeNormalization;

use crate::Error;

/// The most characters (Unicode scalar values) a name may have.
pub const MAX_NAME_CHARS: usize = 255;

/// What an error shows of a name: its first 64 characters, so that a refusal
/// never echoes a huge name back.
pub(crate) fn shown(name: &str) -> String {
    const SHOWN: usize = 64;
    match name.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{}…", &name[..cut]),
        None => name.to_owned(),
    }
}

/// Whether `c` hides or reorders text instead of showing it.
fn is_hidden(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}'    // C0, DEL, C1
        | '\u{ad}'                                   // soft hyphen
        | '\u{61c}'                                  // Arabic letter mark
        | '\u{180e}'                                 // Mongolian vowel separator
        | '\u{200b}'..='\u{200f}'                    // zero-width space, ZWNJ, ZWJ, LRM, RLM
        | '\u{2028}' | '\u{2029}'                    // line and paragraph separators
        | '\u{202a}'..='\u{202e}'                    // bidi embeddings and overrides
        | '\u{2060}'..='\u{2064}'                    // word joiner, invisible operators
        | '\u{2066}'..='\u{2069}'                    // bidi isolates
        | '\u{feff}'                                 // byte-order mark
    )
}

fn invalid(name: &str, reason: &'static str) -> Error {
    Error::InvalidName {
        name: shown(name),
        reason: reason.into(),
    }
}

/// The rule shared by every kind of name: length, not blank, nothing hidden.
fn check_text(name: &str) -> Result<(), Error> {
    if name.trim().is_empty() {
        return Err(invalid(
            name,
            "a name must not be empty or only white space",
        ));
    }
    if name.chars().nth(MAX_NAME_CHARS).is_some() {
        return Err(invalid(name, "a name must be at most 255 characters"));
    }
    if name.chars().any(is_hidden) {
        return Err(invalid(
            name,
            "a name must not contain control, bidi or invisible format characters",
        ));
    }
    Ok(())
}

/// The rule for pool, pool type and queue names: the shared rule (module docs) and none of
/// Prefect's `/ % & > <`.
pub fn validate_name(name: &str) -> Result<(), Error> {
    check_text(name)?;
    if name.contains(['/', '%', '&', '>', '<']) {
        return Err(invalid(name, "a name must not contain / % & > <"));
    }
    Ok(())
}

/// The rule for worker names: Prefect takes any string, so only what makes a
/// name unreachable or misleading is refused.
pub fn validate_worker_name(name: &str) -> Result<(), Error> {
    check_text(name)
}

/// Whether a pool name is reserved for Prefect, after folding (see the module docs).
pub fn is_reserved_pool_name(name: &str) -> bool {
    let folded: String = name.nfkc().flat_map(char::to_lowercase).collect();
    let skeleton: String = unicode_security::skeleton(&folded)
        .flat_map(char::to_lowercase)
        .collect();
    let reserved: String = unicode_security::skeleton("prefect").collect();
    skeleton.starts_with(&reserved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_after_folding() {
        for name in [
            "prefect",
            "Prefect-pool",
            "PREFECT",
            "\u{440}refect",                                            // Cyrillic р
            "\u{420}REFECT",                                            // Cyrillic Р
            "\u{ff50}\u{ff52}\u{ff45}\u{ff46}\u{ff45}\u{ff43}\u{ff54}", // fullwidth
            "pr\u{435}f\u{435}ct",                                      // Cyrillic е
        ] {
            assert!(is_reserved_pool_name(name), "{name:?} should be reserved");
        }
        for name in ["etl", "my-prefect", "prefab", "pref", "perfect"] {
            assert!(!is_reserved_pool_name(name), "{name:?} is free");
        }
    }

    #[test]
    fn hidden_and_long_names_are_refused() {
        for bad in [
            "",
            "  ",
            "\t",
            "a\0b",
            "a\rb",
            "a\nb",
            "a\tb",
            "a\u{202e}b",
            "a\u{200d}b",
            "a\u{2066}b",
            "\u{feff}etl",
            "a/b",
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(validate_name(&"x".repeat(MAX_NAME_CHARS)).is_ok());
        assert!(validate_name(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(validate_name(&"é".repeat(MAX_NAME_CHARS)).is_ok());
        assert!(validate_name("ETL pool (GPU) ünïcode 🚀").is_ok());
        assert!(validate_worker_name("ProcessWorker 1f2e/a").is_ok());
        assert!(validate_worker_name("w\u{202e}").is_err());
    }

    #[test]
    fn errors_show_a_short_name() {
        let Err(Error::InvalidName { name, .. }) = validate_name(&"y".repeat(10_000)) else {
            panic!("a long name is refused");
        };
        assert_eq!(name.chars().count(), 65);
    }
}
