//! Triggers: what an automation watches for.

use std::time::Duration;

use serde::de::Error as _;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use uuid::Uuid;
use workbus_events::LabelPattern;

use super::spec::{MatchRelated, ResourceSpec};
use super::within::Within;

/// The shortest window of a proactive trigger; `0` (or none) becomes this.
pub const MIN_PROACTIVE_WITHIN: Duration = Duration::from_secs(10);

/// Whether a trigger fires on the presence or on the absence of its events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Posture {
    /// Fires when `threshold` expected events came within the window.
    Reactive,
    /// Fires when fewer than `threshold` expected events came within the window,
    /// at the moment the window closes.
    Proactive,
}

/// A trigger: over events, or made of other triggers.
#[derive(Clone, Debug, PartialEq)]
pub enum Trigger {
    /// Fires on the presence or absence of events.
    Event(Box<EventTrigger>),
    /// Fires when enough of its triggers fired within its window.
    Compound(CompoundTrigger),
    /// Fires when all of its triggers fired, in order, within its window.
    Sequence(SequenceTrigger),
}

impl Trigger {
    /// Its id.
    pub fn id(&self) -> Uuid {
        match self {
            Trigger::Event(t) => t.id,
            Trigger::Compound(t) => t.id,
            Trigger::Sequence(t) => t.id,
        }
    }

    /// Its type as Prefect names it: `event`, `compound` or `sequence`.
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Event(_) => "event",
            Trigger::Compound(_) => "compound",
            Trigger::Sequence(_) => "sequence",
        }
    }

    /// Gives this trigger and every trigger inside it a new id, as Prefect does on
    /// every create and update (ids sent by the client are not kept).
    pub fn reset_ids(&mut self) {
        match self {
            Trigger::Event(t) => t.id = Uuid::new_v4(),
            Trigger::Compound(CompoundTrigger { id, triggers, .. })
            | Trigger::Sequence(SequenceTrigger { id, triggers, .. }) => {
                *id = Uuid::new_v4();
                triggers.iter_mut().for_each(Trigger::reset_ids);
            }
        }
    }

    /// This trigger and every trigger inside it, depth first.
    pub fn all(&self) -> Vec<&Trigger> {
        let mut out = vec![self];
        if let Trigger::Compound(CompoundTrigger { triggers, .. })
        | Trigger::Sequence(SequenceTrigger { triggers, .. }) = self
        {
            for t in triggers {
                out.extend(t.all());
            }
        }
        out
    }
}

impl From<EventTrigger> for Trigger {
    fn from(t: EventTrigger) -> Self {
        Trigger::Event(Box::new(t))
    }
}

impl From<CompoundTrigger> for Trigger {
    fn from(t: CompoundTrigger) -> Self {
        Trigger::Compound(t)
    }
}

impl From<SequenceTrigger> for Trigger {
    fn from(t: SequenceTrigger) -> Self {
        Trigger::Sequence(t)
    }
}

/// A trigger over events (Prefect's `EventTrigger`).
///
/// # Examples
///
/// "A work pool has been not ready for five minutes":
///
/// ```
/// use std::time::Duration;
/// use workbus_automations::{EventTrigger, Posture, ResourceSpec};
///
/// let trigger = EventTrigger::new(Posture::Proactive)
///     .matching(ResourceSpec::new().with("prefect.resource.id", ["prefect.work-pool.*"]))
///     .after(["prefect.work-pool.not-ready"])
///     .expect(["prefect.work-pool.ready"])
///     .for_each(["prefect.resource.id"])
///     .within(Duration::from_secs(300))
///     .unwrap();
/// assert_eq!(trigger.within.get(), Duration::from_secs(300));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct EventTrigger {
    /// Its id.
    pub id: Uuid,
    /// Labels of the event's resource.
    pub match_: ResourceSpec,
    /// Labels of the event's related resources.
    pub match_related: MatchRelated,
    /// Events that open a window (`*` at the end is a wildcard); empty: windows roll.
    pub after: Vec<String>,
    /// Events counted in a window; empty: every event.
    pub expect: Vec<String>,
    /// Labels whose values split the evaluation into buckets
    /// (`related:<role>:<label>` reaches a related resource), sorted.
    pub for_each: Vec<String>,
    /// Presence or absence.
    pub posture: Posture,
    /// How many events.
    pub threshold: i64,
    /// Over how long.
    pub within: Within,
    after_patterns: Vec<LabelPattern>,
    expect_patterns: Vec<LabelPattern>,
}

impl EventTrigger {
    /// A trigger of this posture, matching every event and resource, threshold 1,
    /// window 0 (10 s when proactive).
    pub fn new(posture: Posture) -> Self {
        let within = match posture {
            Posture::Reactive => Within::ZERO,
            Posture::Proactive => Within(MIN_PROACTIVE_WITHIN),
        };
        EventTrigger {
            id: Uuid::new_v4(),
            match_: ResourceSpec::new(),
            match_related: MatchRelated::default(),
            after: Vec::new(),
            expect: Vec::new(),
            for_each: Vec::new(),
            posture,
            threshold: 1,
            within,
            after_patterns: Vec::new(),
            expect_patterns: Vec::new(),
        }
    }

    /// Sets `match`.
    pub fn matching(mut self, spec: ResourceSpec) -> Self {
        self.match_ = spec;
        self
    }

    /// Sets `match_related` to one specification.
    pub fn matching_related(mut self, spec: ResourceSpec) -> Self {
        self.match_related = MatchRelated::One(spec);
        self
    }

    /// Sets `after`.
    pub fn after<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.after = dedup(names.into_iter().map(Into::into));
        self.after_patterns = compile(&self.after);
        self
    }

    /// Sets `expect`.
    pub fn expect<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.expect = dedup(names.into_iter().map(Into::into));
        self.expect_patterns = compile(&self.expect);
        self
    }

    /// Sets `for_each`, kept sorted (as Prefect sorts it to make bucket keys; it is a
    /// set, so its order says nothing), so that no event sorts it again.
    pub fn for_each<I: IntoIterator<Item = S>, S: Into<String>>(mut self, labels: I) -> Self {
        self.for_each = dedup(labels.into_iter().map(Into::into));
        self.for_each.sort_unstable();
        self
    }

    /// Sets `threshold`.
    pub fn threshold(mut self, threshold: i64) -> Self {
        self.threshold = threshold;
        self
    }

    /// Sets `within`, by Prefect's rule: a proactive window of 0 becomes 10 s, and one
    /// between 0 and 10 s is refused.
    pub fn within(mut self, within: Duration) -> Result<Self, TriggerError> {
        self.within = checked_within(self.posture, Within(within))?;
        Ok(self)
    }

    /// Whether this event name opens a window (Prefect's `starts_after`).
    pub fn starts_after(&self, event: &str) -> bool {
        self.after_patterns.iter().any(|p| p.matches(Some(event)))
    }

    /// Whether this event name is counted (Prefect's `expects`; empty `expect`: all).
    pub fn expects(&self, event: &str) -> bool {
        self.expect_patterns.is_empty()
            || self.expect_patterns.iter().any(|p| p.matches(Some(event)))
    }

    /// Whether a reactive trigger fires on each event (window 0).
    pub fn immediate(&self) -> bool {
        self.posture == Posture::Reactive && self.within.is_zero()
    }
}

fn dedup(names: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

fn compile(names: &[String]) -> Vec<LabelPattern> {
    names.iter().map(|n| LabelPattern::new(n)).collect()
}

fn checked_within(posture: Posture, within: Within) -> Result<Within, TriggerError> {
    match posture {
        Posture::Proactive if within.is_zero() => Ok(Within(MIN_PROACTIVE_WITHIN)),
        Posture::Proactive if within.get() < MIN_PROACTIVE_WITHIN => {
            Err(TriggerError::ProactiveWithinTooShort)
        }
        _ => Ok(within),
    }
}

/// A trigger that Prefect's rules refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TriggerError {
    /// A proactive window shorter than 10 s.
    #[error("`within` for Proactive triggers must be greater than or equal to 10 seconds")]
    ProactiveWithinTooShort,
    /// `require` below 1.
    #[error("require must be at least 1")]
    RequireBelowOne,
    /// `require` above the number of triggers.
    #[error("require must be less than or equal to the number of triggers")]
    RequireAboveTriggers,
}

/// How many of a compound trigger's triggers must fire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Require {
    /// One.
    Any,
    /// Every one.
    All,
    /// This many.
    AtLeast(u32),
}

impl Serialize for Require {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Require::Any => s.serialize_str("any"),
            Require::All => s.serialize_str("all"),
            Require::AtLeast(n) => s.serialize_u32(*n),
        }
    }
}

impl<'de> Deserialize<'de> for Require {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) if s == "any" => Ok(Require::Any),
            Value::String(s) if s == "all" => Ok(Require::All),
            Value::Number(n) => match n.as_i64() {
                Some(n) if n < 1 => Err(D::Error::custom(TriggerError::RequireBelowOne)),
                Some(n) => u32::try_from(n)
                    .map(Require::AtLeast)
                    .map_err(|_| D::Error::custom(TriggerError::RequireAboveTriggers)),
                None => Err(D::Error::custom("require: an integer, \"any\" or \"all\"")),
            },
            _ => Err(D::Error::custom("require: an integer, \"any\" or \"all\"")),
        }
    }
}

/// Fires when `require` of its triggers fired within `within` (Prefect's `CompoundTrigger`).
#[derive(Clone, Debug, PartialEq)]
pub struct CompoundTrigger {
    /// Its id.
    pub id: Uuid,
    /// Its triggers.
    pub triggers: Vec<Trigger>,
    /// How long their firings count; none: forever.
    pub within: Option<Within>,
    /// How many must fire.
    pub require: Require,
}

impl CompoundTrigger {
    /// A compound trigger, checked by Prefect's rules.
    pub fn new(
        triggers: Vec<Trigger>,
        require: Require,
        within: Option<Duration>,
    ) -> Result<Self, TriggerError> {
        if let Require::AtLeast(n) = require {
            if n < 1 {
                return Err(TriggerError::RequireBelowOne);
            }
            if n as usize > triggers.len() {
                return Err(TriggerError::RequireAboveTriggers);
            }
        }
        Ok(CompoundTrigger {
            id: Uuid::new_v4(),
            triggers,
            within: within.map(Within),
            require,
        })
    }

    /// How many child firings it takes.
    pub fn expected_firings(&self) -> usize {
        match self.require {
            Require::Any => 1,
            Require::All => self.triggers.len(),
            Require::AtLeast(n) => n as usize,
        }
    }
}

/// Fires when its triggers fired in order within `within` (Prefect's `SequenceTrigger`).
#[derive(Clone, Debug, PartialEq)]
pub struct SequenceTrigger {
    /// Its id.
    pub id: Uuid,
    /// Its triggers, in the order they must fire.
    pub triggers: Vec<Trigger>,
    /// How long their firings count; none: forever.
    pub within: Option<Within>,
}

impl SequenceTrigger {
    /// A sequence of triggers.
    pub fn new(triggers: Vec<Trigger>, within: Option<Duration>) -> Self {
        SequenceTrigger {
            id: Uuid::new_v4(),
            triggers,
            within: within.map(Within),
        }
    }
}

// ---- JSON ------------------------------------------------------------------------

impl Serialize for Trigger {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Trigger::Event(t) => {
                let mut st = s.serialize_struct("EventTrigger", 10)?;
                st.serialize_field("type", "event")?;
                st.serialize_field("id", &t.id)?;
                st.serialize_field("match", &t.match_)?;
                st.serialize_field("match_related", &t.match_related)?;
                st.serialize_field("after", &t.after)?;
                st.serialize_field("expect", &t.expect)?;
                st.serialize_field("for_each", &t.for_each)?;
                st.serialize_field("posture", &t.posture)?;
                st.serialize_field("threshold", &t.threshold)?;
                st.serialize_field("within", &t.within)?;
                st.end()
            }
            Trigger::Compound(t) => {
                let mut st = s.serialize_struct("CompoundTrigger", 5)?;
                st.serialize_field("type", "compound")?;
                st.serialize_field("id", &t.id)?;
                st.serialize_field("triggers", &t.triggers)?;
                st.serialize_field("within", &t.within)?;
                st.serialize_field("require", &t.require)?;
                st.end()
            }
            Trigger::Sequence(t) => {
                let mut st = s.serialize_struct("SequenceTrigger", 4)?;
                st.serialize_field("type", "sequence")?;
                st.serialize_field("id", &t.id)?;
                st.serialize_field("triggers", &t.triggers)?;
                st.serialize_field("within", &t.within)?;
                st.end()
            }
        }
    }
}

#[derive(Deserialize)]
struct EventWire {
    #[serde(default)]
    id: Option<Uuid>,
    #[serde(default, rename = "match")]
    match_: ResourceSpec,
    #[serde(default)]
    match_related: MatchRelated,
    #[serde(default)]
    after: Vec<String>,
    #[serde(default)]
    expect: Vec<String>,
    #[serde(default)]
    for_each: Vec<String>,
    posture: Posture,
    #[serde(default = "one")]
    threshold: i64,
    #[serde(default)]
    within: Option<Within>,
}

fn one() -> i64 {
    1
}

#[derive(Deserialize)]
struct CompositeWire {
    #[serde(default)]
    id: Option<Uuid>,
    triggers: Vec<Trigger>,
    #[serde(default)]
    within: Option<Within>,
    #[serde(default)]
    require: Option<Require>,
}

impl<'de> Deserialize<'de> for Trigger {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        let Value::Object(map) = &value else {
            return Err(D::Error::custom("a trigger is an object"));
        };
        // Prefect's union is not tagged: without `type`, the fields tell.
        let kind = match map.get("type") {
            Some(Value::String(t)) => t.clone(),
            Some(_) => return Err(D::Error::custom("a trigger's type is a string")),
            None if map.contains_key("triggers") && map.contains_key("require") => {
                "compound".into()
            }
            None if map.contains_key("triggers") => "sequence".into(),
            None => "event".into(),
        };
        match kind.as_str() {
            "event" => {
                if map.get("within") == Some(&Value::Null) {
                    return Err(D::Error::custom("`within` should be a valid timedelta"));
                }
                let w: EventWire = serde_json::from_value(value).map_err(D::Error::custom)?;
                let within = checked_within(w.posture, w.within.unwrap_or_default())
                    .map_err(D::Error::custom)?;
                let t = EventTrigger::new(w.posture)
                    .matching(w.match_)
                    .after(w.after)
                    .expect(w.expect)
                    .for_each(w.for_each)
                    .threshold(w.threshold);
                Ok(Trigger::Event(Box::new(EventTrigger {
                    id: w.id.unwrap_or_else(Uuid::new_v4),
                    match_related: w.match_related,
                    within,
                    ..t
                })))
            }
            "compound" => {
                let w: CompositeWire = serde_json::from_value(value).map_err(D::Error::custom)?;
                let require = w
                    .require
                    .ok_or_else(|| D::Error::custom("a compound trigger needs `require`"))?;
                let mut t = CompoundTrigger::new(w.triggers, require, w.within.map(Within::get))
                    .map_err(D::Error::custom)?;
                t.id = w.id.unwrap_or(t.id);
                Ok(Trigger::Compound(t))
            }
            "sequence" => {
                let w: CompositeWire = serde_json::from_value(value).map_err(D::Error::custom)?;
                let mut t = SequenceTrigger::new(w.triggers, w.within.map(Within::get));
                t.id = w.id.unwrap_or(t.id);
                Ok(Trigger::Sequence(t))
            }
            "metric" => Err(D::Error::custom(
                "metric triggers are Prefect Cloud's; workbus serves event, compound and sequence triggers",
            )),
            other => Err(D::Error::custom(format!(
                "unknown trigger type {other:?}: event, compound or sequence"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proactive_windows_follow_prefects_rules() {
        let read = |j: &str| serde_json::from_str::<Trigger>(j);
        let Trigger::Event(t) = read(r#"{"posture":"Proactive"}"#).unwrap() else {
            panic!("an event trigger")
        };
        assert_eq!(t.within.get(), MIN_PROACTIVE_WITHIN);
        assert!(read(r#"{"posture":"Proactive","within":5}"#).is_err());
        assert!(read(r#"{"posture":"Reactive","within":5}"#).is_ok());
        assert!(read(r#"{"posture":"Metric"}"#).is_err());
        assert!(read(r#"{"posture":"Reactive","within":null}"#).is_err());
    }

    #[test]
    fn compound_require_is_bounded_by_its_triggers() {
        let read = |r: &str| {
            serde_json::from_str::<Trigger>(&format!(
                r#"{{"type":"compound","require":{r},"within":60,"triggers":[{{"posture":"Reactive"}},{{"posture":"Reactive"}}]}}"#
            ))
        };
        assert!(read("2").is_ok());
        assert!(read("\"any\"").is_ok());
        assert!(read("0").is_err());
        assert!(read("3").is_err());
    }
}
