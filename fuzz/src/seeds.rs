//! The seed corpus of every target: small valid inputs (and a few near misses) built from the
//! fixtures. `examples/write_seeds.rs` writes them to `seeds/<target>/`; the replay test
//! checks that the files there are still these bytes and that each seed has the outcome it
//! names.

use std::time::Duration;

use mesh_core::agent_record;
use mesh_core::negotiation::{
    self, Body, Delivery, Eta, Negotiation, NegotiationError, Price, Proposal, Role,
};
use mesh_core::trust::{Disclosure, ReceiptAttestation};
use mesh_proto::{encode_length_prefixed, v1};
use prost::Message;

use crate::Outcome;
use crate::fixtures::{self, DOMAINS, NOW};
use crate::input::Input;

/// One seed input of one target.
#[derive(Debug, Clone)]
pub struct Seed {
    /// The target it is for.
    pub target: &'static str,
    /// File name under `seeds/<target>/`.
    pub name: String,
    /// The input, flags byte included.
    pub bytes: Vec<u8>,
    /// What the target makes of it.
    pub expect: Outcome,
}

struct Seeds(Vec<Seed>);

impl Seeds {
    fn add(&mut self, target: &'static str, name: &str, flags: u8, data: &[u8], expect: Outcome) {
        self.0.push(Seed {
            target,
            name: name.to_owned(),
            bytes: Input::encode(flags, data),
            expect,
        });
    }
}

/// Every seed of every target.
pub fn all() -> Vec<Seed> {
    let mut seeds = Seeds(Vec::new());
    envelopes(&mut seeds);
    intents(&mut seeds);
    cancellations(&mut seeds);
    agent_records(&mut seeds);
    negotiations(&mut seeds);
    transcripts(&mut seeds);
    frames(&mut seeds);
    api_bodies(&mut seeds);
    attestations(&mut seeds);
    receipts_answers(&mut seeds);
    seeds.0
}

fn intent_envelope() -> Vec<u8> {
    fixtures::intent().envelope.clone()
}

fn cancellation_envelope() -> Vec<u8> {
    fixtures::seal(
        &fixtures::keys().publisher,
        DOMAINS[1],
        fixtures::cancellation_content().encode_to_vec(),
    )
}

fn agent_record_envelope() -> Vec<u8> {
    fixtures::seal(
        &fixtures::keys().agent,
        DOMAINS[2],
        fixtures::agent_record_content().encode_to_vec(),
    )
}

fn envelopes(seeds: &mut Seeds) {
    use Outcome::Accepted;
    let t = "envelope";
    seeds.add(t, "intent", 0, &intent_envelope(), Accepted);
    seeds.add(t, "cancellation", 0, &cancellation_envelope(), Accepted);
    seeds.add(t, "agent-record", 0, &agent_record_envelope(), Accepted);
    seeds.add(t, "negotiation", 0, &fixtures::messages()[0], Accepted);
    let intent = fixtures::intent_content().encode_to_vec();
    seeds.add(t, "sealed-intent-payload", 0b001, &intent, Accepted);
    let message = fixtures::message_content(&fixtures::messages()[3]).encode_to_vec();
    seeds.add(t, "sealed-negotiation-payload", 0b111, &message, Accepted);
}

fn intents(seeds: &mut Seeds) {
    use Outcome::{Accepted, Refused};
    let t = "intent";
    seeds.add(t, "valid-envelope", 0, &intent_envelope(), Accepted);
    let payload = fixtures::intent_content().encode_to_vec();
    seeds.add(t, "valid-payload", 1, &payload, Accepted);
    seeds.add(t, "last-moment", 3 << 1, &intent_envelope(), Accepted);
    seeds.add(t, "expired", 4 << 1, &intent_envelope(), Refused);
    seeds.add(t, "from-the-future", 2 << 1, &intent_envelope(), Refused);
    seeds.add(t, "cancellation", 0, &cancellation_envelope(), Refused);
    let minimal = v1::Intent {
        capabilities: vec!["a".into()],
        title: "x".into(),
        payload: None,
        budget: None,
        description: String::new(),
        deadline_ms: 0,
        min_reputation: 0.0,
        ..fixtures::intent_content()
    };
    seeds.add(t, "minimal-payload", 1, &minimal.encode_to_vec(), Accepted);
    let crowded = v1::Intent {
        capabilities: (0..16).map(|i| format!("cap-{i}")).collect(),
        budget: Some(v1::Budget {
            amount: "999999999999.99999999".into(),
            currency: "USDC2024".into(),
        }),
        min_reputation: 1.0,
        ..fixtures::intent_content()
    };
    seeds.add(t, "crowded-payload", 1, &crowded.encode_to_vec(), Accepted);
    // Where the publisher takes offers: the most addresses allowed, one of them not a
    // multiaddr (skipped, not refused), then one address too many.
    let addrs = |n: usize| -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| match i {
                0 => vec![0xff, 0xff, 0xff, 0x7f],
                _ => {
                    let ip = std::net::Ipv4Addr::new(203, 0, 113, i as u8);
                    let addr =
                        libp2p::Multiaddr::from(ip).with(libp2p::multiaddr::Protocol::Tcp(7700));
                    addr.to_vec()
                }
            })
            .collect()
    };
    let reachable = v1::Intent {
        publisher_addrs: addrs(8),
        ..fixtures::intent_content()
    };
    seeds.add(
        t,
        "publisher-addrs",
        1,
        &reachable.encode_to_vec(),
        Accepted,
    );
    let too_many = v1::Intent {
        publisher_addrs: addrs(9),
        ..fixtures::intent_content()
    };
    seeds.add(
        t,
        "too-many-publisher-addrs",
        1,
        &too_many.encode_to_vec(),
        Refused,
    );
    // Floats that a JSON reader without exact round trips reads back as a neighbour: a tiny
    // normal one, a subnormal one and the largest below 1.
    for (name, min_reputation) in [
        ("tiny-min-reputation", f64::from_bits(0x1a00_0000_0000_0000)),
        (
            "subnormal-min-reputation",
            f64::from_bits(0x0000_0000_dead_beef),
        ),
        ("almost-one-min-reputation", 1.0 - f64::EPSILON / 2.0),
    ] {
        let intent = v1::Intent {
            min_reputation,
            ..fixtures::intent_content()
        };
        seeds.add(t, name, 1, &intent.encode_to_vec(), Accepted);
    }
}

fn cancellations(seeds: &mut Seeds) {
    use Outcome::{Accepted, Refused};
    let t = "cancellation";
    seeds.add(t, "valid-envelope", 0, &cancellation_envelope(), Accepted);
    let payload = fixtures::cancellation_content().encode_to_vec();
    seeds.add(t, "valid-payload", 1, &payload, Accepted);
    seeds.add(t, "expired", 4 << 1, &cancellation_envelope(), Refused);
    seeds.add(t, "intent", 0, &intent_envelope(), Refused);
}

fn agent_records(seeds: &mut Seeds) {
    use Outcome::{Accepted, Refused};
    let t = "agent_record";
    seeds.add(
        t,
        "valid-envelope",
        1 << 4,
        &agent_record_envelope(),
        Accepted,
    );
    let payload = fixtures::agent_record_content().encode_to_vec();
    seeds.add(t, "valid-payload", 1, &payload, Accepted);
    seeds.add(
        t,
        "under-another-key",
        2 << 4,
        &agent_record_envelope(),
        Refused,
    );
    seeds.add(t, "expired", 4 << 1, &agent_record_envelope(), Refused);
    // Seen at time 0, the fixture record lasts far beyond the longest lifetime of a record.
    seeds.add(
        t,
        "beyond-lifetime",
        6 << 1,
        &agent_record_envelope(),
        Refused,
    );
    let key = agent_record::agent_record_key(&fixtures::peer(&fixtures::keys().agent));
    seeds.add(t, "record-key", 0, &key, Refused);
    let minimal = v1::AgentRecord {
        peer_id: fixtures::peer(&fixtures::keys().agent).to_bytes(),
        expires_at_ms: NOW + 1,
        ..v1::AgentRecord::default()
    };
    seeds.add(t, "minimal-payload", 1, &minimal.encode_to_vec(), Accepted);
}

/// The flags of a negotiation input: sealed or not, signer, messages taken before it.
fn negotiation_flags(sealed: bool, signer: Role, taken: usize) -> u8 {
    u8::from(sealed) | u8::from(signer == Role::Publisher) << 1 | (taken as u8) << 2
}

fn negotiations(seeds: &mut Seeds) {
    use Outcome::{Accepted, Refused};
    let t = "negotiation";
    let steps = fixtures::completed_steps();
    for (taken, envelope) in fixtures::messages().iter().enumerate() {
        let signer = steps[taken].0;
        let payload = fixtures::message_content(envelope).encode_to_vec();
        let flags = negotiation_flags(false, signer, taken);
        seeds.add(t, &format!("message-{taken}"), flags, envelope, Accepted);
        let flags = negotiation_flags(true, signer, taken);
        seeds.add(t, &format!("payload-{taken}"), flags, &payload, Accepted);
    }
    let price = |amount: &str| Price::new(amount, "USD").expect("a valid price");
    let alternatives = [
        (
            "withdraw",
            1,
            Role::Agent,
            Body::Withdraw {
                reason: "busy".into(),
            },
        ),
        (
            "reject",
            1,
            Role::Publisher,
            Body::Reject {
                reason: "too expensive".into(),
            },
        ),
        ("accept-offer", 1, Role::Publisher, Body::Accept),
        (
            "offer-again",
            2,
            Role::Agent,
            Body::Offer(Proposal::new(price("2.25"), Eta::At(NOW + 60_000))),
        ),
        (
            "deliver-location",
            3,
            Role::Agent,
            Body::Deliver(Delivery::at_location(
                "https://results.example/r/1",
                [9; 32],
            )),
        ),
    ];
    for (name, taken, role, body) in alternatives {
        let key = match role {
            Role::Publisher => &fixtures::keys().publisher,
            Role::Agent => &fixtures::keys().agent,
        };
        let envelope = fixtures::states()[taken]
            .clone()
            .send(body, key, fixtures::message_time(taken))
            .expect("an allowed step");
        let flags = negotiation_flags(false, role, taken);
        seeds.add(t, name, flags, &envelope, Accepted);
    }
    let flags = negotiation_flags(false, Role::Agent, 1);
    seeds.add(t, "replayed", flags, &fixtures::messages()[0], Refused);
}

fn transcripts(seeds: &mut Seeds) {
    use Outcome::{Accepted, Refused};
    let t = "transcript";
    let json = |transcript: &mesh_core::Transcript| {
        serde_json::to_vec(&transcript.to_json()).expect("a transcript serialises")
    };
    let completed = fixtures::states()[5].transcript();
    seeds.add(t, "completed-protobuf", 0, &completed.encode(), Accepted);
    seeds.add(t, "completed-json", 1, &json(completed), Accepted);
    let prefix = fixtures::states()[2].transcript();
    seeds.add(t, "prefix-protobuf", 0, &prefix.encode(), Accepted);
    let price = |amount: &str| Price::new(amount, "USD").expect("a valid price");
    let within = Eta::Within(Duration::from_secs(60));
    let withdrawn = fixtures::negotiate(&[
        (Role::Agent, Body::Offer(Proposal::new(price("3"), within))),
        (
            Role::Publisher,
            Body::Counter(Proposal::new(price("1"), within)),
        ),
        (
            Role::Agent,
            Body::Withdraw {
                reason: "no".into(),
            },
        ),
    ]);
    let withdrawn = withdrawn[3].transcript();
    seeds.add(t, "withdrawn-json", 1, &json(withdrawn), Accepted);
    let delivered = fixtures::negotiate(&[
        (
            Role::Agent,
            Body::Offer(Proposal::new(price("0.5"), within)),
        ),
        (Role::Publisher, Body::Accept),
        (
            Role::Agent,
            Body::Deliver(Delivery::at_location("ipfs://bafy", [3; 32])),
        ),
    ]);
    let delivered = delivered[3].transcript();
    seeds.add(t, "delivered-protobuf", 0, &delivered.encode(), Accepted);
    let mut reordered = completed.envelopes().to_vec();
    reordered.swap(1, 2);
    let reordered = mesh_core::Transcript::from_envelopes(reordered);
    seeds.add(t, "reordered-protobuf", 0, &reordered.encode(), Refused);
}

fn frames(seeds: &mut Seeds) {
    use Outcome::{Accepted, Refused};
    let t = "framing";
    let completed = fixtures::states()[5].transcript().clone();
    let frames: [(&str, Vec<u8>); 11] = [
        (
            "intent",
            encode_length_prefixed(&fixtures::intent_content()),
        ),
        (
            "cancellation",
            encode_length_prefixed(&fixtures::cancellation_content()),
        ),
        (
            "agent-record",
            encode_length_prefixed(&fixtures::agent_record_content()),
        ),
        (
            "negotiation-message",
            encode_length_prefixed(&fixtures::message_content(&fixtures::messages()[3])),
        ),
        (
            "transcript",
            encode_length_prefixed(&v1::Transcript {
                envelopes: completed.into_envelopes(),
            }),
        ),
        (
            "catch-up-request",
            encode_length_prefixed(&v1::OpenIntentsRequest {
                capabilities: vec!["text-generation".into(), "translation".into()],
                limit: 64,
            }),
        ),
        (
            "catch-up-response",
            encode_length_prefixed(&v1::OpenIntentsResponse {
                envelopes: vec![intent_envelope(), cancellation_envelope()],
            }),
        ),
        (
            "inp-request",
            encode_length_prefixed(&v1::NegotiationSend {
                envelope: fixtures::messages()[0].clone(),
            }),
        ),
        (
            "inp-ack",
            encode_length_prefixed(&v1::NegotiationAck {
                accepted: false,
                code: "stale".into(),
                reason: "replayed message: seq 0, expected 1".into(),
            }),
        ),
        (
            "receipts-request",
            encode_length_prefixed(&v1::ReceiptsRequest {
                limit: 256,
                after: vec![7; 40],
            }),
        ),
        (
            "receipts-response",
            encode_length_prefixed(&v1::ReceiptsResponse {
                attestations: vec![minimal_attestation()],
                next: vec![7; 40],
            }),
        ),
    ];
    for (flags, (name, frame)) in frames.iter().enumerate() {
        seeds.add(t, name, flags as u8, frame, Accepted);
    }
    seeds.add(t, "intent-over-limit", 1 << 4, &frames[0].1, Refused);
}

fn api_bodies(seeds: &mut Seeds) {
    use Outcome::Accepted;
    let t = "api_body";
    let intent_id = fixtures::intent().id.to_string();
    let agent = fixtures::peer(&fixtures::keys().agent);
    let bodies: [(&str, u8, String); 13] = [
        (
            "publish",
            0,
            r#"{"capabilities":["text-generation"],"title":"Summarise this PDF","description":"Ten pages","budget":{"amount":"2.50","currency":"USD"},"ttl_secs":600,"deadline_ms":1700007200000,"payload":{"content_type":"text/plain","data_base64":"aGVsbG8="},"min_reputation":0.5}"#.into(),
        ),
        (
            "offer",
            1,
            format!(
                r#"{{"intent_id":"{intent_id}","amount":"2.50","currency":"USD","eta_secs":600,"terms":"one revision"}}"#
            ),
        ),
        (
            "counter",
            2,
            r#"{"amount":"2.00","currency":"USD","eta_secs":300}"#.into(),
        ),
        ("reject", 3, r#"{"reason":"too expensive"}"#.into()),
        ("reject-empty", 3, String::new()),
        ("withdraw", 4, r#"{"reason":"busy"}"#.into()),
        (
            "deliver-inline",
            5,
            r#"{"content_type":"text/plain","data_base64":"ZG9uZQ=="}"#.into(),
        ),
        (
            "deliver-location",
            5,
            format!(
                r#"{{"location":"https://results.example/r/1","digest":"{}"}}"#,
                "ab".repeat(32)
            ),
        ),
        ("receipt", 6, r#"{"rating":0.9,"comment":"thanks"}"#.into()),
        ("cancel", 7, r#"{"reason":"found someone"}"#.into()),
        (
            "award",
            8,
            r#"{"window_ms":1000,"min_reputation":0.5,"counter_at":{"amount":"1.50","currency":"USD"},"answer_wait_ms":5000}"#.into(),
        ),
        (
            "dial",
            9,
            format!(r#"{{"address":"/ip4/127.0.0.1/tcp/7701/p2p/{agent}"}}"#),
        ),
        ("load", 10, r#"{"load":0.5}"#.into()),
    ];
    for (name, flags, body) in bodies {
        seeds.add(t, name, flags, body.as_bytes(), Accepted);
    }
}

/// The attestation of a completed fixture negotiation.
fn attestation(negotiation: &Negotiation, disclosure: Disclosure) -> ReceiptAttestation {
    ReceiptAttestation::from_transcript(negotiation.transcript(), disclosure)
        .expect("a completed negotiation is attested")
}

/// The attestation's envelopes as the payloads they seal, for the sealed form of the target.
fn payloads(attestation: &ReceiptAttestation) -> Vec<u8> {
    let payload = |envelope: &[u8]| fixtures::message_content(envelope).encode_to_vec();
    v1::ReceiptAttestation {
        receipt: payload(attestation.receipt()),
        deliver: attestation.deliver().map(payload).unwrap_or_default(),
    }
    .encode_to_vec()
}

/// The flags of an attestation input: sealed or not, the keys swapped, the clock.
fn attestation_flags(sealed: bool, swapped: bool, clock: u8) -> u8 {
    u8::from(sealed) | u8::from(swapped) << 1 | clock << 2
}

fn attestations(seeds: &mut Seeds) {
    use Outcome::{Accepted, Refused};
    let t = "attestation";
    let completed = &fixtures::states()[5];
    let minimal = attestation(completed, Disclosure::Minimal);
    let with_delivery = attestation(completed, Disclosure::WithDelivery);
    let low = attestation(fixtures::low_rated(), Disclosure::Minimal);
    assert!(minimal.deliver().is_none() && low.deliver().is_some());
    let valid = [
        ("minimal", &minimal),
        ("with-delivery", &with_delivery),
        ("low-rating", &low),
    ];
    for (name, attestation) in valid {
        let flags = attestation_flags(false, false, 0);
        seeds.add(t, name, flags, &attestation.encode(), Accepted);
        let flags = attestation_flags(true, false, 0);
        let sealed = payloads(attestation);
        seeds.add(t, &format!("sealed-{name}"), flags, &sealed, Accepted);
    }
    // Signed 5 minutes after the verifier's clock, the most allowed; then 1 ms more.
    let flags = attestation_flags(false, false, 1);
    seeds.add(t, "last-moment", flags, &low.encode(), Accepted);
    let flags = attestation_flags(false, false, 2);
    seeds.add(t, "from-the-future", flags, &low.encode(), Refused);

    let flags = attestation_flags(false, false, 0);
    let mut truncated = with_delivery.encode();
    truncated.truncate(truncated.len() - 10);
    seeds.add(t, "truncated", flags, &truncated, Refused);
    // The signature is the last field of an envelope.
    let mut receipt = minimal.receipt().to_vec();
    *receipt.last_mut().expect("an envelope") ^= 0x01;
    assert!(matches!(
        negotiation::peek(&receipt),
        Err(NegotiationError::BadSignature)
    ));
    let flipped = ReceiptAttestation::new(receipt, None).encode();
    seeds.add(t, "flipped-signature", flags, &flipped, Refused);
    let undisclosed = ReceiptAttestation::new(low.receipt().to_vec(), None).encode();
    seeds.add(
        t,
        "low-rating-without-delivery",
        flags,
        &undisclosed,
        Refused,
    );
    let deliver = low.deliver().expect("disclosed").to_vec();
    let reversed = ReceiptAttestation::new(deliver, Some(low.receipt().to_vec())).encode();
    seeds.add(t, "reversed", flags, &reversed, Refused);
    let flags = attestation_flags(true, true, 0);
    seeds.add(t, "sealed-swapped-keys", flags, &payloads(&low), Refused);
}

fn minimal_attestation() -> Vec<u8> {
    attestation(&fixtures::states()[5], Disclosure::Minimal).encode()
}

fn receipts_answers(seeds: &mut Seeds) {
    use Outcome::{Accepted, Refused};
    let t = "receipts_answer";
    let answer =
        |attestations: Vec<Vec<u8>>, next: Vec<u8>| v1::ReceiptsResponse { attestations, next };
    let low = attestation(fixtures::low_rated(), Disclosure::Minimal);
    let framed = |a: &v1::ReceiptsResponse| encode_length_prefixed(a);
    let valid = [
        ("empty", answer(Vec::new(), Vec::new())),
        ("one", answer(vec![minimal_attestation()], Vec::new())),
        (
            "page-with-next",
            answer(vec![minimal_attestation(), low.encode()], vec![7; 40]),
        ),
    ];
    for (name, a) in &valid {
        seeds.add(t, name, 0, &framed(a), Accepted);
    }
    // The attestations as the payloads they seal, for the sealed form of the target.
    let completed = attestation(&fixtures::states()[5], Disclosure::WithDelivery);
    let sealed = answer(vec![payloads(&completed), payloads(&low)], Vec::new());
    seeds.add(t, "sealed", 1, &sealed.encode_to_vec(), Accepted);
    seeds.add(
        t,
        "sealed-swapped-keys",
        0b11,
        &sealed.encode_to_vec(),
        Accepted,
    );
    let refused = [
        ("too-many", answer(vec![Vec::new(); 257], Vec::new())),
        ("cursor-too-long", answer(Vec::new(), vec![1; 65])),
        ("stalled", answer(Vec::new(), vec![1])),
    ];
    for (name, a) in &refused {
        seeds.add(t, name, 0, &framed(a), Refused);
    }
    // A frame announcing one byte more than the limit: refused before its body is read.
    let mut over = Vec::new();
    let mut len = mesh_net::receipt_catchup::MAX_RESPONSE_BYTES + 1;
    while len >= 0x80 {
        over.push(u8::try_from(len & 0x7f).expect("seven bits") | 0x80);
        len >>= 7;
    }
    over.push(u8::try_from(len).expect("seven bits"));
    seeds.add(t, "over-limit", 0, &over, Refused);
}
