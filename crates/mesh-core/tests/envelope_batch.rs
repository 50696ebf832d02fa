//! Batch opening of envelopes and batch verification of intents, against the one-by-one paths.
//!
//! (a) For random batches mixing valid envelopes, envelopes with a flipped bit anywhere,
//!     truncated ones, wrong payload types and domains, oversize items, garbage and hand-built
//!     signatures (keys and nonces of small order, non-canonical `s`), `envelope::open_batch`
//!     returns exactly what `envelope::open` returns for each item.
//! (b) Likewise `SignedIntent::verify_batch` against `SignedIntent::verify`, with expired,
//!     future, publisher-mismatched and rule-breaking intents in the mix.
//! (c) One forged signature in a batch of 64 fails alone; the other 63 pass.
//! (d) The exception `open_batch` documents: a signer's nonce with a torsion component.

use std::sync::LazyLock;

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use mesh_core::envelope::{
    self, AGENT_RECORD_DOMAIN, AGENT_RECORD_PAYLOAD_TYPE, EnvelopeError, INTENT_DOMAIN,
    INTENT_PAYLOAD_TYPE,
};
use mesh_core::intent::MAX_INTENT_ENVELOPE_BYTES;
use mesh_core::{Budget, Intent, IntentError, Keypair, PublicKey, SignedIntent};
use mesh_proto::v1;
use proptest::prelude::*;
use prost::Message;
use sha2::{Digest, Sha512};

const NOW: u64 = 1_700_000_000_000;

/// libp2p RFC 0002 `Envelope`, to build envelopes with hand-made signatures.
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

/// The bytes an envelope signs (RFC 0002): domain, payload type and payload, each prefixed by
/// its varint length.
fn signed_bytes(domain: &str, payload_type: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in [domain.as_bytes(), payload_type, payload] {
        push_varint(part.len(), &mut out);
        out.extend_from_slice(part);
    }
    out
}

/// An ed25519 signer built by hand, so that tests can make signatures no library makes.
struct RawSigner {
    /// Secret scalar (zero for a key of small order, which has none).
    secret: Scalar,
    /// Public point, possibly with a torsion component.
    public: EdwardsPoint,
}

impl RawSigner {
    /// The signer of `Keypair::ed25519_from_bytes(seed)`.
    fn from_seed(seed: [u8; 32]) -> Self {
        let secret = ed25519_dalek::SigningKey::from_bytes(&seed).to_scalar();
        Self {
            secret,
            public: EdwardsPoint::mul_base(&secret),
        }
    }

    /// A "key" of small order: the torsion point `EIGHT_TORSION[t]`.
    fn weak(t: usize) -> Self {
        Self {
            secret: Scalar::ZERO,
            public: EIGHT_TORSION[t % 8],
        }
    }

    fn public_key(&self) -> PublicKey {
        let key = libp2p::identity::ed25519::PublicKey::try_from_bytes(
            &self.public.compress().to_bytes(),
        )
        .expect("a curve point is an ed25519 public key");
        PublicKey::from(key)
    }

    /// `(R, s)` with `R = [r]B + torsion` and `s = r + k·a`, `k = SHA-512(R ‖ A ‖ M) mod ℓ`.
    fn sign(&self, message: &[u8], r: Scalar, torsion: EdwardsPoint) -> [u8; 64] {
        let big_r = (EdwardsPoint::mul_base(&r) + torsion).compress().to_bytes();
        let mut hash = Sha512::new();
        hash.update(big_r);
        hash.update(self.public.compress().to_bytes());
        hash.update(message);
        let digest: [u8; 64] = hash
            .finalize()
            .as_slice()
            .try_into()
            .expect("SHA-512 digests are 64 bytes");
        let k = Scalar::from_bytes_mod_order_wide(&digest);
        let s = r + k * self.secret;
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&big_r);
        signature[32..].copy_from_slice(s.as_bytes());
        signature
    }

    /// An intent-typed envelope of `payload` signed with [`RawSigner::sign`].
    fn envelope(&self, payload: &[u8], r: Scalar, torsion: EdwardsPoint) -> Vec<u8> {
        let message = signed_bytes(INTENT_DOMAIN, INTENT_PAYLOAD_TYPE, payload);
        EnvelopeProto {
            public_key: self.public_key().encode_protobuf(),
            payload_type: INTENT_PAYLOAD_TYPE.to_vec(),
            payload: payload.to_vec(),
            signature: self.sign(&message, r, torsion).to_vec(),
        }
        .encode_to_vec()
    }
}

/// `s + ℓ` in place of `s`: the same scalar, not canonically encoded.
fn with_non_canonical_s(envelope: &[u8]) -> Vec<u8> {
    const ELL: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut decoded = EnvelopeProto::decode(envelope).expect("an envelope");
    let mut carry = 0u16;
    for (byte, ell) in decoded.signature[32..].iter_mut().zip(ELL) {
        let sum = u16::from(*byte) + u16::from(ell) + carry;
        *byte = sum as u8;
        carry = sum >> 8;
    }
    decoded.encode_to_vec()
}

fn scalar(seed: u64) -> Scalar {
    Scalar::from(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
}

fn seed(i: u8) -> [u8; 32] {
    let mut seed = [0x5au8; 32];
    seed[0] = i;
    seed
}

/// Ten keys, with signed material to draw from.
struct Pool {
    /// Valid intent envelopes (for `verify` at `NOW + 1 s`), one per key and two TTLs.
    intents: Vec<Vec<u8>>,
    /// The same intents sealed under another payload type or domain.
    wrong_type: Vec<Vec<u8>>,
    wrong_domain: Vec<Vec<u8>>,
    /// Intents signed by their key whose publisher is another peer, or whose `id` is set.
    mismatched: Vec<Vec<u8>>,
    rule_broken: Vec<Vec<u8>>,
    /// The encoded content of each valid intent, for hand-made signatures.
    contents: Vec<v1::Intent>,
}

const KEYS: u8 = 10;

static POOL: LazyLock<Pool> = LazyLock::new(|| {
    let keys: Vec<Keypair> = (0..KEYS)
        .map(|i| Keypair::ed25519_from_bytes(seed(i)).expect("32-byte seed"))
        .collect();
    let mut pool = Pool {
        intents: Vec::new(),
        wrong_type: Vec::new(),
        wrong_domain: Vec::new(),
        mismatched: Vec::new(),
        rule_broken: Vec::new(),
        contents: Vec::new(),
    };
    for (i, key) in keys.iter().enumerate() {
        for ttl_s in [10u64, 3_600] {
            let signed = Intent::new(format!("task {i}"))
                .capabilities(["text-generation"])
                .description("d".repeat(i * 40))
                .payload("text/plain", vec![i as u8; i * 7])
                .budget(Budget::new("2.50", "USD"))
                .ttl(std::time::Duration::from_secs(ttl_s))
                .sign(key, NOW)
                .expect("valid intent");
            let payload = signed.content.encode_to_vec();
            let seal = |domain: &str, payload_type: &[u8], payload: Vec<u8>| {
                envelope::seal(key, domain, payload_type, payload).expect("ed25519 signs")
            };
            pool.wrong_type.push(seal(
                INTENT_DOMAIN,
                AGENT_RECORD_PAYLOAD_TYPE,
                payload.clone(),
            ));
            pool.wrong_domain.push(seal(
                AGENT_RECORD_DOMAIN,
                INTENT_PAYLOAD_TYPE,
                payload.clone(),
            ));
            let mut other = signed.content.clone();
            other.publisher = keys[(i + 1) % keys.len()].public().to_peer_id().to_bytes();
            pool.mismatched.push(seal(
                INTENT_DOMAIN,
                INTENT_PAYLOAD_TYPE,
                other.encode_to_vec(),
            ));
            let mut broken = signed.content.clone();
            broken.id = vec![1; 32];
            pool.rule_broken.push(seal(
                INTENT_DOMAIN,
                INTENT_PAYLOAD_TYPE,
                broken.encode_to_vec(),
            ));
            pool.intents.push(signed.envelope);
            pool.contents.push(signed.content);
        }
    }
    pool
});

/// One item of a random batch.
#[derive(Debug, Clone)]
enum Item {
    Valid(usize),
    /// Bit `bit` of byte `at` (modulo the length) flipped.
    Flip(usize, usize, u8),
    Truncated(usize, usize),
    WrongType(usize),
    WrongDomain(usize),
    PublisherMismatch(usize),
    RuleBroken(usize),
    Garbage(Vec<u8>),
    /// One byte more than the limit.
    Oversize,
    /// A key of small order (`EIGHT_TORSION[t]`) and `R = [r]B`: valid exactly when
    /// `[k]A` is the identity.
    WeakKey(usize, usize, u64),
    /// A real key and `R` the torsion point `EIGHT_TORSION[t]`: valid exactly for `t = 0`.
    SmallOrderR(usize, usize),
    /// A valid signature with `s + ℓ` in place of `s`.
    NonCanonicalS(usize),
}

/// Items in any mix; with `verifiable`, only those whose signature, once in a batch, verifies
/// (or that never reach the batch), so that the batch holds and its results are the ones used.
fn item(verifiable: bool) -> impl Strategy<Value = Item> {
    let n = usize::from(KEYS) * 2;
    prop_oneof![
        8 => (0..n).prop_map(Item::Valid),
        4 => (0..n, any::<usize>(), 0..8u8).prop_map(|(i, at, bit)| Item::Flip(i, at, bit)),
        1 => (0..n, any::<usize>()).prop_map(|(i, len)| Item::Truncated(i, len)),
        1 => (0..n).prop_map(Item::WrongType),
        1 => (0..n).prop_map(Item::WrongDomain),
        1 => (0..n).prop_map(Item::PublisherMismatch),
        1 => (0..n).prop_map(Item::RuleBroken),
        1 => proptest::collection::vec(any::<u8>(), 0..80).prop_map(Item::Garbage),
        1 => Just(Item::Oversize),
        1 => (0..n, 0..8usize, any::<u64>()).prop_map(|(i, t, r)| Item::WeakKey(i, t, r)),
        1 => (0..n, 0..8usize).prop_map(|(i, t)| Item::SmallOrderR(i, t)),
        1 => (0..n).prop_map(Item::NonCanonicalS),
    ]
    .prop_map(move |item| match item {
        Item::Flip(i, ..) | Item::WrongDomain(i) if verifiable => Item::Valid(i),
        other => other,
    })
}

impl Item {
    fn bytes(&self) -> Vec<u8> {
        let pool = &*POOL;
        match self {
            Item::Valid(i) => pool.intents[*i].clone(),
            Item::Flip(i, at, bit) => {
                let mut bytes = pool.intents[*i].clone();
                let at = at % bytes.len();
                bytes[at] ^= 1 << bit;
                bytes
            }
            Item::Truncated(i, len) => {
                let bytes = &pool.intents[*i];
                bytes[..len % bytes.len()].to_vec()
            }
            Item::WrongType(i) => pool.wrong_type[*i].clone(),
            Item::WrongDomain(i) => pool.wrong_domain[*i].clone(),
            Item::PublisherMismatch(i) => pool.mismatched[*i].clone(),
            Item::RuleBroken(i) => pool.rule_broken[*i].clone(),
            Item::Garbage(bytes) => bytes.clone(),
            Item::Oversize => vec![0; MAX_INTENT_ENVELOPE_BYTES + 1],
            Item::WeakKey(i, t, r) => {
                let signer = RawSigner::weak(*t);
                let mut content = pool.contents[*i].clone();
                content.publisher = signer.public_key().to_peer_id().to_bytes();
                signer.envelope(
                    &content.encode_to_vec(),
                    scalar(*r),
                    EdwardsPoint::identity(),
                )
            }
            Item::SmallOrderR(i, t) => {
                let signer = RawSigner::from_seed(seed((*i / 2) as u8));
                signer.envelope(
                    &pool.contents[*i].encode_to_vec(),
                    Scalar::ZERO,
                    EIGHT_TORSION[*t % 8],
                )
            }
            Item::NonCanonicalS(i) => with_non_canonical_s(&pool.intents[*i]),
        }
    }
}

fn batch() -> impl Strategy<Value = Vec<Item>> {
    prop_oneof![
        proptest::collection::vec(item(false), 0..40),
        proptest::collection::vec(item(true), 0..40),
    ]
}

fn open_each(items: &[&[u8]], max: usize) -> Vec<Result<(Vec<u8>, PublicKey), EnvelopeError>> {
    items
        .iter()
        .map(|bytes| envelope::open(bytes, max, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// (a)
    #[test]
    fn open_batch_is_open_of_each(
        items in batch(),
        small_max in any::<bool>(),
    ) {
        // A limit of 500 bytes also makes some of the valid envelopes oversize.
        let max = if small_max { 500 } else { MAX_INTENT_ENVELOPE_BYTES };
        let owned: Vec<Vec<u8>> = items.iter().map(Item::bytes).collect();
        let refs: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        let batch = envelope::open_batch(&refs, max, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE);
        let each = open_each(&refs, max);
        prop_assert_eq!(batch.len(), items.len());
        for (i, (b, e)) in batch.iter().zip(&each).enumerate() {
            prop_assert_eq!(b, e, "item {} ({:?})", i, &items[i]);
        }
    }

    /// (b)
    #[test]
    fn verify_batch_is_verify_of_each(
        items in batch(),
        now in prop_oneof![Just(NOW + 1_000), Just(NOW + 15_000), Just(NOW - 400_000)],
    ) {
        let owned: Vec<Vec<u8>> = items.iter().map(Item::bytes).collect();
        let refs: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        let batch = SignedIntent::verify_batch(&refs, now);
        prop_assert_eq!(batch.len(), items.len());
        for (i, (b, bytes)) in batch.iter().zip(&refs).enumerate() {
            prop_assert_eq!(b, &SignedIntent::verify(bytes, now), "item {} ({:?})", i, &items[i]);
        }
    }
}

/// The hand-made items do what their descriptions say, so (a) and (b) cover both outcomes.
#[test]
fn hand_made_items_are_what_they_claim() {
    let opens = |item: Item| {
        envelope::open(
            &item.bytes(),
            MAX_INTENT_ENVELOPE_BYTES,
            INTENT_DOMAIN,
            INTENT_PAYLOAD_TYPE,
        )
    };
    assert!(opens(Item::WeakKey(0, 0, 5)).is_ok(), "identity key");
    assert!(SignedIntent::verify(&Item::WeakKey(0, 0, 5).bytes(), NOW + 1_000).is_ok());
    let weak_outcomes: Vec<bool> = (0..16)
        .map(|r| opens(Item::WeakKey(0, 4, r)).is_ok())
        .collect();
    assert!(weak_outcomes.contains(&true) && weak_outcomes.contains(&false));
    assert!(opens(Item::SmallOrderR(3, 0)).is_ok(), "identity R");
    for t in 1..8 {
        assert_eq!(
            opens(Item::SmallOrderR(3, t)),
            Err(EnvelopeError::BadSignature)
        );
    }
    assert_eq!(
        opens(Item::NonCanonicalS(2)),
        Err(EnvelopeError::BadSignature)
    );
}

/// Batches of every size around the threshold under which items are opened one by one.
#[test]
fn small_and_large_batches_of_valid_envelopes() {
    let pool = &*POOL;
    for n in [0usize, 1, 3, 4, 5, pool.intents.len()] {
        let refs: Vec<&[u8]> = pool.intents[..n].iter().map(Vec::as_slice).collect();
        let batch = SignedIntent::verify_batch(&refs, NOW + 1_000);
        assert_eq!(batch.len(), n);
        for (b, bytes) in batch.iter().zip(&refs) {
            assert_eq!(b, &SignedIntent::verify(bytes, NOW + 1_000));
            assert!(b.is_ok());
        }
    }
}

/// (c)
#[test]
fn one_forged_signature_in_64_fails_alone() {
    let envelopes: Vec<Vec<u8>> = (0..64u8)
        .map(|i| {
            let key = Keypair::ed25519_from_bytes(seed(i)).expect("32-byte seed");
            Intent::new(format!("task {i}"))
                .capabilities(["text-generation"])
                .budget(Budget::new("2.50", "USD"))
                .sign(&key, NOW)
                .expect("valid intent")
                .envelope
        })
        .collect();
    for forged_at in [0usize, 17, 63] {
        let mut batch = envelopes.clone();
        // The amount changes after signing: the signature no longer covers the content.
        let forged = &mut batch[forged_at];
        let at = forged
            .windows(4)
            .position(|w| w == b"2.50")
            .expect("amount in the envelope");
        forged[at] = b'9';
        let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        let results = SignedIntent::verify_batch(&refs, NOW + 1_000);
        for (i, result) in results.iter().enumerate() {
            if i == forged_at {
                assert_eq!(
                    result,
                    &Err(IntentError::Envelope(EnvelopeError::BadSignature))
                );
            } else {
                let intent = result.as_ref().expect("genuine intent passes");
                assert_eq!(intent.title(), format!("task {i}"));
                assert_eq!(result, &SignedIntent::verify(refs[i], NOW + 1_000));
            }
        }
    }
}

/// (d) A signer can give its nonce `R` a torsion component: `open` refuses such a signature,
/// and a batch accepts it when its random coefficient cancels the torsion, as `open_batch`
/// documents. Nothing else changes: the honest items of the same batches all pass.
#[test]
fn a_nonce_with_torsion_is_the_documented_exception() {
    let signer = RawSigner::from_seed(seed(0));
    let order_two = EIGHT_TORSION[4];
    let crafted = signer.envelope(b"crafted", scalar(42), order_two);
    assert_eq!(
        envelope::open(&crafted, 1024, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE),
        Err(EnvelopeError::BadSignature)
    );
    let key = Keypair::ed25519_from_bytes(seed(1)).expect("32-byte seed");
    let mut accepted = 0;
    for round in 0..32u8 {
        let fillers: Vec<Vec<u8>> = (0..7u8)
            .map(|i| {
                envelope::seal(&key, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE, vec![round, i])
                    .expect("ed25519 signs")
            })
            .collect();
        let mut refs: Vec<&[u8]> = vec![crafted.as_slice()];
        refs.extend(fillers.iter().map(Vec::as_slice));
        let results = envelope::open_batch(&refs, 1024, INTENT_DOMAIN, INTENT_PAYLOAD_TYPE);
        match &results[0] {
            Ok((payload, signer_key)) => {
                assert_eq!(payload, b"crafted");
                assert_eq!(signer_key, &signer.public_key());
                accepted += 1;
            }
            Err(e) => assert_eq!(e, &EnvelopeError::BadSignature),
        }
        assert_eq!(results[1..], open_each(&refs[1..], 1024)[..]);
        assert!(results[1..].iter().all(Result::is_ok));
    }
    // Each round accepts it with probability 1/2; the inputs are fixed, so this count is too.
    assert!(accepted > 0 && accepted < 32, "{accepted} of 32");
}
