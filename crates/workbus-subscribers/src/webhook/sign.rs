//! Standard Webhooks signatures.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::SecretError;

/// Signs webhook requests after the Standard Webhooks scheme.
///
/// # Examples
///
/// ```
/// use workbus_subscribers::webhook::Signer;
///
/// // The test vector of the Standard Webhooks specification.
/// let signer = Signer::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
/// let body = br#"{"test": 2432232314}"#;
/// assert_eq!(
///     signer.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body),
///     "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
/// );
/// ```
#[derive(Clone)]
pub struct Signer {
    mac: Hmac<Sha256>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Signer(..)")
    }
}

impl Signer {
    /// A signer for `secret`: `whsec_` followed by the base64 of the key (the
    /// prefix may be left out). Refuses text that is not base64, or an empty key.
    pub fn new(secret: &str) -> Result<Signer, SecretError> {
        let text = secret.strip_prefix("whsec_").unwrap_or(secret);
        let key = STANDARD
            .decode(text.trim())
            .map_err(SecretError::NotBase64)?;
        if key.is_empty() {
            return Err(SecretError::Empty);
        }
        // HMAC takes a key of any length, so this never fails for a non-empty key.
        let mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&key).map_err(|_| SecretError::Empty)?;
        Ok(Signer { mac })
    }

    /// The `webhook-signature` header value: `v1,` and the base64 of
    /// HMAC-SHA256 over `{id}.{timestamp}.{body}`.
    pub fn sign(&self, id: &str, timestamp: &str, body: &[u8]) -> String {
        let mut mac = self.mac.clone();
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}
