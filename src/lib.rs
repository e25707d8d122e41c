#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub use workbus_core::*;
pub use workbus_events as events;
pub use workbus_events::{prefect, LabelPattern, Resource};
