//! Resource specifications: which resources a trigger covers, by their labels.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use workbus_events::{LabelPattern, Resource};

/// Labels a resource must have, each with the patterns one of which its value must
/// match (Prefect's `ResourceSpecification`): `{"prefect.resource.id":
/// "prefect.work-pool.*"}`, or a list of patterns for a label. Patterns are
/// Prefect's: `fnmatch` globs, a leading `!` negates, and a missing label never
/// matches. The empty specification matches every resource.
///
/// # Examples
///
/// ```
/// use workbus_automations::ResourceSpec;
/// use workbus_events::Resource;
///
/// let spec = ResourceSpec::new().with("prefect.resource.id", ["prefect.work-pool.*"]);
/// let pool = Resource::builder()
///     .label("prefect.resource.id", "prefect.work-pool.0194")
///     .build()
///     .unwrap();
/// assert!(spec.matches(&pool));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResourceSpec {
    /// As written, so that it serializes back the same (a string stays a string).
    raw: Map<String, Value>,
    compiled: Vec<(String, Vec<LabelPattern>)>,
}

impl ResourceSpec {
    /// The specification that matches every resource.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a label and the patterns one of which its value must match.
    pub fn with<I, S>(mut self, label: impl Into<String>, patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let label = label.into();
        let patterns: Vec<String> = patterns.into_iter().map(Into::into).collect();
        let value = match patterns.as_slice() {
            [one] => Value::String(one.clone()),
            _ => Value::Array(patterns.iter().cloned().map(Value::String).collect()),
        };
        self.insert(label, value, patterns);
        self
    }

    fn insert(&mut self, label: String, raw: Value, patterns: Vec<String>) {
        let compiled = patterns.iter().map(|p| LabelPattern::new(p)).collect();
        self.compiled.retain(|(l, _)| *l != label);
        self.compiled.push((label.clone(), compiled));
        self.raw.insert(label, raw);
    }

    /// Whether it names no label, and so matches every resource.
    pub fn is_empty(&self) -> bool {
        self.compiled.is_empty()
    }

    /// Whether this resource has every label, each matching one of its patterns.
    pub fn matches(&self, resource: &Resource) -> bool {
        self.compiled.iter().all(|(label, patterns)| {
            let value = resource.get(label);
            patterns.iter().any(|p| p.matches(value))
        })
    }

    /// Whether it is empty or one of `candidates` matches (Prefect's `includes`).
    pub fn includes<'a>(&self, candidates: impl IntoIterator<Item = &'a Resource>) -> bool {
        self.is_empty() || candidates.into_iter().any(|r| self.matches(r))
    }
}

impl Serialize for ResourceSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ResourceSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Map::<String, Value>::deserialize(deserializer)?;
        let mut spec = ResourceSpec::new();
        for (label, value) in raw {
            let patterns = match &value {
                Value::String(s) => vec![s.clone()],
                Value::Array(items) => items
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => Ok(s.clone()),
                        _ => Err(D::Error::custom(format!(
                            "label {label:?}: each pattern must be a string"
                        ))),
                    })
                    .collect::<Result<_, _>>()?,
                _ => {
                    return Err(D::Error::custom(format!(
                        "label {label:?}: a pattern or a list of patterns"
                    )))
                }
            };
            spec.insert(label, value, patterns);
        }
        Ok(spec)
    }
}

/// `match_related`: one specification, or a list that must all be included.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MatchRelated {
    /// One specification (Prefect's default form, `{}`).
    One(ResourceSpec),
    /// Several, each of which some related resource must match.
    All(Vec<ResourceSpec>),
}

impl Default for MatchRelated {
    fn default() -> Self {
        MatchRelated::One(ResourceSpec::new())
    }
}

impl MatchRelated {
    /// Whether the related resources satisfy every specification.
    pub fn covers(&self, related: &[Resource]) -> bool {
        match self {
            MatchRelated::One(spec) => spec.includes(related),
            MatchRelated::All(specs) => specs.iter().all(|s| s.includes(related)),
        }
    }
}
