//! The index from event names to the triggers that may care, so that the cost of
//! an event does not grow with the automations that cannot match it.
//!
//! Each event trigger is filed under the names of its `expect` and `after` (or
//! under "every event" when `expect` is empty), as Prefect files them. Prefect
//! then tries every filed pattern on every event; here a plain name is a hash
//! lookup, `name.*` a lookup per distinct prefix length, and only the rare
//! pattern with a wildcard elsewhere is tried one by one.

use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;
use workbus_events::LabelPattern;

use crate::model::EventTrigger;

/// A trigger: its automation and its place in the automation's trigger tree.
pub(crate) type TriggerRef = (Uuid, usize);

#[derive(Default)]
pub(crate) struct Index {
    exact: HashMap<String, Vec<TriggerRef>>,
    /// By prefix length, then prefix: `prefect.work-pool.*` is under 18.
    prefixes: BTreeMap<usize, HashMap<String, Vec<TriggerRef>>>,
    globs: Vec<(Glob, TriggerRef)>,
    every: Vec<TriggerRef>,
}

/// A pattern with wildcards not only at its end, matched as `fnmatch.fnmatchcase`
/// (where a leading `!` is a plain character, unlike in label patterns).
struct Glob {
    literal_bang: bool,
    pattern: LabelPattern,
}

impl Glob {
    fn new(p: &str) -> Self {
        match p.strip_prefix('!') {
            Some(rest) => Glob {
                literal_bang: true,
                pattern: LabelPattern::new(&format!("?{rest}")),
            },
            None => Glob {
                literal_bang: false,
                pattern: LabelPattern::new(p),
            },
        }
    }

    fn matches(&self, name: &str) -> bool {
        (!self.literal_bang || name.starts_with('!')) && self.pattern.matches(Some(name))
    }
}

fn keys(trigger: &EventTrigger) -> Vec<&str> {
    if trigger.expect.is_empty() {
        return vec!["*"];
    }
    let mut keys: Vec<&str> = trigger
        .expect
        .iter()
        .chain(&trigger.after)
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

impl Index {
    pub(crate) fn insert(&mut self, r: TriggerRef, trigger: &EventTrigger) {
        for key in keys(trigger) {
            if key == "*" {
                self.every.push(r);
            } else if !is_glob(key) {
                self.exact.entry(key.to_owned()).or_default().push(r);
            } else if let Some(prefix) = key.strip_suffix('*').filter(|p| !is_glob(p)) {
                self.prefixes
                    .entry(prefix.len())
                    .or_default()
                    .entry(prefix.to_owned())
                    .or_default()
                    .push(r);
            } else {
                self.globs.push((Glob::new(key), r));
            }
        }
    }

    /// Forgets every trigger of the automation.
    pub(crate) fn remove(&mut self, automation: Uuid) {
        let keep = |r: &TriggerRef| r.0 != automation;
        self.exact.retain(|_, v| {
            v.retain(keep);
            !v.is_empty()
        });
        self.prefixes.retain(|_, m| {
            m.retain(|_, v| {
                v.retain(keep);
                !v.is_empty()
            });
            !m.is_empty()
        });
        self.globs.retain(|(_, r)| keep(r));
        self.every.retain(keep);
    }

    /// The triggers filed under a pattern that matches this event name, each once.
    pub(crate) fn candidates(&self, name: &str, out: &mut Vec<TriggerRef>) {
        out.clear();
        out.extend_from_slice(&self.every);
        if let Some(v) = self.exact.get(name) {
            out.extend_from_slice(v);
        }
        for (&len, by_prefix) in &self.prefixes {
            if len > name.len() {
                break;
            }
            if let Some(v) = name.get(..len).and_then(|p| by_prefix.get(p)) {
                out.extend_from_slice(v);
            }
        }
        for (glob, r) in &self.globs {
            if glob.matches(name) {
                out.push(*r);
            }
        }
        if out.len() > 1 {
            out.sort_unstable();
            out.dedup();
        }
    }
}

/// Prefect's `EventTrigger.covers` on the name: its `expect` and `after` as one
/// regular expression where `*` stands for one character or more, matched at the
/// start of the name (Python's `re.match`); empty `expect`: any name.
pub(crate) fn covers_name(trigger: &EventTrigger, name: &str) -> bool {
    if trigger.expect.is_empty() {
        return !name.is_empty();
    }
    trigger
        .expect
        .iter()
        .chain(&trigger.after)
        .any(|p| starts_with_pattern(p, name))
}

fn starts_with_pattern(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    for part in parts {
        // `.+` then the literal: the earliest place after at least one character.
        let mut chars = rest.chars();
        if chars.next().is_none() {
            return false;
        }
        let after_one = chars.as_str();
        match after_one.find(part) {
            Some(i) => rest = &after_one[i + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Posture;

    fn trigger(expect: &[&str]) -> EventTrigger {
        EventTrigger::new(Posture::Reactive).expect(expect.iter().copied())
    }

    #[test]
    fn names_reach_exact_prefix_and_glob_triggers_only() {
        let a = Uuid::from_u128(1);
        let mut index = Index::default();
        index.insert((a, 0), &trigger(&["prefect.work-pool.ready"]));
        index.insert((a, 1), &trigger(&["prefect.work-pool.*"]));
        index.insert((a, 2), &trigger(&["prefect.*.ready"]));
        index.insert((a, 3), &trigger(&[]));
        index.insert((a, 4), &trigger(&["prefect.work-queue.*"]));
        let mut out = Vec::new();
        index.candidates("prefect.work-pool.ready", &mut out);
        assert_eq!(out, vec![(a, 0), (a, 1), (a, 2), (a, 3)]);
        index.candidates("prefect.flow-run.Running", &mut out);
        assert_eq!(out, vec![(a, 3)]);
        index.remove(a);
        index.candidates("prefect.work-pool.ready", &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn covering_names_follows_prefects_regex() {
        assert!(covers_name(
            &trigger(&["prefect.work-pool.*"]),
            "prefect.work-pool.ready"
        ));
        assert!(!covers_name(
            &trigger(&["prefect.work-pool.*"]),
            "prefect.work-pool."
        ));
        assert!(covers_name(&trigger(&["a.*.c"]), "a.b.c.d"));
        assert!(!covers_name(&trigger(&["a.*.c"]), "a..c"));
        assert!(covers_name(&trigger(&[]), "anything"));
    }
}
