//! Capability names and the wire identifiers derived from them.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// Prefix of the gossipsub topic that carries the intents of a capability.
pub const TOPIC_PREFIX: &str = "mesh/intents/1/";
/// Prefix hashed into the DHT provider key of a capability.
pub const PROVIDER_KEY_PREFIX: &str = "mesh/capability/";
/// Longest capability name, in bytes.
pub const MAX_CAPABILITY_LEN: usize = 64;

/// A capability name such as `text-generation`: it matches `[a-z0-9][a-z0-9._-]{0,63}`.
///
/// ```
/// use mesh_core::Capability;
/// let c: Capability = "text-generation".parse().unwrap();
/// assert_eq!(c.topic(), "mesh/intents/1/text-generation");
/// assert!("Text Generation".parse::<Capability>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Capability(String);

/// Why a capability name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapabilityError {
    /// The name is empty.
    #[error(
        "capability name is empty: use lowercase letters, digits, '.', '_' or '-', e.g. \"text-generation\""
    )]
    Empty,
    /// The name is longer than [`MAX_CAPABILITY_LEN`].
    #[error("capability name {name:?} is {len} bytes long: at most 64 are allowed")]
    TooLong {
        /// The name as given (cut to 80 characters).
        name: String,
        /// Its length in bytes.
        len: usize,
    },
    /// The name holds a character outside the allowed set.
    #[error(
        "invalid capability name {name:?}: it must match [a-z0-9][a-z0-9._-]{{0,63}} (lowercase letters, digits, '.', '_' or '-', starting with a letter or digit), e.g. \"text-generation\""
    )]
    InvalidCharacter {
        /// The name as given (cut to 80 characters).
        name: String,
    },
}

impl Capability {
    /// Validates `name` and wraps it.
    pub fn new(name: impl Into<String>) -> Result<Self, CapabilityError> {
        let name = name.into();
        let shown = || name.chars().take(80).collect::<String>();
        let bytes = name.as_bytes();
        let Some(first) = bytes.first() else {
            return Err(CapabilityError::Empty);
        };
        if bytes.len() > MAX_CAPABILITY_LEN {
            return Err(CapabilityError::TooLong {
                name: shown(),
                len: bytes.len(),
            });
        }
        let head_ok = first.is_ascii_lowercase() || first.is_ascii_digit();
        let tail_ok = bytes[1..].iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
        if !head_ok || !tail_ok {
            return Err(CapabilityError::InvalidCharacter { name: shown() });
        }
        Ok(Self(name))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The gossipsub topic that carries intents needing this capability: `mesh/intents/1/<name>`.
    pub fn topic(&self) -> String {
        format!("{TOPIC_PREFIX}{}", self.0)
    }

    /// The capability named by a gossipsub topic, if the topic is a MESH intent topic.
    pub fn from_topic(topic: &str) -> Option<Self> {
        topic
            .strip_prefix(TOPIC_PREFIX)
            .and_then(|name| Self::new(name).ok())
    }

    /// DHT key under which agents with this capability are provider records: the SHA-256
    /// multihash (`0x12 0x20` + digest) of `mesh/capability/<name>`.
    pub fn provider_key(&self) -> Vec<u8> {
        sha256_multihash(format!("{PROVIDER_KEY_PREFIX}{}", self.0).as_bytes())
    }

    /// DHT key under which the subscribers of this capability's topic are provider records:
    /// the SHA-256 multihash of the topic name. Used to find mesh peers for a topic.
    pub fn topic_provider_key(&self) -> Vec<u8> {
        sha256_multihash(self.topic().as_bytes())
    }
}

/// `0x12 0x20` followed by the SHA-256 digest of `data`, as in IPFS content routing keys.
pub fn sha256_multihash(data: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(34);
    key.extend_from_slice(&[0x12, 0x20]);
    key.extend_from_slice(&Sha256::digest(data));
    key
}

impl FromStr for Capability {
    type Err = CapabilityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Capability {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Parses a list of names, refusing repeats.
pub fn parse_capabilities<I, S>(names: I) -> Result<Vec<Capability>, CapabilityError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out: Vec<Capability> = Vec::new();
    for name in names {
        let c = Capability::new(name.as_ref())?;
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_names() {
        for name in ["a", "0", "text-generation", "image.gen_v2", &"x".repeat(64)] {
            assert!(Capability::new(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn rejects_invalid_names() {
        assert_eq!(Capability::new(""), Err(CapabilityError::Empty));
        assert!(matches!(
            Capability::new("x".repeat(65)),
            Err(CapabilityError::TooLong { len: 65, .. })
        ));
        for name in [
            "-lead",
            ".lead",
            "_lead",
            "Upper",
            "has space",
            "slash/no",
            "émoji",
            "tab\t",
        ] {
            assert!(
                matches!(
                    Capability::new(name),
                    Err(CapabilityError::InvalidCharacter { .. })
                ),
                "{name}"
            );
        }
    }

    #[test]
    fn error_message_says_what_to_do() {
        let msg = Capability::new("Bad Name").unwrap_err().to_string();
        assert!(msg.contains("[a-z0-9][a-z0-9._-]{0,63}"), "{msg}");
        assert!(msg.contains("Bad Name"), "{msg}");
    }

    #[test]
    fn topic_round_trips() {
        let c = Capability::new("data-analysis").unwrap();
        assert_eq!(Capability::from_topic(&c.topic()), Some(c));
        assert_eq!(Capability::from_topic("other/topic"), None);
    }

    #[test]
    fn provider_key_is_sha256_multihash_of_prefixed_name() {
        let c = Capability::new("text-generation").unwrap();
        let key = c.provider_key();
        assert_eq!(key.len(), 34);
        assert_eq!(&key[..2], &[0x12, 0x20]);
        let digest = Sha256::digest(b"mesh/capability/text-generation");
        assert_eq!(&key[2..], digest.as_slice());
        assert_ne!(key, c.topic_provider_key());
    }

    #[test]
    fn parse_capabilities_dedups_and_validates() {
        let caps = parse_capabilities(["a", "b", "a"]).unwrap();
        assert_eq!(caps.len(), 2);
        assert!(parse_capabilities(["a", "B"]).is_err());
    }
}
