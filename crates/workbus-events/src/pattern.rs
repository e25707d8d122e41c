//! Label patterns: Python's `fnmatch.fnmatchcase` globs with a leading `!` to negate.
//!
//! Prefect matches resource labels with `fnmatchcase` (since 3.6.23). Its
//! rules differ from shell and path globs in small ways (no path separators,
//! no `**`, an unclosed `[` is a literal), so the matcher is written here to
//! those rules rather than borrowed from a path-glob crate.
//!
//! Prefect 3.9.1's server strips one leading `!` (negation) and passes the rest to
//! `fnmatch.fnmatchcase` (`prefect.server.events.schemas.events.matches`). The test
//! `label_patterns_match_as_python_fnmatchcase` holds this matcher to the answers
//! Python 3.11 gave on `tests/fnmatch/corpus.json` (written by `tests/fnmatch/make_corpus.py`).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Lit(char),
    AnyChar,
    AnySeq,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A compiled label pattern, such as `prefect.work-pool.*`, `!process` or `[a-c]?`.
///
/// A value that is missing never matches, not even a negated pattern (Prefect's rule).
///
/// # Examples
///
/// ```
/// use workbus_events::LabelPattern;
///
/// let p = LabelPattern::new("prefect.work-*.[!x]*");
/// assert!(p.matches(Some("prefect.work-pool.abc")));
/// assert!(!p.matches(Some("prefect.work-pool.xyz")));
/// assert!(LabelPattern::new("!process").matches(Some("docker")));
/// assert!(!LabelPattern::new("!process").matches(None));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct LabelPattern {
    raw: String,
    negated: bool,
    kind: Kind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Exact(String),
    Glob(Vec<Token>),
}

impl LabelPattern {
    /// Compiles a pattern; every string is a valid pattern.
    pub fn new(pattern: &str) -> Self {
        let (negated, body) = match pattern.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, pattern),
        };
        let tokens = compile(body);
        let kind = if tokens.iter().all(|t| matches!(t, Token::Lit(_))) {
            Kind::Exact(body.to_owned())
        } else {
            Kind::Glob(tokens)
        };
        LabelPattern {
            raw: pattern.to_owned(),
            negated,
            kind,
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The exact value this pattern requires, when it is a plain positive literal.
    pub fn exact(&self) -> Option<&str> {
        match (&self.kind, self.negated) {
            (Kind::Exact(s), false) => Some(s),
            _ => None,
        }
    }

    /// Whether `value` matches; `None` (a missing label) never does.
    pub fn matches(&self, value: Option<&str>) -> bool {
        let Some(value) = value else { return false };
        let hit = match &self.kind {
            Kind::Exact(s) => s == value,
            Kind::Glob(tokens) => glob_match(tokens, value),
        };
        hit != self.negated
    }
}

fn compile(p: &str) -> Vec<Token> {
    let chars: Vec<char> = p.chars().collect();
    let mut out = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => {
                if out.last() != Some(&Token::AnySeq) {
                    out.push(Token::AnySeq);
                }
                i += 1;
            }
            '?' => {
                out.push(Token::AnyChar);
                i += 1;
            }
            '[' => match class(&chars, i + 1) {
                Some((token, next)) => {
                    out.push(token);
                    i = next;
                }
                None => {
                    out.push(Token::Lit('['));
                    i += 1;
                }
            },
            c => {
                out.push(Token::Lit(c));
                i += 1;
            }
        }
    }
    out
}

/// Parses a class starting after `[`; `None` when it never closes (then `[` is literal).
fn class(chars: &[char], start: usize) -> Option<(Token, usize)> {
    let mut j = start;
    let negated = chars.get(j) == Some(&'!');
    if negated {
        j += 1;
    }
    // A `]` right after `[` or `[!` is a member, not the end.
    let body_start = j;
    if chars.get(j) == Some(&']') {
        j += 1;
    }
    while j < chars.len() && chars[j] != ']' {
        j += 1;
    }
    if j >= chars.len() {
        return None;
    }
    let body = &chars[body_start..j];
    let mut ranges = Vec::new();
    let mut k = 0;
    while k < body.len() {
        if k + 2 < body.len() && body[k + 1] == '-' {
            // Python drops reversed ranges such as `z-a`: they match nothing.
            if body[k] <= body[k + 2] {
                ranges.push((body[k], body[k + 2]));
            }
            k += 3;
        } else {
            ranges.push((body[k], body[k]));
            k += 1;
        }
    }
    Some((Token::Class { negated, ranges }, j + 1))
}

fn token_matches(t: &Token, c: char) -> bool {
    match t {
        Token::Lit(l) => *l == c,
        Token::AnyChar => true,
        Token::Class { negated, ranges } => {
            ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
        }
        Token::AnySeq => false,
    }
}

/// Iterative wildcard matching with backtracking to the last `*`: O(n·m) at worst.
fn glob_match(tokens: &[Token], value: &str) -> bool {
    let text: Vec<char> = value.chars().collect();
    let (mut t, mut v) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while v < text.len() {
        if t < tokens.len() && tokens[t] == Token::AnySeq {
            star = Some((t, v));
            t += 1;
        } else if t < tokens.len() && token_matches(&tokens[t], text[v]) {
            t += 1;
            v += 1;
        } else if let Some((st, sv)) = star {
            t = st + 1;
            v = sv + 1;
            star = Some((st, sv + 1));
        } else {
            return false;
        }
    }
    tokens[t..].iter().all(|tok| *tok == Token::AnySeq)
}

impl fmt::Debug for LabelPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.raw)
    }
}

impl Serialize for LabelPattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

impl<'de> Deserialize<'de> for LabelPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(LabelPattern::new(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, v: &str) -> bool {
        LabelPattern::new(p).matches(Some(v))
    }

    #[test]
    fn fnmatchcase_rules() {
        assert!(m("abc", "abc"));
        assert!(!m("abc", "abcd"));
        assert!(m("a*", "a"));
        assert!(m("a*c", "abbbc"));
        assert!(!m("a*c", "abbbd"));
        assert!(m("*", ""));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("[abc]x", "bx"));
        assert!(!m("[!abc]x", "bx"));
        assert!(m("[a-c]", "b"));
        assert!(!m("[z-a]", "m"));
        assert!(m("[]]", "]"));
        assert!(m("[!]]", "a"));
        assert!(m("a[", "a["));
        assert!(m("a**b", "axxb"));
        assert!(!m("ABC", "abc"), "case-sensitive");
        assert!(m("*.*.*", "prefect.work-pool.x"));
        assert!(m("é*", "éa"));
    }

    #[test]
    fn negation_and_missing() {
        assert!(m("!abc", "abd"));
        assert!(!m("!abc", "abc"));
        assert!(!LabelPattern::new("!abc").matches(None));
        assert!(!LabelPattern::new("*").matches(None));
    }

    #[test]
    fn exact_hint() {
        assert_eq!(LabelPattern::new("x.y").exact(), Some("x.y"));
        assert_eq!(LabelPattern::new("x*").exact(), None);
        assert_eq!(LabelPattern::new("!x").exact(), None);
    }
}
