//! WireGuard keys: base64 of exactly 32 bytes.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

/// Why a string is not a WireGuard key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The string is not valid base64.
    #[error("not valid base64")]
    Base64,
    /// The string decodes to the wrong number of bytes.
    #[error("decodes to {0} bytes, a WireGuard key has 32")]
    Length(usize),
}

fn decode(text: &str) -> Result<[u8; 32], KeyError> {
    let bytes = STANDARD.decode(text.trim()).map_err(|_| KeyError::Base64)?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| KeyError::Length(bytes.len()))
}

/// A WireGuard public key. Serialized as its base64 text.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// The key from its 32 raw bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 raw bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// True for the all-zero key, which Kilo treats as "no key".
    #[must_use]
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 32]
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        decode(s).map(Self)
    }
}

impl TryFrom<String> for PublicKey {
    type Error = KeyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<PublicKey> for String {
    fn from(key: PublicKey) -> Self {
        key.to_string()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&STANDARD.encode(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

/// A WireGuard private key. Never printed by `Debug`, never serialized: it only reaches the
/// wg-quick renderer when the user hands it over.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKey([u8; 32]);

impl PrivateKey {
    /// The base64 text, for writing a configuration file the user asked for.
    #[must_use]
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }
}

impl FromStr for PrivateKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        decode(s).map(Self)
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

/// A WireGuard preshared key (the laptop's, shared with the cluster on its Peer's
/// `spec.presharedKey`). Never printed by `Debug`, never serialized.
#[derive(Clone, PartialEq, Eq)]
pub struct PresharedKey([u8; 32]);

impl PresharedKey {
    /// The key from its 32 raw bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 raw bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The base64 text, for the Peer and the key store.
    #[must_use]
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }
}

impl FromStr for PresharedKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        decode(s).map(Self)
    }
}

impl fmt::Debug for PresharedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PresharedKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preshared_key_is_never_debug_printed() {
        let text = "RpW5BMVyqpK4lGAHUXdXRwDPHcrE2KqzXnR9iXCbWmg=";
        let psk: PresharedKey = text.parse().unwrap();
        assert_eq!(psk.to_base64(), text);
        assert!(!format!("{psk:?}").contains("RpW5"));
    }

    #[test]
    fn round_trips_base64_of_32_bytes() {
        let text = "RpW5BMVyqpK4lGAHUXdXRwDPHcrE2KqzXnR9iXCbWmg=";
        let key: PublicKey = text.parse().unwrap();
        assert_eq!(key.to_string(), text);
        assert_eq!(serde_json::to_string(&key).unwrap(), format!("\"{text}\""));
    }

    #[test]
    fn rejects_wrong_length_and_garbage() {
        assert_eq!("AAAA".parse::<PublicKey>(), Err(KeyError::Length(3)));
        assert_eq!("not base64!".parse::<PublicKey>(), Err(KeyError::Base64));
        assert!(serde_json::from_str::<PublicKey>("\"AAAA\"").is_err());
    }

    #[test]
    fn private_key_debug_is_redacted() {
        let key: PrivateKey = "RpW5BMVyqpK4lGAHUXdXRwDPHcrE2KqzXnR9iXCbWmg=".parse().unwrap();
        assert_eq!(format!("{key:?}"), "PrivateKey(<redacted>)");
    }
}
