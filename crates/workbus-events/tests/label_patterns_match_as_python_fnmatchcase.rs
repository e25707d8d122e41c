//! `LabelPattern` answers as Prefect 3.9.1's server does: one leading `!` negates, and the
//! rest is Python's `fnmatch.fnmatchcase` (`prefect.server.events.schemas.events.matches`).
//!
//! The expectations in `tests/fnmatch/corpus.json` were answered by Python 3.11 itself;
//! `tests/fnmatch/make_corpus.py` rewrites them. `WORKBUS_FNMATCH_CORPUS` names another
//! corpus of the same shape (for a bigger sweep, `make_corpus.py --random 300000 --out …`).

use workbus_events::LabelPattern;

#[test]
fn label_patterns_match_as_python_fnmatchcase() {
    let path = std::env::var("WORKBUS_FNMATCH_CORPUS").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fnmatch/corpus.json").to_owned()
    });
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let corpus: Vec<(String, String, bool)> = serde_json::from_str(&text).unwrap();
    assert!(corpus.len() > 1000, "{path} holds {} cases", corpus.len());

    let mut wrong = Vec::new();
    for (pattern, value, python) in &corpus {
        // Prefect strips exactly one `!` and negates, so `!` + any fnmatch pattern is the
        // negation of that pattern, even one that itself begins with `!`.
        let negated = LabelPattern::new(&format!("!{pattern}")).matches(Some(value));
        if negated == *python {
            wrong.push(format!(
                "!{pattern:?} on {value:?}: {negated}, Python: {}",
                !python
            ));
        }
        // A pattern that begins with `!` is a negation to Prefect, never a literal `!`.
        if !pattern.starts_with('!') {
            let ours = LabelPattern::new(pattern).matches(Some(value));
            if ours != *python {
                wrong.push(format!(
                    "{pattern:?} on {value:?}: {ours}, Python: {python}"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases differ from Python:\n{}",
        wrong.len(),
        corpus.len(),
        wrong.join("\n")
    );
}
