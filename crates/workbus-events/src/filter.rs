//! Event filters, as Prefect's `EventFilter`.
//!
//! A filter is a set of sub-filters that are ANDed; within a sub-filter, a
//! list is "any of". The JSON is Prefect's, with unknown fields refused, so a
//! filter that Prefect's clients send parses here unchanged.
//!
//! One difference makes live streams more useful: [`RelatedFilter`] is
//! applied to live events too (Prefect applies it to stored events only).
//! And `occurred` is unbounded when absent (Prefect's server defaults `until`
//! to the time the filter was parsed, which matches no live event).
//!
//! # Examples
//!
//! ```
//! use workbus_events::EventFilter;
//!
//! let filter: EventFilter = serde_json::from_str(r#"{
//!     "event": {"prefix": ["prefect.work-pool."]},
//!     "resource": {"labels": {"prefect.work-pool.type": ["process", "docker"]}}
//! }"#).unwrap();
//! assert!(filter.event.is_some());
//! ```

use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use crate::resource::RESOURCE_ROLE;
use crate::{Event, EventError, LabelPattern, Resource, Timestamp};

/// A filter over events; every sub-filter that is set must match.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventFilter {
    /// When the events occurred.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred: Option<OccurredFilter>,
    /// The event name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<EventNameFilter>,
    /// The primary resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceFilter>,
    /// The related resources; one filter or a list, all of which must match.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub related: Vec<RelatedFilter>,
    /// Any resource, primary or related; one filter or a list, all of which must match.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub any_resource: Vec<AnyResourceFilter>,
    /// The event ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<IdFilter>,
    /// A text search over the event's name, label values and payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<TextFilter>,
    /// The order of query results (live streams are always in emission order).
    #[serde(default)]
    pub order: Order,
}

fn one_or_many<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany<T> {
        Many(Vec<T>),
        One(T),
    }
    Ok(match Option::<OneOrMany<T>>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(t)) => vec![t],
        Some(OneOrMany::Many(v)) => v,
    })
}

/// The order of query results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Order {
    /// Oldest first.
    #[serde(rename = "ASC")]
    Asc,
    /// Newest first (Prefect's default).
    #[default]
    #[serde(rename = "DESC")]
    Desc,
}

/// `since <= occurred <= until`; an absent bound is open.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OccurredFilter {
    /// Inclusive lower bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// Inclusive upper bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
}

/// The event name: any of `prefix`, none of `exclude_prefix`, any of `name`, none of `exclude_name`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventNameFilter {
    /// The name starts with one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<Vec<String>>,
    /// The name starts with none of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_prefix: Option<Vec<String>>,
    /// The name is one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Vec<String>>,
    /// The name is none of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_name: Option<Vec<String>>,
}

/// Labels to match: each label must match one of its patterns (Prefect's `ResourceSpecification`).
///
/// It reads and writes Prefect's JSON: a map from label to one pattern or a list of them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabelsFilter(Vec<(String, Vec<LabelPattern>)>);

impl Serialize for LabelsFilter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (label, patterns) in &self.0 {
            map.serialize_entry(label, patterns)?;
        }
        map.end()
    }
}

impl LabelsFilter {
    /// An empty specification, which matches every resource.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a label and the patterns of which it must match one.
    pub fn with(mut self, label: impl Into<String>, patterns: &[&str]) -> Self {
        let pats = patterns.iter().map(|p| LabelPattern::new(p)).collect();
        self.0.push((label.into(), pats));
        self
    }

    /// Whether every label matches one of its patterns (an empty pattern list matches nothing).
    pub fn matches(&self, resource: &Resource) -> bool {
        self.0.iter().all(|(label, patterns)| {
            let value = resource.get(label);
            patterns.iter().any(|p| p.matches(value))
        })
    }

    /// The patterns given for one label.
    pub fn get(&self, label: &str) -> Option<&[LabelPattern]> {
        self.0
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, p)| p.as_slice())
    }
}

impl<'de> Deserialize<'de> for LabelsFilter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Values {
            One(LabelPattern),
            Many(Vec<LabelPattern>),
        }
        let map = serde_json::Map::deserialize(d)?;
        let mut out = Vec::with_capacity(map.len());
        for (label, value) in map {
            let values = Values::deserialize(value).map_err(serde::de::Error::custom)?;
            out.push((
                label,
                match values {
                    Values::One(p) => vec![p],
                    Values::Many(v) => v,
                },
            ));
        }
        Ok(LabelsFilter(out))
    }
}

/// The primary resource: any of `id`, any of `id_prefix`, and `labels`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceFilter {
    /// The resource id is one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Vec<String>>,
    /// The resource id starts with one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_prefix: Option<Vec<String>>,
    /// The resource's labels match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<LabelsFilter>,
    /// Queries only: one event per distinct resource.
    #[serde(default)]
    pub distinct: bool,
}

impl ResourceFilter {
    fn matches(&self, r: &Resource) -> bool {
        resource_matches(
            self.id.as_deref(),
            self.id_prefix.as_deref(),
            self.labels.as_ref(),
            r,
        )
    }
}

fn resource_matches(
    id: Option<&[String]>,
    id_prefix: Option<&[String]>,
    labels: Option<&LabelsFilter>,
    r: &Resource,
) -> bool {
    let rid = r.id();
    // Prefect skips an empty list (`if self.id:`), so do we.
    if let Some(ids) = id.filter(|v| !v.is_empty()) {
        if !ids.iter().any(|i| i == rid) {
            return false;
        }
    }
    if let Some(prefixes) = id_prefix.filter(|v| !v.is_empty()) {
        if !prefixes.iter().any(|p| rid.starts_with(p.as_str())) {
            return false;
        }
    }
    labels.is_none_or(|l| l.matches(r))
}

/// Related resources: some related resource matches every criterion that is set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelatedFilter {
    /// Its id is one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Vec<String>>,
    /// Its role is one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Vec<String>>,
    /// It is one of these `(id, role)` pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources_in_roles: Option<Vec<(String, String)>>,
    /// Its labels match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<LabelsFilter>,
}

impl RelatedFilter {
    fn is_empty(&self) -> bool {
        self.id.as_ref().is_none_or(Vec::is_empty)
            && self.role.as_ref().is_none_or(Vec::is_empty)
            && self.resources_in_roles.as_ref().is_none_or(Vec::is_empty)
            && self.labels.is_none()
    }

    fn matches_one(&self, r: &Resource) -> bool {
        let rid = r.id();
        let role = r.get(RESOURCE_ROLE).unwrap_or("");
        if let Some(ids) = self.id.as_ref().filter(|v| !v.is_empty()) {
            if !ids.iter().any(|i| i == rid) {
                return false;
            }
        }
        if let Some(roles) = self.role.as_ref().filter(|v| !v.is_empty()) {
            if !roles.iter().any(|x| x == role) {
                return false;
            }
        }
        if let Some(pairs) = self.resources_in_roles.as_ref().filter(|v| !v.is_empty()) {
            if !pairs.iter().any(|(i, ro)| i == rid && ro == role) {
                return false;
            }
        }
        self.labels.as_ref().is_none_or(|l| l.matches(r))
    }

    fn matches(&self, e: &Event) -> bool {
        self.is_empty() || e.related.iter().any(|r| self.matches_one(r))
    }
}

/// Any resource, primary or related, matches every criterion that is set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnyResourceFilter {
    /// Its id is one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Vec<String>>,
    /// Its id starts with one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_prefix: Option<Vec<String>>,
    /// Its labels match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<LabelsFilter>,
}

impl AnyResourceFilter {
    fn matches(&self, e: &Event) -> bool {
        let one = |r: &Resource| {
            resource_matches(
                self.id.as_deref(),
                self.id_prefix.as_deref(),
                self.labels.as_ref(),
                r,
            )
        };
        one(&e.resource) || e.related.iter().any(one)
    }
}

/// The event id is one of these.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdFilter {
    /// The ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Vec<Uuid>>,
}

/// A text search: terms are ORed, `-term` excludes, `+term` is required,
/// `"quoted phrases"` are one term; matching is case-insensitive, over the
/// event name, the label values and the payload's JSON.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TextFilter {
    /// The query, at most 200 characters.
    pub query: String,
    #[serde(skip)]
    terms: TextTerms,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct TextTerms {
    include: Vec<String>,
    exclude: Vec<String>,
    required: Vec<String>,
}

impl TextFilter {
    /// Parses a query; more than 200 characters is refused, as by Prefect.
    pub fn new(query: &str) -> Result<Self, EventError> {
        let len = query.chars().count();
        if len > 200 {
            return Err(EventError::TextQueryTooLong { len });
        }
        let mut terms = TextTerms::default();
        let mut rest = query.trim();
        while !rest.is_empty() {
            let (sign, body) = match rest.as_bytes()[0] {
                b'-' | b'!' => (-1, &rest[1..]),
                b'+' => (1, &rest[1..]),
                _ => (0, rest),
            };
            let (term, after) = if let Some(quoted) = body.strip_prefix('"') {
                match quoted.find('"') {
                    Some(end) => (&quoted[..end], &quoted[end + 1..]),
                    None => (quoted, ""),
                }
            } else {
                match body.find(char::is_whitespace) {
                    Some(end) => (&body[..end], &body[end..]),
                    None => (body, ""),
                }
            };
            if !term.is_empty() {
                let t = term.to_lowercase();
                match sign {
                    -1 => terms.exclude.push(t),
                    1 => terms.required.push(t),
                    _ => terms.include.push(t),
                }
            }
            rest = after.trim_start();
        }
        Ok(TextFilter {
            query: query.to_owned(),
            terms,
        })
    }

    fn matches(&self, e: &Event) -> bool {
        let mut text = String::with_capacity(256);
        text.push_str(&e.event);
        for r in std::iter::once(&e.resource).chain(e.related.iter()) {
            for (_, v) in r.iter() {
                text.push(' ');
                text.push_str(v);
            }
        }
        text.push(' ');
        text.push_str(&serde_json::Value::Object(e.payload.clone()).to_string());
        let text = text.to_lowercase();
        let t = &self.terms;
        (t.include.is_empty() || t.include.iter().any(|x| text.contains(x.as_str())))
            && !t.exclude.iter().any(|x| text.contains(x.as_str()))
            && t.required.iter().all(|x| text.contains(x.as_str()))
    }
}

impl<'de> Deserialize<'de> for TextFilter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            query: String,
        }
        let raw = Raw::deserialize(d)?;
        TextFilter::new(&raw.query).map_err(serde::de::Error::custom)
    }
}

/// Where an index may look a filter up: the resource ids an event must carry to match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexHint<'a> {
    /// Only events whose primary resource id is one of these can match.
    Primary(&'a [String]),
    /// Only events with one of these ids on some resource, primary or related, can match.
    AnyResource(&'a [String]),
    /// The filter must be tried on every event.
    Everything,
}

impl EventFilter {
    /// A filter that matches every event.
    pub fn all() -> Self {
        Self::default()
    }

    /// Events whose name starts with one of `prefixes`.
    pub fn prefix<I: IntoIterator<Item = S>, S: Into<String>>(prefixes: I) -> Self {
        EventFilter {
            event: Some(EventNameFilter {
                prefix: Some(prefixes.into_iter().map(Into::into).collect()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Events about one of the resources with these ids.
    pub fn resource_ids<I: IntoIterator<Item = S>, S: Into<String>>(ids: I) -> Self {
        EventFilter {
            resource: Some(ResourceFilter {
                id: Some(ids.into_iter().map(Into::into).collect()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Events that involve one of these resource ids, primary or related.
    pub fn any_resource_ids<I: IntoIterator<Item = S>, S: Into<String>>(ids: I) -> Self {
        EventFilter {
            any_resource: vec![AnyResourceFilter {
                id: Some(ids.into_iter().map(Into::into).collect()),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    /// Events of these kinds.
    ///
    /// ```
    /// use workbus_events::{EventFilter, EventKind};
    /// use workbus_events::prefect::Status;
    ///
    /// let offline = EventFilter::kinds([EventKind::PoolStatus(Status::NotReady)])
    ///     .related_pool("etl");
    /// # let _ = offline;
    /// ```
    pub fn kinds<I: IntoIterator<Item = crate::EventKind>>(kinds: I) -> Self {
        EventFilter {
            event: Some(EventNameFilter {
                name: Some(kinds.into_iter().map(|k| k.name().to_owned()).collect()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Also: about the work pool named `name`, as the event's own resource (a pool
    /// event) or as its related `work-pool` (a queue event).
    pub fn about_pool(mut self, name: &str) -> Self {
        self.any_resource.push(AnyResourceFilter {
            id_prefix: Some(vec!["prefect.work-pool.".to_owned()]),
            labels: Some(LabelsFilter::new().with(crate::RESOURCE_NAME, &[name])),
            ..Default::default()
        });
        self
    }

    /// Also: with the work pool named `name` among its related resources (queue events).
    pub fn related_pool(mut self, name: &str) -> Self {
        self.related.push(RelatedFilter {
            role: Some(vec!["work-pool".to_owned()]),
            labels: Some(LabelsFilter::new().with(crate::RESOURCE_NAME, &[name])),
            ..Default::default()
        });
        self
    }

    /// Also: between these times (either bound may be open).
    pub fn between(mut self, since: Option<Timestamp>, until: Option<Timestamp>) -> Self {
        self.occurred = Some(OccurredFilter { since, until });
        self
    }

    /// Whether this filter sets no criterion at all, and so matches every event.
    pub fn is_all(&self) -> bool {
        self.occurred.is_none()
            && self.event.is_none()
            && self.resource.is_none()
            && self.related.is_empty()
            && self.any_resource.is_empty()
            && self.id.as_ref().is_none_or(|f| f.id.is_none())
            && self.text.is_none()
    }

    /// Whether the event matches every sub-filter that is set.
    pub fn matches(&self, e: &Event) -> bool {
        if let Some(o) = &self.occurred {
            if o.since.is_some_and(|s| e.occurred < s) || o.until.is_some_and(|u| e.occurred > u) {
                return false;
            }
        }
        if let Some(f) = &self.event {
            if !name_matches(f, &e.event) {
                return false;
            }
        }
        if let Some(f) = &self.resource {
            if !f.matches(&e.resource) {
                return false;
            }
        }
        if let Some(ids) = self
            .id
            .as_ref()
            .and_then(|f| f.id.as_ref())
            .filter(|v| !v.is_empty())
        {
            if !ids.contains(&e.id) {
                return false;
            }
        }
        self.related.iter().all(|f| f.matches(e))
            && self.any_resource.iter().all(|f| f.matches(e))
            && self.text.as_ref().is_none_or(|t| t.matches(e))
    }

    /// The narrowest index under which this filter can be found.
    pub fn index_hint(&self) -> IndexHint<'_> {
        if let Some(ids) = self.resource.as_ref().and_then(|r| r.id.as_deref()) {
            if !ids.is_empty() {
                return IndexHint::Primary(ids);
            }
        }
        for any in &self.any_resource {
            if let Some(ids) = any.id.as_deref().filter(|v| !v.is_empty()) {
                return IndexHint::AnyResource(ids);
            }
        }
        IndexHint::Everything
    }
}

fn name_matches(f: &EventNameFilter, name: &str) -> bool {
    if let Some(p) = f.prefix.as_ref().filter(|v| !v.is_empty()) {
        if !p.iter().any(|x| name.starts_with(x.as_str())) {
            return false;
        }
    }
    if let Some(p) = &f.exclude_prefix {
        if p.iter().any(|x| name.starts_with(x.as_str())) {
            return false;
        }
    }
    if let Some(n) = f.name.as_ref().filter(|v| !v.is_empty()) {
        if !n.iter().any(|x| x == name) {
            return false;
        }
    }
    if let Some(n) = &f.exclude_name {
        if n.iter().any(|x| x == name) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_round_trip_through_their_json() {
        let json = serde_json::json!({
            "event": {"prefix": ["prefect.work-pool."]},
            "resource": {"labels": {"prefect.resource.name": ["a*", "!b"]}, "distinct": false},
            "related": [{"role": ["work-pool"]}],
            "any_resource": [{"labels": {"prefect.work-pool.type": ["process"]}}],
            "order": "ASC"
        });
        let f: EventFilter = serde_json::from_value(json.clone()).unwrap();
        let again: EventFilter = serde_json::from_value(serde_json::to_value(&f).unwrap()).unwrap();
        assert_eq!(serde_json::to_value(&again).unwrap(), json);
    }
}
