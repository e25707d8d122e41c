//! The one stats pattern: a struct of atomic counters, readable at any time,
//! each with its accessor, declared once with [`counters!`](crate::counters).

/// Declares a struct of relaxed atomic counters, readable at any time from
/// other threads: one field and one documented accessor per counter, and
/// `pub(crate)` fields so that the owner counts with `fetch_add`/`store`.
///
/// Each counter is `name: u64` (an `AtomicU64`) or `name: usize` (an
/// `AtomicUsize`, for gauges such as a buffer's length).
///
/// # Examples
///
/// ```
/// use std::sync::atomic::Ordering;
///
/// workbus_subscribers::counters! {
///     /// What a sender did.
///     pub struct SenderStats {
///         /// Messages sent.
///         sent: u64,
///         /// Messages waiting now.
///         waiting: usize,
///     }
/// }
///
/// let stats = SenderStats::default();
/// stats.sent.fetch_add(2, Ordering::Relaxed);
/// assert_eq!(stats.sent(), 2);
/// assert_eq!(stats.waiting(), 0);
/// ```
#[macro_export]
macro_rules! counters {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$field_meta:meta])* $field:ident : $ty:ident ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Default)]
        $vis struct $name {
            $( pub(crate) $field: $crate::__counter_type!($ty), )*
        }

        impl $name {
            $(
                $(#[$field_meta])*
                pub fn $field(&self) -> $ty {
                    self.$field.load(::std::sync::atomic::Ordering::Relaxed)
                }
            )*
        }
    };
}

/// The atomic type behind a counter of [`counters!`](crate::counters).
#[doc(hidden)]
#[macro_export]
macro_rules! __counter_type {
    (u64) => {
        ::std::sync::atomic::AtomicU64
    };
    (usize) => {
        ::std::sync::atomic::AtomicUsize
    };
}
