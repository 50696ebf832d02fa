//! Signing and opening libp2p `SignedEnvelope`s for MESH payloads, one at a time ([`open`]) or
//! many at once with their signatures verified together ([`open_batch`]).
//!
//! Each MESH payload type has its own domain-separation string and payload type, so a
//! signature made for one can never be replayed as another.

use std::sync::LazyLock;

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signature, VerifyingKey};
use libp2p::core::SignedEnvelope;
use libp2p::identity::{Keypair, PublicKey};
use prost::Message;

/// Domain-separation string of intents.
pub const INTENT_DOMAIN: &str = "mesh-intent";
/// Payload type of intents.
pub const INTENT_PAYLOAD_TYPE: &[u8] = b"/mesh/intent/1";
/// Domain-separation string of intent cancellations.
pub const CANCELLATION_DOMAIN: &str = "mesh-intent-cancel";
/// Payload type of intent cancellations.
pub const CANCELLATION_PAYLOAD_TYPE: &[u8] = b"/mesh/intent-cancel/1";
/// Domain-separation string of agent records.
pub const AGENT_RECORD_DOMAIN: &str = "mesh-agent-record";
/// Payload type of agent records.
pub const AGENT_RECORD_PAYLOAD_TYPE: &[u8] = b"/mesh/agent-record/1";
/// Domain-separation string of negotiation (INP) messages.
pub const NEGOTIATION_DOMAIN: &str = "mesh-negotiation";
/// Payload type of negotiation (INP) messages.
pub const NEGOTIATION_PAYLOAD_TYPE: &[u8] = b"/mesh/negotiation/1";

/// Why an envelope could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The envelope is larger than allowed for its payload type.
    #[error("envelope of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Size received.
        size: usize,
        /// Largest size accepted.
        max: usize,
    },
    /// The bytes are not a protobuf `SignedEnvelope`, or its key is not a valid public key.
    #[error("malformed signed envelope: {0}")]
    Malformed(String),
    /// The payload type is not the one expected.
    #[error("unexpected payload type {got:?}, expected {expected:?}")]
    WrongPayloadType {
        /// The type expected.
        expected: String,
        /// The type found.
        got: String,
    },
    /// The signature does not match the payload and key.
    #[error("invalid signature")]
    BadSignature,
    /// Signing failed (the key cannot sign).
    #[error("signing failed: {0}")]
    Signing(String),
}

/// Signs `payload` in an envelope and returns its protobuf encoding.
pub fn seal(
    keypair: &Keypair,
    domain: &str,
    payload_type: &[u8],
    payload: Vec<u8>,
) -> Result<Vec<u8>, EnvelopeError> {
    SignedEnvelope::new(keypair, domain.to_owned(), payload_type.to_vec(), payload)
        .map(SignedEnvelope::into_protobuf_encoding)
        .map_err(|e| EnvelopeError::Signing(e.to_string()))
}

/// Decodes and verifies an envelope, returning its payload and signing key.
pub fn open(
    bytes: &[u8],
    max: usize,
    domain: &str,
    payload_type: &[u8],
) -> Result<(Vec<u8>, PublicKey), EnvelopeError> {
    if bytes.len() > max {
        return Err(EnvelopeError::TooLarge {
            size: bytes.len(),
            max,
        });
    }
    let envelope = SignedEnvelope::from_protobuf_encoding(bytes)
        .map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
    let (payload, key) = envelope
        .payload_and_signing_key(domain.to_owned(), payload_type)
        .map_err(|e| match e {
            libp2p::core::signed_envelope::ReadPayloadError::InvalidSignature => {
                EnvelopeError::BadSignature
            }
            libp2p::core::signed_envelope::ReadPayloadError::UnexpectedPayloadType {
                expected,
                got,
            } => EnvelopeError::WrongPayloadType {
                expected: String::from_utf8_lossy(&expected).into_owned(),
                got: String::from_utf8_lossy(&got).into_owned(),
            },
        })?;
    Ok((payload.to_vec(), key.clone()))
}

/// Opens many envelopes at once: for each item, in order, what [`open`] returns for it alone,
/// with the ed25519 signatures verified together. The results are [`open`]'s for every
/// envelope except one that its own signer deliberately built with a point of mixed order (see
/// below).
///
/// ```
/// use mesh_core::envelope::{self, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE};
/// use mesh_core::Keypair;
/// let key = Keypair::generate_ed25519();
/// let sealed: Vec<Vec<u8>> = (0..8u8)
///     .map(|i| envelope::seal(&key, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE, vec![i]).unwrap())
///     .collect();
/// let items: Vec<&[u8]> = sealed.iter().map(Vec::as_slice).collect();
/// let opened = envelope::open_batch(&items, 1024, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE);
/// assert_eq!(opened.len(), 8);
/// assert_eq!(opened[3].as_ref().unwrap().0, vec![3]);
/// ```
///
/// # How the results stay those of [`open`]
///
/// An item goes into the batch only if it is within `max`, decodes as the same protobuf
/// `Envelope` libp2p-core decodes (same message definition, same prost version), has the
/// expected payload type, an ed25519 key that is not of small order, and a 64-byte signature
/// `(R, s)` whose `s` is below the group order ℓ and whose `R` is canonically encoded and not
/// one of the eight points of small order. Every other item gets [`open`]'s own result. A
/// batch item has passed all of [`open`]'s checks before the signature, so [`open`] would
/// return `BadSignature` or `Ok` for it as libp2p's `PublicKey::verify` of its signed bytes
/// decides; that is what it gets when the batch does not hold or has fewer than 4 items. Errors
/// (kinds and messages) are therefore always [`open`]'s, and only "the batch holds, so each
/// item is `Ok`" needs an argument.
///
/// [`open`] verifies with `ed25519_dalek::VerifyingKey::verify` (through libp2p's
/// `PublicKey::verify`): with `k = SHA-512(R ‖ A ‖ M) mod ℓ`, it requires `s < ℓ` and accepts
/// iff the canonical encoding of `[s]B − [k]A` equals the bytes of `R`. That equation is the
/// cofactorless one; it is not `verify_strict` (small-order `A` and `R` are not refused).
/// `ed25519_dalek::verify_batch` computes the same `k` from the same bytes, requires `s < ℓ` and
/// a decodable `R`, and accepts iff `Σ zᵢ·(Rᵢ + [kᵢ]Aᵢ − [sᵢ]B)` is the identity, for 128-bit
/// `zᵢ` drawn from a transcript of all its inputs. We rely on these guarantees:
///
/// - The batch equation cannot hold while some `Pᵢ = Rᵢ + [kᵢ]Aᵢ − [sᵢ]B` has a non-zero
///   component in the prime-order subgroup, except with probability about 2⁻¹²⁸ per attempt
///   (the `zᵢ` are bound to every input, so they cannot be chosen to cancel).
/// - With `R` canonically encoded, "the encoding of `[s]B − [k]A` equals `R`'s bytes" is the
///   same as "`Pᵢ` is the identity".
/// - When `Aᵢ` and `Rᵢ` lie in the prime-order subgroup, so does `Pᵢ`, and the two agree.
///   Every RFC 8032 signer produces such `A = [a]B` and `R = [r]B`.
///
/// The one difference left: a key holder can deliberately build a signature whose `A` or `R`
/// has both a prime-order and a small-order (torsion) component so that `Pᵢ` is a non-zero
/// point of small order. [`open`] refuses it; the batch accepts it when `zᵢ` happens to cancel
/// the torsion (probability 1/2, 1/4 or 1/8 with the point's order, fixed by the batch's
/// content). Refusing small-order `A` and `R` only removes the pure-torsion cases: telling
/// mixed-order points apart costs a scalar multiplication by ℓ per point, about half a
/// verification, which would cancel what the batch saves. Making such an item takes the
/// secret key of `A`: it cannot be derived from someone else's signature, and every envelope
/// an RFC 8032 signer makes gets the same result either way.
///
/// When the batch does not hold (one bad signature is enough), every batch item is verified
/// again alone, so a batch with a forged item costs about 1.6 times opening each item alone.
/// A batch of valid envelopes takes about 30% less time than opening them one by one: the
/// batch equation costs about half a verification per item, and each key is decompressed twice
/// (once for the returned `PublicKey`, once for the batch).
pub fn open_batch(
    items: &[&[u8]],
    max: usize,
    domain: &str,
    payload_type: &[u8],
) -> Vec<Result<(Vec<u8>, PublicKey), EnvelopeError>> {
    let open_one = |bytes: &[u8]| open(bytes, max, domain, payload_type);
    if items.len() < MIN_BATCH {
        return items.iter().map(|bytes| open_one(bytes)).collect();
    }
    let parsed: Vec<Option<BatchItem>> = items
        .iter()
        .map(|bytes| BatchItem::parse(bytes, max, domain, payload_type))
        .collect();
    let batch: Vec<&BatchItem> = parsed.iter().flatten().collect();
    let batch_holds = batch.len() >= MIN_BATCH && {
        let messages: Vec<&[u8]> = batch.iter().map(|item| item.message.as_slice()).collect();
        let signatures: Vec<Signature> = batch.iter().map(|item| item.signature).collect();
        let keys: Vec<VerifyingKey> = batch.iter().map(|item| item.verifying_key).collect();
        ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
    };
    parsed
        .into_iter()
        .zip(items)
        .map(|(item, bytes)| match item {
            Some(item) if batch_holds => Ok(item.into_opened()),
            Some(item) => item.open_alone(),
            None => open_one(bytes),
        })
        .collect()
}

/// Whether `bytes`, an envelope [`open`] accepted with signing key `key`, are its canonical
/// encoding: what libp2p's `SignedEnvelope::from_protobuf_encoding` then
/// `into_protobuf_encoding` give back. libp2p-core decodes and encodes with prost and the same
/// message definition as [`EnvelopeProto`], and re-encodes the key with
/// `PublicKey::encode_protobuf`; this makes the same comparison without decoding the key again.
pub(crate) fn is_canonical(bytes: &[u8], key: &PublicKey) -> bool {
    EnvelopeProto::decode(bytes).is_ok_and(|mut envelope| {
        envelope.public_key = key.encode_protobuf();
        envelope.encoded_len() == bytes.len() && envelope.encode_to_vec() == bytes
    })
}

/// Fewest items worth a batch; smaller sets are opened one by one.
const MIN_BATCH: usize = 4;

/// The libp2p RFC 0002 `Envelope` message, field for field as libp2p-core's `envelope.proto`.
#[derive(Clone, PartialEq, Message)]
struct EnvelopeProto {
    #[prost(bytes = "vec", tag = "1")]
    public_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    payload_type: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    payload: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    signature: Vec<u8>,
}

/// An envelope whose signature may be verified in a batch (see [`open_batch`]).
struct BatchItem {
    key: PublicKey,
    verifying_key: VerifyingKey,
    signature: Signature,
    /// The signed bytes: the RFC 0002 prefix, then the payload.
    message: Vec<u8>,
    /// Length of the prefix in `message`.
    prefix_len: usize,
}

impl BatchItem {
    /// The item, if `bytes` passes every check of [`open`] before the signature and its key and
    /// signature meet the conditions of [`open_batch`].
    fn parse(bytes: &[u8], max: usize, domain: &str, payload_type: &[u8]) -> Option<Self> {
        if bytes.len() > max {
            return None;
        }
        let envelope = EnvelopeProto::decode(bytes).ok()?;
        if envelope.payload_type != payload_type {
            return None;
        }
        let key = PublicKey::try_decode_protobuf(&envelope.public_key).ok()?;
        let key_bytes = key.clone().try_into_ed25519().ok()?.to_bytes();
        let verifying_key = VerifyingKey::from_bytes(&key_bytes).ok()?;
        if verifying_key.is_weak() {
            return None;
        }
        let signature = Signature::from_bytes(envelope.signature.as_slice().try_into().ok()?);
        if !is_batch_safe(&signature) {
            return None;
        }
        let mut message = Vec::with_capacity(domain.len() + payload_type.len() + 30);
        push_varint(domain.len(), &mut message);
        message.extend_from_slice(domain.as_bytes());
        push_varint(payload_type.len(), &mut message);
        message.extend_from_slice(payload_type);
        push_varint(envelope.payload.len(), &mut message);
        let prefix_len = message.len();
        message.extend_from_slice(&envelope.payload);
        Some(Self {
            key,
            verifying_key,
            signature,
            message,
            prefix_len,
        })
    }

    /// What [`open`] returns for this envelope: the item passed every check before the
    /// signature, which libp2p's `PublicKey::verify` now decides on the same signed bytes.
    fn open_alone(self) -> Result<(Vec<u8>, PublicKey), EnvelopeError> {
        if self.key.verify(&self.message, &self.signature.to_bytes()) {
            Ok(self.into_opened())
        } else {
            Err(EnvelopeError::BadSignature)
        }
    }

    /// The payload and key, as [`open`] returns them.
    fn into_opened(self) -> (Vec<u8>, PublicKey) {
        let mut payload = self.message;
        payload.drain(..self.prefix_len);
        (payload, self.key)
    }
}

/// Whether `s` is below ℓ and `R` is the canonical encoding of a point not of small order.
///
/// `R` is not decompressed here: a canonical encoding is of small order exactly when it is one
/// of the eight encodings of the torsion points, and an `R` that is no point makes the batch
/// fail, after which each item is opened alone.
fn is_batch_safe(signature: &Signature) -> bool {
    let r = signature.r_bytes();
    Option::<Scalar>::from(Scalar::from_canonical_bytes(*signature.s_bytes())).is_some()
        && is_canonical_point_encoding(r)
        && !SMALL_ORDER_ENCODINGS.contains(r)
}

/// The canonical encodings of the eight points of small order.
static SMALL_ORDER_ENCODINGS: LazyLock<[[u8; 32]; 8]> =
    LazyLock::new(|| EIGHT_TORSION.map(|point| point.compress().to_bytes()));

/// Whether `bytes` is the encoding that point compression gives for the point they decode to:
/// `y` (the low 255 bits) below p = 2²⁵⁵ − 19, and the sign bit clear when `x` = 0 (`y` = ±1).
fn is_canonical_point_encoding(bytes: &[u8; 32]) -> bool {
    let sign = bytes[31] >> 7;
    let mut y = *bytes;
    y[31] &= 0x7f;
    // p ≤ y < 2²⁵⁵ exactly when bytes 1 to 31 are those of 2²⁵⁵ − 1 and byte 0 is at least 0xed.
    let at_least_p = y[0] >= 0xed && y[1..31].iter().all(|&b| b == 0xff) && y[31] == 0x7f;
    let mut one = [0u8; 32];
    one[0] = 1;
    let mut minus_one = [0xffu8; 32];
    minus_one[0] = 0xec;
    minus_one[31] = 0x7f;
    !at_least_p && !(sign == 1 && (y == one || y == minus_one))
}

/// Appends `n` as an unsigned LEB128 varint, the length prefix of RFC 0002's signed bytes.
fn push_varint(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let low = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::edwards::CompressedEdwardsY;

    /// ℓ, the order of the base point, little-endian.
    const ELL: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];

    fn sealed(payload: &[u8]) -> EnvelopeProto {
        let key = Keypair::ed25519_from_bytes([7u8; 32]).unwrap();
        let bytes = seal(&key, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE, payload.to_vec()).unwrap();
        EnvelopeProto::decode(bytes.as_slice()).unwrap()
    }

    fn with_signature(mut envelope: EnvelopeProto, r: [u8; 32], s: [u8; 32]) -> Vec<u8> {
        envelope.signature = [r, s].concat();
        envelope.encode_to_vec()
    }

    fn split(signature: &[u8]) -> ([u8; 32], [u8; 32]) {
        (
            signature[..32].try_into().unwrap(),
            signature[32..].try_into().unwrap(),
        )
    }

    fn parses(bytes: &[u8]) -> bool {
        BatchItem::parse(bytes, 1024, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE).is_some()
    }

    #[test]
    fn varint_matches_unsigned_varint() {
        for (n, expected) in [
            (0usize, vec![0x00]),
            (1, vec![0x01]),
            (127, vec![0x7f]),
            (128, vec![0x80, 0x01]),
            (300, vec![0xac, 0x02]),
            (16_384, vec![0x80, 0x80, 0x01]),
            (65_536, vec![0x80, 0x80, 0x04]),
        ] {
            let mut out = Vec::new();
            push_varint(n, &mut out);
            assert_eq!(out, expected, "{n}");
        }
    }

    #[test]
    fn batch_item_holds_the_bytes_libp2p_signs() {
        for len in [0usize, 1, 127, 128, 300, 20_000] {
            let envelope = sealed(&vec![0xa5; len]);
            let bytes = envelope.encode_to_vec();
            let item =
                BatchItem::parse(&bytes, usize::MAX, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE).unwrap();
            assert!(item.key.verify(&item.message, &envelope.signature), "{len}");
            assert_eq!(
                item.into_opened(),
                open(&bytes, usize::MAX, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE).unwrap()
            );
            let mut tampered = envelope.clone();
            tampered.payload.push(0);
            let bytes = tampered.encode_to_vec();
            let item =
                BatchItem::parse(&bytes, usize::MAX, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE).unwrap();
            assert_eq!(
                item.open_alone(),
                open(&bytes, usize::MAX, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE)
            );
            assert_eq!(
                open(&bytes, usize::MAX, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE),
                Err(EnvelopeError::BadSignature)
            );
        }
    }

    #[test]
    fn canonical_encoding_check_agrees_with_compression() {
        let mut encodings: Vec<[u8; 32]> = Vec::new();
        // Every y in [p, 2^255) and y = 0, ±1, 2, with both sign bits.
        for low in 0xedu8..=0xff {
            let mut y = [0xffu8; 32];
            y[0] = low;
            y[31] = 0x7f;
            encodings.push(y);
        }
        for low in [0u8, 1, 2] {
            let mut y = [0u8; 32];
            y[0] = low;
            encodings.push(y);
        }
        let mut minus_one = [0xffu8; 32];
        minus_one[0] = 0xec;
        minus_one[31] = 0x7f;
        encodings.push(minus_one);
        encodings.extend(EIGHT_TORSION.iter().map(|t| t.compress().to_bytes()));
        encodings.extend((0..2_000).map(|_| rand::random::<[u8; 32]>()));
        let with_signs: Vec<[u8; 32]> = encodings
            .iter()
            .flat_map(|e| {
                let mut negative = *e;
                negative[31] |= 0x80;
                let mut positive = *e;
                positive[31] &= 0x7f;
                [positive, negative]
            })
            .collect();
        let mut decodable = 0;
        for bytes in with_signs {
            if let Some(point) = CompressedEdwardsY(bytes).decompress() {
                decodable += 1;
                let canonical = point.compress().to_bytes() == bytes;
                assert_eq!(
                    is_canonical_point_encoding(&bytes),
                    canonical,
                    "{bytes:02x?}"
                );
                if canonical {
                    assert_eq!(
                        SMALL_ORDER_ENCODINGS.contains(&bytes),
                        point.is_small_order(),
                        "{bytes:02x?}"
                    );
                }
            }
        }
        assert!(decodable > 1_000);
    }

    #[test]
    fn only_batch_safe_signatures_are_batched() {
        let envelope = sealed(b"pay 2 USD");
        let (r, s) = split(&envelope.signature);
        assert!(parses(&envelope.encode_to_vec()));

        // s + ℓ: the same scalar, not canonical.
        let mut s_plus_ell = [0u8; 32];
        let mut carry = 0u16;
        for i in 0..32 {
            let sum = u16::from(s[i]) + u16::from(ELL[i]) + carry;
            s_plus_ell[i] = sum as u8;
            carry = sum >> 8;
        }
        assert!(!parses(&with_signature(envelope.clone(), r, s_plus_ell)));

        // R of small order, and R with a torsion component (passes: see `open_batch`).
        let r_point = CompressedEdwardsY(r).decompress().unwrap();
        for (i, torsion) in EIGHT_TORSION.iter().enumerate() {
            let small = torsion.compress().to_bytes();
            assert!(!parses(&with_signature(envelope.clone(), small, s)), "{i}");
            let mixed = (r_point + torsion).compress().to_bytes();
            assert!(parses(&with_signature(envelope.clone(), mixed, s)), "{i}");
        }

        // A point whose y < 19 also has the encoding y + p; only the canonical one is batched.
        let y = (0u8..19)
            .find(|&y| {
                let mut bytes = [0u8; 32];
                bytes[0] = y;
                CompressedEdwardsY(bytes)
                    .decompress()
                    .is_some_and(|p| !p.is_small_order())
            })
            .unwrap();
        let mut canonical = [0u8; 32];
        canonical[0] = y;
        let mut aliased = [0xffu8; 32];
        aliased[0] = 0xed + y;
        aliased[31] = 0x7f;
        assert!(parses(&with_signature(envelope.clone(), canonical, s)));
        assert!(!parses(&with_signature(envelope.clone(), aliased, s)));

        // An R that is no point goes to the batch, which then fails.
        let not_a_point = (2u8..)
            .map(|y| {
                let mut bytes = [0u8; 32];
                bytes[0] = y;
                bytes
            })
            .find(|bytes| CompressedEdwardsY(*bytes).decompress().is_none())
            .unwrap();
        assert!(parses(&with_signature(envelope.clone(), not_a_point, s)));

        // A key of small order.
        for torsion in EIGHT_TORSION {
            let weak = libp2p::identity::ed25519::PublicKey::try_from_bytes(
                &torsion.compress().to_bytes(),
            )
            .unwrap();
            let mut forged = envelope.clone();
            forged.public_key = PublicKey::from(weak).encode_protobuf();
            assert!(!parses(&forged.encode_to_vec()));
        }

        // Not 64 bytes.
        let mut short = envelope.clone();
        short.signature.pop();
        assert!(!parses(&short.encode_to_vec()));
    }

    /// What libp2p's decoding then re-encoding says of `bytes`, when it decodes them.
    fn libp2p_canonical(bytes: &[u8]) -> Option<(bool, PublicKey)> {
        let envelope = SignedEnvelope::from_protobuf_encoding(bytes).ok()?;
        let (_, key) = envelope
            .payload_and_signing_key(NEGOTIATION_DOMAIN.to_owned(), INTENT_PAYLOAD_TYPE)
            .ok()?;
        let key = key.clone();
        Some((envelope.into_protobuf_encoding() == bytes, key))
    }

    #[test]
    fn canonical_check_agrees_with_libp2p() {
        let key = Keypair::ed25519_from_bytes([7u8; 32]).unwrap();
        let bytes = seal(
            &key,
            NEGOTIATION_DOMAIN,
            INTENT_PAYLOAD_TYPE,
            b"hello".to_vec(),
        )
        .unwrap();
        let envelope = EnvelopeProto::decode(bytes.as_slice()).unwrap();
        let mut variants: Vec<Vec<u8>> = vec![bytes.clone()];
        // Unknown fields, a field repeated, a field out of order, an empty field written out.
        for extra in [
            &[0x20u8, 0x01][..],
            &[0x1a, 0x00],
            &[0x12, 0x01, 0x41],
            &[0x3a, 0x00],
        ] {
            variants.push([bytes.as_slice(), extra].concat());
            variants.push([extra, bytes.as_slice()].concat());
        }
        // A length written with a needless continuation byte.
        let mut fields = Vec::new();
        fields.push(0x0a);
        fields.extend_from_slice(&[0x80 | envelope.public_key.len() as u8, 0x00]);
        fields.extend_from_slice(&envelope.public_key);
        let mut rest = envelope.clone();
        rest.public_key.clear();
        variants.push([fields.as_slice(), &rest.encode_to_vec()].concat());
        // The key's own protobuf with an unknown field appended, re-signed over nothing new.
        let mut odd_key = envelope.clone();
        odd_key.public_key.extend_from_slice(&[0x18, 0x01]);
        variants.push(odd_key.encode_to_vec());
        let mut seen = [0usize; 2];
        for bytes in variants {
            if let Some((canonical, key)) = libp2p_canonical(&bytes) {
                seen[usize::from(canonical)] += 1;
                assert_eq!(is_canonical(&bytes, &key), canonical, "{bytes:02x?}");
            }
        }
        // Only the sealed bytes are canonical; the payload type appended last is refused.
        assert_eq!(seen, [8, 1]);
    }

    #[test]
    fn seal_then_open_round_trips() {
        let key = Keypair::generate_ed25519();
        let bytes = seal(&key, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE, b"hello".to_vec()).unwrap();
        let (payload, signer) = open(&bytes, 1024, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE).unwrap();
        assert_eq!(payload, b"hello");
        assert_eq!(signer, key.public());
    }

    #[test]
    fn every_flipped_byte_is_rejected_or_changes_nothing_trusted() {
        let key = Keypair::generate_ed25519();
        let bytes = seal(
            &key,
            INTENT_DOMAIN,
            INTENT_PAYLOAD_TYPE,
            b"pay 2 USD".to_vec(),
        )
        .unwrap();
        for i in 0..bytes.len() {
            let mut tampered = bytes.clone();
            tampered[i] ^= 0x01;
            if let Ok((payload, signer)) = open(&tampered, 1024, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE)
            {
                // Only a change in protobuf framing that decodes to the same content may pass.
                assert_eq!(payload, b"pay 2 USD", "byte {i}");
                assert_eq!(signer, key.public(), "byte {i}");
            }
        }
    }

    #[test]
    fn other_domain_or_type_is_rejected() {
        let key = Keypair::generate_ed25519();
        let bytes = seal(&key, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE, b"x".to_vec()).unwrap();
        assert_eq!(
            open(&bytes, 1024, AGENT_RECORD_DOMAIN, INTENT_PAYLOAD_TYPE),
            Err(EnvelopeError::BadSignature)
        );
        assert!(matches!(
            open(&bytes, 1024, INTENT_DOMAIN, AGENT_RECORD_PAYLOAD_TYPE),
            Err(EnvelopeError::WrongPayloadType { .. })
        ));
    }

    #[test]
    fn size_limit_and_garbage() {
        let key = Keypair::generate_ed25519();
        let bytes = seal(&key, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE, vec![0; 100]).unwrap();
        assert!(matches!(
            open(&bytes, 50, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE),
            Err(EnvelopeError::TooLarge { max: 50, .. })
        ));
        assert!(matches!(
            open(
                &[0xff, 0x01, 0x02],
                1024,
                INTENT_DOMAIN,
                INTENT_PAYLOAD_TYPE
            ),
            Err(EnvelopeError::Malformed(_))
        ));
    }
}
