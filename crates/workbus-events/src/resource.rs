//! Resources: ordered label maps, shared by reference.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{EventError, MAX_LABELS};

/// The label that names a resource: `prefect.resource.id`.
pub const RESOURCE_ID: &str = "prefect.resource.id";
/// The label that gives a resource's human name: `prefect.resource.name`.
pub const RESOURCE_NAME: &str = "prefect.resource.name";
/// The label that gives a resource's role in an event: `prefect.resource.role`.
pub const RESOURCE_ROLE: &str = "prefect.resource.role";
/// The label that gives a work pool's type: `prefect.work-pool.type`.
pub const WORK_POOL_TYPE: &str = "prefect.work-pool.type";

type Label = (Cow<'static, str>, Box<str>);

/// A resource: labels in the order they were inserted, behind one `Arc`.
///
/// Cloning is a reference-count increment, so an actor builds its resource
/// once and every event it emits shares it. Keys that are the well-known
/// Prefect labels are `&'static str` and cost no allocation.
///
/// Setting a label that exists replaces its value in place, keeping its
/// position (as a Python dict does).
///
/// # Examples
///
/// ```
/// use workbus_events::Resource;
///
/// let r = Resource::builder()
///     .label("prefect.resource.id", "prefect.work-pool.1")
///     .label("prefect.resource.name", "etl")
///     .build()
///     .unwrap();
/// assert_eq!(r.id(), "prefect.work-pool.1");
/// assert_eq!(r.get("prefect.resource.name"), Some("etl"));
/// assert_eq!(serde_json::to_string(&r).unwrap(),
///     r#"{"prefect.resource.id":"prefect.work-pool.1","prefect.resource.name":"etl"}"#);
/// ```
#[derive(Clone)]
pub struct Resource {
    /// Shared storage: another resource may see more of it (see [`Resource::first`]).
    labels: Arc<[Label]>,
    /// How many of `labels` are this resource's.
    len: usize,
}

impl PartialEq for Resource {
    fn eq(&self, other: &Self) -> bool {
        self.labels() == other.labels()
    }
}

impl Eq for Resource {}

impl std::hash::Hash for Resource {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.labels().hash(state);
    }
}

impl Resource {
    fn labels(&self) -> &[Label] {
        // `len` never exceeds the storage: set from it, or clamped by `first`.
        self.labels.get(..self.len).unwrap_or(&self.labels)
    }

    /// The resource made of this one's first `n` labels, sharing its storage:
    /// no allocation. Useful when one resource is another plus labels at the
    /// end, as a work pool's related resource is its primary one plus a role.
    ///
    /// ```
    /// use workbus_events::Resource;
    ///
    /// let related = Resource::builder()
    ///     .label("prefect.resource.id", "prefect.work-pool.1")
    ///     .label("prefect.resource.role", "work-pool")
    ///     .build_related()
    ///     .unwrap();
    /// let primary = related.first(1);
    /// assert_eq!(primary.len(), 1);
    /// assert_eq!(primary.role(), None);
    /// assert_eq!(related.first(9), related);
    /// ```
    pub fn first(&self, n: usize) -> Resource {
        Resource {
            labels: self.labels.clone(),
            len: n.min(self.len),
        }
    }

    /// Starts a resource; see [`ResourceBuilder`].
    pub fn builder() -> ResourceBuilder {
        ResourceBuilder(Vec::with_capacity(4))
    }

    /// The value of `prefect.resource.id` (empty only for a resource built unchecked).
    pub fn id(&self) -> &str {
        self.get(RESOURCE_ID).unwrap_or("")
    }

    /// The value of `prefect.resource.name`, if any.
    pub fn name(&self) -> Option<&str> {
        self.get(RESOURCE_NAME)
    }

    /// The UUID at the end of the id (`prefect.work-pool.<uuid>`), if it ends with one.
    pub fn uuid(&self) -> Option<uuid::Uuid> {
        let id = self.id();
        uuid::Uuid::parse_str(&id[id.rfind('.').map_or(0, |i| i + 1)..]).ok()
    }

    /// The value of `prefect.resource.role`, if any.
    pub fn role(&self) -> Option<&str> {
        self.get(RESOURCE_ROLE)
    }

    /// The value of a label.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.labels()
            .iter()
            .find(|(k, _)| k.as_ref() == key)
            .map(|(_, v)| v.as_ref())
    }

    /// The labels, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.labels().iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }

    /// How many labels.
    pub fn len(&self) -> usize {
        self.labels().len()
    }

    /// Whether there are no labels at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks Prefect's rules for a primary resource: a non-empty id, at most
    /// [`MAX_LABELS`] labels.
    pub fn validate(&self) -> Result<(), EventError> {
        if self.len() > MAX_LABELS {
            return Err(EventError::TooManyLabels {
                len: self.len(),
                max: MAX_LABELS,
            });
        }
        if self.id().is_empty() {
            return Err(EventError::MissingResourceId);
        }
        Ok(())
    }

    /// Checks Prefect's rules for a related resource: those of
    /// [`validate`](Self::validate), and a non-empty role.
    pub fn validate_related(&self) -> Result<(), EventError> {
        self.validate()?;
        match self.role() {
            Some(role) if !role.is_empty() => Ok(()),
            _ => Err(EventError::MissingRole {
                id: self.id().to_owned(),
            }),
        }
    }
}

impl fmt::Debug for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Builds a [`Resource`], label by label, in order.
#[derive(Debug, Default)]
pub struct ResourceBuilder(Vec<Label>);

impl ResourceBuilder {
    /// Sets a label; an existing key keeps its position and takes the new value.
    pub fn label(mut self, key: impl Into<Cow<'static, str>>, value: impl Into<String>) -> Self {
        self.set(key.into(), value.into().into_boxed_str());
        self
    }

    fn set(&mut self, key: Cow<'static, str>, value: Box<str>) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// The resource, checked as a primary resource.
    pub fn build(self) -> Result<Resource, EventError> {
        let r = self.build_unchecked();
        r.validate()?;
        Ok(r)
    }

    /// The resource, checked as a related resource (it needs a role too).
    pub fn build_related(self) -> Result<Resource, EventError> {
        let r = self.build_unchecked();
        r.validate_related()?;
        Ok(r)
    }

    /// The resource, unchecked: for builders whose labels are valid by construction.
    pub fn build_unchecked(self) -> Resource {
        let labels: Arc<[Label]> = self.0.into();
        Resource {
            len: labels.len(),
            labels,
        }
    }
}

impl Serialize for Resource {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// Deserializes the labels without validating them; [`Event`](crate::Event)'s
/// deserializer validates the resource in its place (primary or related).
impl<'de> Deserialize<'de> for Resource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct LabelsVisitor;
        impl<'de> Visitor<'de> for LabelsVisitor {
            type Value = Resource;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of string labels")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Resource, A::Error> {
                let mut b =
                    ResourceBuilder(Vec::with_capacity(map.size_hint().unwrap_or(4).min(16)));
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    if b.0.len() > MAX_LABELS {
                        return Err(serde::de::Error::custom(EventError::TooManyLabels {
                            len: b.0.len(),
                            max: MAX_LABELS,
                        }));
                    }
                    b.set(intern(k), v.into_boxed_str());
                }
                Ok(b.build_unchecked())
            }
        }
        d.deserialize_map(LabelsVisitor)
    }
}

/// Well-known keys become `&'static str` so that parsed resources cost as little as built ones.
fn intern(k: String) -> Cow<'static, str> {
    match k.as_str() {
        RESOURCE_ID => Cow::Borrowed(RESOURCE_ID),
        RESOURCE_NAME => Cow::Borrowed(RESOURCE_NAME),
        RESOURCE_ROLE => Cow::Borrowed(RESOURCE_ROLE),
        WORK_POOL_TYPE => Cow::Borrowed(WORK_POOL_TYPE),
        _ => Cow::Owned(k),
    }
}
