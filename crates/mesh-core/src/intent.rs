//! Intents: requests for work, signed by their publisher.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use libp2p::Multiaddr;
use libp2p::identity::{Keypair, PeerId, PublicKey};
use mesh_proto::{decode_bounded, v1};
use prost::Message;
use sha2::{Digest, Sha256};

use crate::capability::{Capability, CapabilityError};
use crate::envelope::{self, EnvelopeError, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE};
use crate::work;

/// Largest signed intent envelope accepted from anyone, in bytes.
pub const MAX_INTENT_ENVELOPE_BYTES: usize = 64 * 1024;
/// Largest inline payload, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 48 * 1024;
/// Longest title, in bytes.
pub const MAX_TITLE_BYTES: usize = 256;
/// Longest description, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 4 * 1024;
/// Longest payload content type, in bytes.
pub const MAX_CONTENT_TYPE_BYTES: usize = 128;
/// Most capabilities one intent may require.
pub const MAX_INTENT_CAPABILITIES: usize = 16;
/// Longest lifetime of an intent.
pub const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Lifetime of an intent when the publisher does not choose one.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);
/// Most addresses where the publisher takes offers, in one intent.
pub const MAX_PUBLISHER_ADDRS: usize = 8;
/// Longest publisher address, in bytes of its binary form.
pub const MAX_PUBLISHER_ADDR_BYTES: usize = 256;
/// How far in the future a `created_at` may lie before the intent is refused (clock skew).
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);

/// Content-derived identifier of an intent: SHA-256 of its signed payload bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IntentId(pub [u8; 32]);

impl IntentId {
    /// The id of an intent whose signed payload is `payload`.
    pub fn of_payload(payload: &[u8]) -> Self {
        Self(Sha256::digest(payload).into())
    }
}

impl fmt::Display for IntentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for IntentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IntentId({self})")
    }
}

impl FromStr for IntentId {
    type Err = IntentError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = hex::decode(s).map_err(|_| IntentError::BadId)?;
        let array: [u8; 32] = bytes.try_into().map_err(|_| IntentError::BadId)?;
        Ok(Self(array))
    }
}

/// Opaque work input with its media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// Media type, e.g. `text/plain`.
    pub content_type: String,
    /// The bytes, at most [`MAX_PAYLOAD_BYTES`].
    pub data: Vec<u8>,
}

/// What the publisher offers to pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// Decimal amount, e.g. `"2.50"`.
    pub amount: String,
    /// Currency code, e.g. `"USD"`.
    pub currency: String,
}

impl Budget {
    /// A budget of `amount` in `currency`; checked when the intent is signed.
    pub fn new(amount: impl Into<String>, currency: impl Into<String>) -> Self {
        Self {
            amount: amount.into(),
            currency: currency.into(),
        }
    }

    /// Parses `"2.50 USD"` or `"2.50"` (then in `default_currency`).
    pub fn parse(text: &str, default_currency: &str) -> Result<Self, IntentError> {
        let mut parts = text.split_whitespace();
        let amount = parts.next().unwrap_or_default();
        let currency = parts.next().unwrap_or(default_currency);
        if parts.next().is_some() {
            return Err(IntentError::invalid(
                "budget",
                "expected an amount and an optional currency, e.g. \"2.50 USD\"",
            ));
        }
        let budget = Self::new(amount, currency);
        budget.validate()?;
        Ok(budget)
    }

    fn validate(&self) -> Result<(), IntentError> {
        let (int, frac) = match self.amount.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (self.amount.as_str(), None),
        };
        let digits = |s: &str, max: usize| {
            !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
        };
        if !digits(int, 12) || frac.is_some_and(|f| !digits(f, 8)) {
            return Err(IntentError::invalid(
                "budget.amount",
                format!(
                    "{:?} is not a decimal amount: use up to 12 digits, optionally '.' and up to 8 more, e.g. \"2.50\"",
                    self.amount
                ),
            ));
        }
        let c = self.currency.as_bytes();
        if !(3..=8).contains(&c.len())
            || !c
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(IntentError::invalid(
                "budget.currency",
                format!(
                    "{:?} is not a currency code: use 3 to 8 of A-Z and 0-9, e.g. \"USD\"",
                    self.currency
                ),
            ));
        }
        Ok(())
    }
}

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

/// An intent before it is signed: what the publisher wants done.
///
/// ```
/// use mesh_core::{Intent, Budget, Keypair};
/// use std::time::Duration;
/// let intent = Intent::new("Summarise this PDF")
///     .capabilities(["text-generation"])
///     .budget(Budget::new("2", "USD"))
///     .ttl(Duration::from_secs(600));
/// let key = Keypair::generate_ed25519();
/// let signed = intent.sign(&key, 1_700_000_000_000).unwrap();
/// assert_eq!(signed.publisher, key.public().to_peer_id());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Intent {
    /// Capability names the work needs.
    pub capabilities: Vec<String>,
    /// Short summary.
    pub title: String,
    /// Longer description.
    pub description: String,
    /// Optional inline input.
    pub payload: Option<Payload>,
    /// Optional budget.
    pub budget: Option<Budget>,
    /// Deadline for the work, Unix milliseconds.
    pub deadline_ms: Option<u64>,
    /// How long the intent stays open after signing.
    pub ttl: Duration,
    /// Minimum reputation asked of bidders, in `[0, 1]`.
    pub min_reputation: f64,
    /// Where the publisher takes offers (at most [`MAX_PUBLISHER_ADDRS`]); a node that
    /// publishes fills in its own when this is empty.
    pub publisher_addrs: Vec<Multiaddr>,
}

impl Intent {
    /// An intent with `title`, no capabilities yet, and the default TTL.
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            capabilities: Vec::new(),
            title: title.into(),
            description: String::new(),
            payload: None,
            budget: None,
            deadline_ms: None,
            ttl: DEFAULT_TTL,
            min_reputation: 0.0,
            publisher_addrs: Vec::new(),
        }
    }

    /// Sets the capabilities the work needs.
    pub fn capabilities<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.capabilities = names.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// Sets an inline payload.
    pub fn payload(mut self, content_type: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        self.payload = Some(Payload {
            content_type: content_type.into(),
            data: data.into(),
        });
        self
    }

    /// Sets the budget.
    pub fn budget(mut self, budget: Budget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Sets the deadline (Unix milliseconds).
    pub fn deadline_ms(mut self, deadline_ms: u64) -> Self {
        self.deadline_ms = Some(deadline_ms);
        self
    }

    /// Sets how long the intent stays open.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Sets the minimum reputation asked of bidders.
    pub fn min_reputation(mut self, min: f64) -> Self {
        self.min_reputation = min;
        self
    }

    /// Sets where the publisher takes offers: addresses bidders not connected to it dial.
    pub fn publisher_addrs(mut self, addrs: impl IntoIterator<Item = Multiaddr>) -> Self {
        self.publisher_addrs = addrs.into_iter().collect();
        self
    }

    /// Validates the intent, signs it with `keypair` at `now_ms` and returns it verified.
    pub fn sign(&self, keypair: &Keypair, now_ms: u64) -> Result<SignedIntent, IntentError> {
        self.sign_with_work(keypair, now_ms, 0)
    }

    /// Like [`Intent::sign`], with a proof-of-work stamp of `difficulty` leading zero bits
    /// (see [`crate::work`]; 0 for none). About `2^difficulty` hashes: run it off any event
    /// loop when the difficulty is high.
    pub fn sign_with_work(
        &self,
        keypair: &Keypair,
        now_ms: u64,
        difficulty: u8,
    ) -> Result<SignedIntent, IntentError> {
        if difficulty > work::MAX_DIFFICULTY {
            return Err(IntentError::invalid(
                "proof_of_work",
                format!(
                    "a difficulty of {difficulty} bits is above the most a network may ask, {}",
                    work::MAX_DIFFICULTY
                ),
            ));
        }
        if self.ttl.is_zero() || self.ttl > MAX_TTL {
            return Err(IntentError::invalid(
                "ttl",
                format!(
                    "{}s is outside 1s..={}s (7 days)",
                    self.ttl.as_secs(),
                    MAX_TTL.as_secs()
                ),
            ));
        }
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        let mut wire = v1::Intent {
            id: Vec::new(),
            publisher: keypair.public().to_peer_id().to_bytes(),
            capabilities: self.capabilities.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            payload: self.payload.as_ref().map(|p| v1::Payload {
                content_type: p.content_type.clone(),
                data: p.data.clone(),
            }),
            budget: self.budget.as_ref().map(|b| v1::Budget {
                amount: b.amount.clone(),
                currency: b.currency.clone(),
            }),
            deadline_ms: self.deadline_ms.unwrap_or(0),
            created_at_ms: now_ms,
            expires_at_ms: now_ms.saturating_add(ttl_ms),
            nonce: rand::random::<[u8; 16]>().to_vec(),
            min_reputation: self.min_reputation,
            publisher_addrs: self.publisher_addrs.iter().map(|a| a.to_vec()).collect(),
        };
        // Check every rule before signing, so nothing invalid is ever signed.
        let capabilities = check_content(&wire, now_ms)?;
        if difficulty > 0 {
            let base = work::work_base(&wire);
            let (nonce, _) = work::solve(&base, difficulty, rand::random());
            wire.nonce = nonce.to_vec();
        }
        let payload = wire.encode_to_vec();
        let id = IntentId::of_payload(&payload);
        let envelope = envelope::seal(keypair, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE, payload)?;
        Ok(SignedIntent {
            id,
            publisher: keypair.public().to_peer_id(),
            capabilities,
            content: wire,
            envelope,
        })
    }
}

/// An intent whose envelope has been verified: signature, schema, size and expiry.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedIntent {
    /// SHA-256 of the signed payload.
    pub id: IntentId,
    /// The signer.
    pub publisher: PeerId,
    /// Validated capabilities.
    pub capabilities: Vec<Capability>,
    /// The decoded content (with `id` left empty, as signed).
    pub content: v1::Intent,
    /// The envelope exactly as signed, to forward unchanged.
    pub envelope: Vec<u8>,
}

/// Why an intent was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IntentError {
    /// The envelope failed to open.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The payload is not a protobuf `mesh.v1.Intent`.
    #[error("malformed intent: {0}")]
    Malformed(String),
    /// The `publisher` field names a peer other than the signer.
    #[error("intent publisher {claimed} is not the signer {signer}")]
    PublisherMismatch {
        /// Peer named in the intent.
        claimed: String,
        /// Peer that signed.
        signer: String,
    },
    /// A field breaks a rule.
    #[error("invalid intent {field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A capability name is invalid.
    #[error(transparent)]
    Capability(#[from] CapabilityError),
    /// The intent is past its expiry.
    #[error("intent expired at {expires_at_ms} (now {now_ms})")]
    Expired {
        /// Expiry, Unix ms.
        expires_at_ms: u64,
        /// Time of the check, Unix ms.
        now_ms: u64,
    },
    /// The intent claims to be created too far in the future.
    #[error(
        "intent created at {created_at_ms}, more than 5 minutes after now ({now_ms}): check the publisher's clock"
    )]
    FromTheFuture {
        /// Creation, Unix ms.
        created_at_ms: u64,
        /// Time of the check, Unix ms.
        now_ms: u64,
    },
    /// An intent id string is not 64 hex digits.
    #[error("an intent id is 64 hexadecimal digits")]
    BadId,
}

impl IntentError {
    fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

impl SignedIntent {
    /// Leading zero bits of this intent's proof-of-work stamp ([`crate::work`]): the
    /// difficulty it meets. Costs an encoding and two hashes.
    pub fn work_bits(&self) -> u32 {
        work::stamp_bits(&work::work_base(&self.content), &self.content.nonce)
    }

    /// Opens and checks a signed intent envelope at time `now_ms`.
    pub fn verify(envelope_bytes: &[u8], now_ms: u64) -> Result<Self, IntentError> {
        let opened = envelope::open(
            envelope_bytes,
            MAX_INTENT_ENVELOPE_BYTES,
            INTENT_DOMAIN,
            INTENT_PAYLOAD_TYPE,
        );
        Self::from_opened(envelope_bytes, opened, now_ms)
    }

    /// Opens and checks many signed intent envelopes at time `now_ms`, such as the intents of
    /// one catch-up answer: for each, in order, what [`SignedIntent::verify`] returns for it
    /// alone. The signatures are verified together, with the conditions and the one exception
    /// (a signature its own signer built with a point of mixed order) that
    /// [`envelope::open_batch`] documents. When they are all valid this takes about 30% less
    /// time than verifying the intents one by one; one bad signature makes the whole call cost
    /// about 1.6 times as much, as every intent is then checked alone.
    ///
    /// ```
    /// use mesh_core::{Intent, Keypair, SignedIntent};
    /// let now = 1_700_000_000_000;
    /// let key = Keypair::generate_ed25519();
    /// let envelopes: Vec<Vec<u8>> = (0..8)
    ///     .map(|i| {
    ///         let intent = Intent::new(format!("task {i}")).capabilities(["text-generation"]);
    ///         intent.sign(&key, now).unwrap().envelope
    ///     })
    ///     .collect();
    /// let items: Vec<&[u8]> = envelopes.iter().map(Vec::as_slice).collect();
    /// let verified = SignedIntent::verify_batch(&items, now + 1_000);
    /// assert!(verified.iter().all(Result::is_ok));
    /// assert_eq!(verified[2].as_ref().unwrap().title(), "task 2");
    /// ```
    pub fn verify_batch(envelopes: &[&[u8]], now_ms: u64) -> Vec<Result<Self, IntentError>> {
        envelope::open_batch(
            envelopes,
            MAX_INTENT_ENVELOPE_BYTES,
            INTENT_DOMAIN,
            INTENT_PAYLOAD_TYPE,
        )
        .into_iter()
        .zip(envelopes)
        .map(|(opened, bytes)| Self::from_opened(bytes, opened, now_ms))
        .collect()
    }

    /// The checks after the signature: payload schema, publisher is the signer, field rules,
    /// expiry; the id is the payload's hash.
    fn from_opened(
        envelope_bytes: &[u8],
        opened: Result<(Vec<u8>, PublicKey), EnvelopeError>,
        now_ms: u64,
    ) -> Result<Self, IntentError> {
        let (payload, key) = opened?;
        let content: v1::Intent = decode_bounded(&payload, MAX_INTENT_ENVELOPE_BYTES)
            .map_err(|e| IntentError::Malformed(e.to_string()))?;
        let signer = key.to_peer_id();
        let claimed = PeerId::from_bytes(&content.publisher)
            .map_err(|_| IntentError::invalid("publisher", "not a peer id"))?;
        if claimed != signer {
            return Err(IntentError::PublisherMismatch {
                claimed: claimed.to_string(),
                signer: signer.to_string(),
            });
        }
        let capabilities = check_content(&content, now_ms)?;
        Ok(Self {
            id: IntentId::of_payload(&payload),
            publisher: signer,
            capabilities,
            content,
            envelope: envelope_bytes.to_vec(),
        })
    }

    /// Whether the intent is past its expiry at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        now_ms >= self.content.expires_at_ms
    }

    /// The title.
    pub fn title(&self) -> &str {
        &self.content.title
    }

    /// Where the publisher takes offers, as it signed them; addresses that do not parse are
    /// skipped.
    pub fn publisher_addrs(&self) -> Vec<Multiaddr> {
        self.content
            .publisher_addrs
            .iter()
            .filter_map(|a| Multiaddr::try_from(a.clone()).ok())
            .collect()
    }
}

fn check_content(c: &v1::Intent, now_ms: u64) -> Result<Vec<Capability>, IntentError> {
    if !c.id.is_empty() {
        return Err(IntentError::invalid(
            "id",
            "must be empty inside the signed envelope (the id is the payload's SHA-256)",
        ));
    }
    if c.capabilities.is_empty() || c.capabilities.len() > MAX_INTENT_CAPABILITIES {
        return Err(IntentError::invalid(
            "capabilities",
            format!(
                "{} given: name 1 to {MAX_INTENT_CAPABILITIES} capabilities, e.g. --capability text-generation",
                c.capabilities.len()
            ),
        ));
    }
    let mut caps: Vec<Capability> = Vec::with_capacity(c.capabilities.len());
    for name in &c.capabilities {
        let cap = Capability::new(name.as_str())?;
        if caps.contains(&cap) {
            return Err(IntentError::invalid(
                "capabilities",
                format!("{cap} is listed twice"),
            ));
        }
        caps.push(cap);
    }
    if c.title.trim().is_empty() || c.title.len() > MAX_TITLE_BYTES {
        return Err(IntentError::invalid(
            "title",
            format!("must be 1 to {MAX_TITLE_BYTES} bytes of text"),
        ));
    }
    if c.description.len() > MAX_DESCRIPTION_BYTES {
        return Err(IntentError::invalid(
            "description",
            format!(
                "{} bytes: at most {MAX_DESCRIPTION_BYTES}",
                c.description.len()
            ),
        ));
    }
    if let Some(p) = &c.payload {
        if p.data.len() > MAX_PAYLOAD_BYTES {
            return Err(IntentError::invalid(
                "payload",
                format!(
                    "{} bytes: at most {MAX_PAYLOAD_BYTES} travel inline; put larger inputs behind a URL and send that",
                    p.data.len()
                ),
            ));
        }
        if p.content_type.is_empty() || p.content_type.len() > MAX_CONTENT_TYPE_BYTES {
            return Err(IntentError::invalid(
                "payload.content_type",
                "must be a media type such as \"text/plain\"",
            ));
        }
    }
    if let Some(b) = &c.budget {
        Budget::new(b.amount.clone(), b.currency.clone()).validate()?;
    }
    if c.publisher_addrs.len() > MAX_PUBLISHER_ADDRS {
        return Err(IntentError::invalid(
            "publisher_addrs",
            format!(
                "{} given: at most {MAX_PUBLISHER_ADDRS}; list the addresses bidders can reach",
                c.publisher_addrs.len()
            ),
        ));
    }
    if let Some(long) = c
        .publisher_addrs
        .iter()
        .find(|a| a.is_empty() || a.len() > MAX_PUBLISHER_ADDR_BYTES)
    {
        return Err(IntentError::invalid(
            "publisher_addrs",
            format!(
                "an address of {} bytes: each must be 1 to {MAX_PUBLISHER_ADDR_BYTES}",
                long.len()
            ),
        ));
    }
    if !(0.0..=1.0).contains(&c.min_reputation) {
        return Err(IntentError::invalid("min_reputation", "must lie in [0, 1]"));
    }
    if c.nonce.len() != 16 {
        return Err(IntentError::invalid("nonce", "must be 16 bytes"));
    }
    let max_ttl_ms = u64::try_from(MAX_TTL.as_millis()).unwrap_or(u64::MAX);
    if c.expires_at_ms <= c.created_at_ms || c.expires_at_ms - c.created_at_ms > max_ttl_ms {
        return Err(IntentError::invalid(
            "expires_at_ms",
            "must lie after created_at_ms, by at most 7 days",
        ));
    }
    let skew_ms = u64::try_from(MAX_CLOCK_SKEW.as_millis()).unwrap_or(u64::MAX);
    if c.created_at_ms > now_ms.saturating_add(skew_ms) {
        return Err(IntentError::FromTheFuture {
            created_at_ms: c.created_at_ms,
            now_ms,
        });
    }
    if now_ms >= c.expires_at_ms {
        return Err(IntentError::Expired {
            expires_at_ms: c.expires_at_ms,
            now_ms,
        });
    }
    Ok(caps)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    fn sample() -> Intent {
        Intent::new("Summarise this PDF")
            .capabilities(["text-generation", "data-analysis"])
            .description("Ten pages, plain English")
            .payload("text/plain", b"hello".to_vec())
            .budget(Budget::new("2.50", "USD"))
    }

    #[test]
    fn publisher_addresses_are_signed_bounded_and_read_back() {
        let key = Keypair::generate_ed25519();
        let addrs: Vec<Multiaddr> = vec![
            "/ip4/203.0.113.7/tcp/7700".parse().unwrap(),
            "/ip4/198.51.100.1/udp/7700/quic-v1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit"
                .parse()
                .unwrap(),
        ];
        let signed = sample()
            .publisher_addrs(addrs.clone())
            .sign(&key, NOW)
            .unwrap();
        let back = SignedIntent::verify(&signed.envelope, NOW + 1).unwrap();
        assert_eq!(back.publisher_addrs(), addrs);
        assert_eq!(sample().sign(&key, NOW).unwrap().publisher_addrs(), vec![]);

        let many = sample().publisher_addrs(vec![addrs[0].clone(); MAX_PUBLISHER_ADDRS + 1]);
        match many.sign(&key, NOW) {
            Err(IntentError::Invalid { field, reason }) => {
                assert_eq!(field, "publisher_addrs");
                assert!(reason.contains("at most 8"), "{reason}");
            }
            other => panic!("too many addresses must be refused, not {other:?}"),
        }
        let mut long: Multiaddr = "/dns4/a.example/tcp/1".parse().unwrap();
        while long.to_vec().len() <= MAX_PUBLISHER_ADDR_BYTES {
            long.push(libp2p::multiaddr::Protocol::Tcp(1));
        }
        assert!(matches!(
            sample().publisher_addrs([long]).sign(&key, NOW),
            Err(IntentError::Invalid {
                field: "publisher_addrs",
                ..
            })
        ));
    }

    #[test]
    fn an_address_a_node_cannot_parse_is_skipped_not_refused() {
        let key = Keypair::generate_ed25519();
        let good: Multiaddr = "/ip4/203.0.113.7/tcp/7700".parse().unwrap();
        let signed = sample()
            .publisher_addrs([good.clone()])
            .sign(&key, NOW)
            .unwrap();
        let mut content = signed.content.clone();
        content.publisher_addrs.push(vec![0xff, 0xff, 0xff, 0x7f]);
        let payload = content.encode_to_vec();
        let envelope = envelope::seal(&key, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE, payload).unwrap();
        let back = SignedIntent::verify(&envelope, NOW + 1).unwrap();
        assert_eq!(back.publisher_addrs(), vec![good]);
    }

    #[test]
    fn a_stamped_intent_meets_its_difficulty_and_any_change_breaks_the_stamp() {
        let key = Keypair::generate_ed25519();
        let plain = sample().sign(&key, NOW).expect("signs");
        assert!(
            plain.work_bits() < 16,
            "an unstamped nonce is a lottery ticket"
        );
        let stamped = sample().sign_with_work(&key, NOW, 12).expect("signs");
        assert!(stamped.work_bits() >= 12);
        let verified = SignedIntent::verify(&stamped.envelope, NOW + 1).expect("verifies");
        assert_eq!(verified.work_bits(), stamped.work_bits());
        // The stamp covers every other field: the same nonce on another title is worthless.
        let mut other = stamped.content.clone();
        other.title = "Summarise that PDF".into();
        assert!(work::stamp_bits(&work::work_base(&other), &other.nonce) < 12);
        let too_hard = sample().sign_with_work(&key, NOW, work::MAX_DIFFICULTY + 1);
        assert!(matches!(too_hard, Err(IntentError::Invalid { .. })));
    }

    /// Signs arbitrary wire content, bypassing the checks of `Intent::sign`.
    fn seal_raw(key: &Keypair, content: &v1::Intent) -> Vec<u8> {
        envelope::seal(
            key,
            INTENT_DOMAIN,
            INTENT_PAYLOAD_TYPE,
            content.encode_to_vec(),
        )
        .unwrap()
    }

    #[test]
    fn sign_and_verify() {
        let key = Keypair::generate_ed25519();
        let signed = sample().sign(&key, NOW).unwrap();
        let again = SignedIntent::verify(&signed.envelope, NOW + 1000).unwrap();
        assert_eq!(again.id, signed.id);
        assert_eq!(again.publisher, key.public().to_peer_id());
        assert_eq!(again.capabilities.len(), 2);
        assert_eq!(again.content.expires_at_ms, NOW + 3_600_000);
    }

    #[test]
    fn id_is_sha256_of_signed_payload_and_unique_per_signing() {
        let key = Keypair::generate_ed25519();
        let a = sample().sign(&key, NOW).unwrap();
        let b = sample().sign(&key, NOW).unwrap();
        assert_ne!(a.id, b.id, "nonce must make ids differ");
        let payload = a.content.encode_to_vec();
        assert_eq!(a.id, IntentId::of_payload(&payload));
        assert_eq!(a.id.to_string().parse::<IntentId>().unwrap(), a.id);
    }

    #[test]
    fn tampered_content_is_rejected() {
        let key = Keypair::generate_ed25519();
        let signed = sample().sign(&key, NOW).unwrap();
        let needle = b"2.50";
        let pos = signed
            .envelope
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap();
        let mut tampered = signed.envelope.clone();
        tampered[pos] = b'9';
        assert_eq!(
            SignedIntent::verify(&tampered, NOW),
            Err(IntentError::Envelope(EnvelopeError::BadSignature))
        );
    }

    #[test]
    fn publisher_must_be_signer() {
        let key = Keypair::generate_ed25519();
        let other = Keypair::generate_ed25519();
        let mut content = sample().sign(&key, NOW).unwrap().content;
        content.publisher = other.public().to_peer_id().to_bytes();
        let forged = seal_raw(&key, &content);
        assert!(matches!(
            SignedIntent::verify(&forged, NOW),
            Err(IntentError::PublisherMismatch { .. })
        ));
    }

    #[test]
    fn expiry_and_future_are_enforced() {
        let key = Keypair::generate_ed25519();
        let signed = sample()
            .ttl(Duration::from_secs(10))
            .sign(&key, NOW)
            .unwrap();
        assert!(SignedIntent::verify(&signed.envelope, NOW + 9_999).is_ok());
        assert!(matches!(
            SignedIntent::verify(&signed.envelope, NOW + 10_000),
            Err(IntentError::Expired { .. })
        ));
        assert!(matches!(
            SignedIntent::verify(&signed.envelope, NOW - 600_000),
            Err(IntentError::FromTheFuture { .. })
        ));
        assert!(
            sample()
                .ttl(MAX_TTL + Duration::from_secs(1))
                .sign(&key, NOW)
                .is_err()
        );
        assert!(sample().ttl(Duration::ZERO).sign(&key, NOW).is_err());
    }

    #[test]
    fn oversize_payload_is_rejected_with_advice() {
        let key = Keypair::generate_ed25519();
        let err = sample()
            .payload("application/pdf", vec![0u8; MAX_PAYLOAD_BYTES + 1])
            .sign(&key, NOW)
            .unwrap_err();
        assert!(err.to_string().contains("URL"), "{err}");
        // An envelope past the hard limit is refused before it is decoded.
        let huge = vec![0u8; MAX_INTENT_ENVELOPE_BYTES + 1];
        assert!(matches!(
            SignedIntent::verify(&huge, NOW),
            Err(IntentError::Envelope(EnvelopeError::TooLarge { .. }))
        ));
    }

    #[test]
    fn field_rules() {
        let key = Keypair::generate_ed25519();
        assert!(Intent::new("x").sign(&key, NOW).is_err(), "no capability");
        assert!(matches!(
            Intent::new("x").capabilities(["Bad"]).sign(&key, NOW),
            Err(IntentError::Capability(_))
        ));
        assert!(
            Intent::new("x")
                .capabilities(["a", "a"])
                .sign(&key, NOW)
                .is_err()
        );
        assert!(Intent::new("").capabilities(["a"]).sign(&key, NOW).is_err());
        assert!(
            Intent::new("x".repeat(257))
                .capabilities(["a"])
                .sign(&key, NOW)
                .is_err()
        );
        assert!(
            Intent::new("x")
                .capabilities(["a"])
                .min_reputation(1.5)
                .sign(&key, NOW)
                .is_err()
        );
        let mut content = sample().sign(&key, NOW).unwrap().content;
        content.id = vec![1; 32];
        assert!(matches!(
            SignedIntent::verify(&seal_raw(&key, &content), NOW),
            Err(IntentError::Invalid { field: "id", .. })
        ));
    }

    #[test]
    fn budget_parsing() {
        assert_eq!(
            Budget::parse("2.50 USD", "USD").unwrap(),
            Budget::new("2.50", "USD")
        );
        assert_eq!(Budget::parse("7", "EUR").unwrap(), Budget::new("7", "EUR"));
        for bad in [
            "",
            "2,50",
            "-1",
            "1.",
            ".5",
            "1e3",
            "2 usd",
            "2 USD extra",
            "1234567890123",
        ] {
            assert!(Budget::parse(bad, "USD").is_err(), "{bad}");
        }
    }
}
