//! NATS names: subjects from event names, durable consumer names from node names.
//!
//! NATS subjects are dot-separated tokens that may not be empty nor contain
//! whitespace, and `*` and `>` are wildcards. Prefect event names are dotted
//! already (`prefect.work-pool.ready`), so the subject of an event is the
//! prefix followed by the event name, with anything NATS would refuse
//! replaced by `_`. Consumer names are stricter still (no dots).

/// The subject an event is published on: `<prefix>.<event name>`, where
/// characters NATS refuses in a subject token (whitespace, `*`, `>`) and empty
/// tokens become `_`.
///
/// # Examples
///
/// ```
/// use workbus_nats::subject_for;
///
/// assert_eq!(
///     subject_for("workbus.events", "prefect.work-pool.ready"),
///     "workbus.events.prefect.work-pool.ready"
/// );
/// assert_eq!(subject_for("workbus.events", "a b.>..c"), "workbus.events.a_b._._.c");
/// ```
pub fn subject_for(prefix: &str, event: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1 + event.len());
    out.push_str(prefix);
    for token in event.split('.') {
        out.push('.');
        if token.is_empty() {
            out.push('_');
            continue;
        }
        out.extend(token.chars().map(|c| {
            if c.is_whitespace() || c.is_control() || c == '*' || c == '>' {
                '_'
            } else {
                c
            }
        }));
    }
    out
}

/// The durable consumer name of a node: the node name when it is made of
/// ASCII letters, digits, `-` and `_` only; otherwise those characters kept,
/// the others replaced by `_`, and a hash of the full name appended so that
/// two different node names never share a consumer.
///
/// # Examples
///
/// ```
/// use workbus_nats::durable_name;
///
/// assert_eq!(durable_name("node-a"), "node-a");
/// let odd = durable_name("host.example/1");
/// assert!(odd.starts_with("host_example_1-"));
/// assert_ne!(odd, durable_name("host_example_1"));
/// ```
pub fn durable_name(node: &str) -> String {
    let clean: String = node
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean == node && !clean.is_empty() {
        clean
    } else {
        format!("{clean}-{:08x}", fnv1a(node.as_bytes()) as u32)
    }
}

/// Whether `subject` is a valid literal subject prefix (non-empty tokens, no wildcards, no whitespace).
pub(crate) fn valid_prefix(subject: &str) -> bool {
    !subject.is_empty()
        && subject.split('.').all(|t| {
            !t.is_empty()
                && !t
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '*' || c == '>')
        })
}

/// Whether `name` is a valid JetStream stream name.
pub(crate) fn valid_stream_name(name: &str) -> bool {
    !name.is_empty()
        && !name.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '.' | '*' | '>' | '/' | '\\')
        })
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_keep_dotted_event_names() {
        assert_eq!(
            subject_for("workbus.events", "prefect.work-queue.not-ready"),
            "workbus.events.prefect.work-queue.not-ready"
        );
        assert_eq!(subject_for("p", ".x."), "p._.x._");
        assert_eq!(subject_for("p", "*\t"), "p.__");
    }

    #[test]
    fn durable_names_are_safe_and_distinct() {
        assert_eq!(durable_name("a_b-1"), "a_b-1");
        assert_ne!(durable_name("a.b"), durable_name("a_b"));
        assert_ne!(durable_name("a.b"), durable_name("a*b"));
        assert!(durable_name("").starts_with('-'));
        assert!(durable_name("a.b")
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn prefixes_and_stream_names_are_checked() {
        assert!(valid_prefix("workbus.events"));
        assert!(!valid_prefix("workbus.>"));
        assert!(!valid_prefix("workbus..events"));
        assert!(!valid_prefix(""));
        assert!(valid_stream_name("WORKBUS_EVENTS"));
        assert!(!valid_stream_name("a.b"));
        assert!(!valid_stream_name(""));
    }
}
