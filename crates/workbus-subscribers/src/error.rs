//! The error types of this crate.

use std::path::PathBuf;

/// Why a subscriber could not be configured or started.
///
/// Failures while running (a webhook target that is down, a log file that
/// fills the disk) are not errors of this type: they are retried, counted in
/// the metrics and logged, because a running subscriber has nobody to return
/// them to.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A webhook secret is not `whsec_` followed by base64.
    #[error("invalid webhook secret for {webhook:?}: {reason}")]
    InvalidSecret {
        /// The webhook's name.
        webhook: String,
        /// What is wrong with it.
        #[source]
        reason: SecretError,
    },
    /// A webhook URL is not an absolute `http://` or `https://` URL.
    #[error("invalid webhook URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        #[source]
        reason: UrlError,
    },
    /// A setting has a value this crate cannot use.
    #[error("invalid setting {name}={value:?}: {reason}")]
    InvalidSetting {
        /// The configuration key (a webhook's field, a webhooks file's entry).
        name: String,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A configuration file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A configuration file is not the JSON this crate expects.
    #[error("invalid configuration file {path}: {source}")]
    ConfigParse {
        /// The file.
        path: PathBuf,
        /// The JSON error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A file a subscriber writes to (JSON lines, dead letters) could not be opened.
    #[error("cannot open {path} for appending: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The configuration asks for a subscriber whose cargo feature is off.
    #[error("the {0:?} subscriber is configured but the crate was built without its feature")]
    FeatureDisabled(&'static str),
    /// The bus refused or could not answer (it has stopped).
    #[error(transparent)]
    Bus(#[from] workbus_core::Error),
}

/// What is wrong with a webhook secret (see [`Error::InvalidSecret`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The text after `whsec_` is not base64.
    #[cfg(feature = "webhook")]
    #[error("the text after whsec_ is not base64: {0}")]
    NotBase64(#[source] base64::DecodeError),
    /// The key is empty.
    #[error("the key is empty")]
    Empty,
}

/// What is wrong with a webhook URL (see [`Error::InvalidUrl`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// It is not a URL.
    #[cfg(feature = "webhook")]
    #[error("not a URL: {0}")]
    Unparsable(#[source] awc::http::uri::InvalidUri),
    /// Its scheme is neither `http` nor `https`, or it is relative.
    #[error("not an absolute http:// or https:// URL")]
    NotHttp,
    /// It has no host.
    #[error("no host")]
    NoHost,
    /// Its host is an IP address the SSRF guard refuses.
    #[cfg(feature = "webhook")]
    #[error("{addr} is a {why} address: refused, webhook targets must be globally routable")]
    Refused {
        /// The address.
        addr: std::net::IpAddr,
        /// Why it is refused.
        why: crate::ssrf::Refusal,
    },
}
