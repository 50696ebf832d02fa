//! Request bodies of the local API, through the node's own extractors
//! (`mesh_node::api::body::JsonBody` and `OptionalJsonBody`), then what each handler makes of the
//! request: an intent to sign, a negotiation message to send, a cancellation, an award
//! policy, a multiaddr to dial, a load to advertise.
//!
//! Flags: the byte, modulo 11, picks the endpoint: publish intent, offer, counter, reject,
//! withdraw, deliver, receipt, cancel, award, dial, load. Bodies over the API's limit
//! (`mesh_node::api::MAX_BODY_BYTES`) never reach an extractor and are skipped.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body as HttpBody;
use axum::extract::FromRequest;
use axum::http::{Request, header};
use axum::response::IntoResponse;
use base64::Engine;
use futures::executor::block_on;
use libp2p::Multiaddr;
use mesh_core::agent_record::{AgentRecord, RECORD_TTL};
use mesh_core::negotiation::{Body, Delivery, Eta, Negotiation, Price, Proposal, Receipt, Role};
use mesh_core::{IntentId, SignedCancellation, SignedIntent};
use mesh_net::idp::{self, Verdict};
use mesh_net::inp::Registry;
use mesh_net::{AwardPolicy, InpError};
use mesh_node::api::body::{JsonBody, OptionalJsonBody};
use mesh_node::api::intents::{AwardRequest, CancelRequest, MAX_AWARD_WAIT};
use mesh_node::api::negotiations::{
    DeliverRequest, OfferRequest, ProposalRequest, ReasonRequest, ReceiptRequest,
};
use mesh_node::api::peers::{DialRequest, LoadRequest};
use mesh_node::views::PublishIntentRequest;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Outcome;
use crate::fixtures::{self, NOW};
use crate::input::Input;

/// Runs one input.
pub fn run(bytes: &[u8]) -> Outcome {
    let Some(input) = Input::split(bytes) else {
        return Outcome::Skipped;
    };
    let body = input.data;
    if body.len() > mesh_node::api::MAX_BODY_BYTES {
        return Outcome::Skipped;
    }
    let taken = match input.flags % 11 {
        0 => required::<PublishIntentRequest>(body).map(|r| publish(&r)),
        1 => required::<OfferRequest>(body).map(|r| offer(&r)),
        2 => required::<ProposalRequest>(body).map(|r| counter(&r)),
        3 => optional::<ReasonRequest>(body).map(|r| reason(Role::Publisher, &r, true)),
        4 => optional::<ReasonRequest>(body).map(|r| reason(Role::Agent, &r, false)),
        5 => required::<DeliverRequest>(body).map(|r| deliver(&r)),
        6 => required::<ReceiptRequest>(body).map(|r| receipt(&r)),
        7 => optional::<CancelRequest>(body).map(|r| cancel(&r)),
        8 => optional::<AwardRequest>(body).map(award),
        9 => required::<DialRequest>(body).map(|r| dial(&r)),
        _ => required::<LoadRequest>(body).map(|r| load(&r)),
    };
    match taken {
        Some(true) => Outcome::Accepted,
        _ => Outcome::Refused,
    }
}

fn request(body: &[u8]) -> Request<HttpBody> {
    Request::builder()
        .method("POST")
        .uri("/")
        .header(header::CONTENT_TYPE, "application/json")
        .body(HttpBody::from(body.to_vec()))
        .expect("a valid request")
}

/// A body through `JsonBody`, as the handlers with a required body take it.
fn required<T: DeserializeOwned + Serialize>(body: &[u8]) -> Option<T> {
    match block_on(JsonBody::<T>::from_request(request(body), &())) {
        Ok(JsonBody(value)) => Some(json_round_trips(value)),
        Err(e) => {
            drop(e.into_response());
            None
        }
    }
}

/// A body through `OptionalJsonBody`, as the handlers with an optional body take it.
fn optional<T: DeserializeOwned + Serialize + Default>(body: &[u8]) -> Option<T> {
    match block_on(OptionalJsonBody::<T>::from_request(request(body), &())) {
        Ok(OptionalJsonBody(value)) => Some(json_round_trips(value)),
        Err(e) => {
            drop(e.into_response());
            None
        }
    }
}

/// What the API reads, a client that wrote it reads back exactly.
fn json_round_trips<T: DeserializeOwned + Serialize>(value: T) -> T {
    let written = serde_json::to_value(&value).expect("a request serialises");
    let text = serde_json::to_vec(&value).expect("a request serialises");
    let read: T = serde_json::from_slice(&text).expect("a serialised request reads back");
    let rewritten = serde_json::to_value(&read).expect("a request serialises");
    assert!(
        written == rewritten,
        "a request changed in a JSON round trip: {written} / {rewritten}"
    );
    value
}

/// `POST /v1/intents`: what the API signs, gossip accepts.
fn publish(request: &PublishIntentRequest) -> bool {
    let Ok(intent) = request.to_intent() else {
        return false;
    };
    let Ok(signed) = intent.sign(&fixtures::keys().publisher, NOW) else {
        return false;
    };
    let verified = SignedIntent::verify(&signed.envelope, NOW).expect("a signed intent verifies");
    assert_eq!(verified, signed);
    let topic = signed.capabilities[0].topic();
    assert!(matches!(
        idp::validate(&topic, &signed.envelope, NOW),
        Verdict::Accept(_)
    ));
    true
}

/// The terms of an offer or a counter, as `api::negotiations` builds them.
fn proposal(request: &ProposalRequest) -> Option<Proposal> {
    let price = Price::new(&request.amount, &request.currency).ok()?;
    if request.eta_secs == 0 {
        return None;
    }
    Some(
        Proposal::new(price, Eta::Within(Duration::from_secs(request.eta_secs)))
            .with_terms(request.terms.clone()),
    )
}

/// Signs `body` as `role` on the fixture negotiation after `taken` messages, and checks that
/// the other party's copy, and the other party's node, take what was signed.
fn exchange(taken: usize, role: Role, body: Body) -> bool {
    let keys = fixtures::keys();
    let (key, other) = match role {
        Role::Publisher => (&keys.publisher, &keys.agent),
        Role::Agent => (&keys.agent, &keys.publisher),
    };
    let now = fixtures::message_time(taken);
    let mut ours: Negotiation = fixtures::states()[taken].clone();
    let Ok(envelope) = ours.send(body, key, now) else {
        return false;
    };
    let mut theirs = fixtures::states()[taken].clone();
    let event = theirs
        .handle(&envelope, now)
        .expect("the other party takes what the API signed");
    assert_eq!(theirs.state(), ours.state());
    assert_eq!(event.state, ours.state());
    let mut registry = Registry::default();
    if taken > 0 {
        assert!(registry.insert_restored(fixtures::states()[taken].clone()));
    }
    let intent = fixtures::intent();
    let intent_of = |id: &IntentId| -> Result<Arc<SignedIntent>, InpError> {
        if *id == intent.id {
            Ok(Arc::new(intent.clone()))
        } else {
            Err(InpError::UnknownIntent(id.to_string()))
        }
    };
    registry
        .receive(
            &envelope,
            fixtures::peer(key),
            None,
            fixtures::peer(other),
            &intent_of,
            now,
        )
        .expect("the other party's node takes what the API signed");
    true
}

/// `POST /v1/negotiations/offer`.
fn offer(request: &OfferRequest) -> bool {
    if request.intent_id.parse::<IntentId>().is_err() {
        return false;
    }
    proposal(&request.proposal).is_some_and(|p| exchange(0, Role::Agent, Body::Offer(p)))
}

/// `POST /v1/negotiations/{id}/counter`, on an offer.
fn counter(request: &ProposalRequest) -> bool {
    proposal(request).is_some_and(|p| exchange(1, Role::Publisher, Body::Counter(p)))
}

/// `POST /v1/negotiations/{id}/reject` or `withdraw`, on an offer.
fn reason(role: Role, request: &ReasonRequest, reject: bool) -> bool {
    let reason = request.reason.clone();
    let body = if reject {
        Body::Reject { reason }
    } else {
        Body::Withdraw { reason }
    };
    exchange(1, role, body)
}

/// `POST /v1/negotiations/{id}/deliver`, on an agreement, with the result as the handler
/// builds it.
fn deliver(request: &DeliverRequest) -> bool {
    let delivery = match (&request.data_base64, &request.location, &request.digest) {
        (Some(data), None, _) => {
            let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data) else {
                return false;
            };
            let content_type = request
                .content_type
                .clone()
                .unwrap_or_else(|| "application/octet-stream".to_owned());
            Delivery::inline(content_type, bytes)
        }
        (None, Some(location), Some(digest)) => {
            let Some(digest) = hex::decode(digest)
                .ok()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            else {
                return false;
            };
            Delivery::at_location(location.clone(), digest)
        }
        _ => return false,
    };
    exchange(3, Role::Agent, Body::Deliver(delivery))
}

/// `POST /v1/negotiations/{id}/receipt`, on a delivery.
fn receipt(request: &ReceiptRequest) -> bool {
    if !(0.0..=1.0).contains(&request.rating) {
        return false;
    }
    let receipt = Receipt::new(request.rating).with_comment(request.comment.clone());
    exchange(4, Role::Publisher, Body::Receipt(receipt))
}

/// `POST /v1/intents/{id}/cancel`: what the API signs, verifies and cancels the intent.
fn cancel(request: &CancelRequest) -> bool {
    if request.reason.len() > mesh_core::cancellation::MAX_CANCEL_REASON_BYTES {
        return false;
    }
    let intent = fixtures::intent();
    let Ok(cancellation) =
        SignedCancellation::sign(&fixtures::keys().publisher, intent, &request.reason, NOW)
    else {
        return false;
    };
    let verified = SignedCancellation::verify(&cancellation.envelope, NOW)
        .expect("a signed cancellation verifies");
    assert_eq!(verified, cancellation);
    assert!(verified.cancels(intent));
    true
}

/// `POST /v1/intents/{id}/award`: the policy the handler builds.
fn award(request: AwardRequest) -> bool {
    if request
        .min_reputation
        .is_some_and(|min| !(0.0..=1.0).contains(&min))
    {
        return false;
    }
    let Ok(counter_at) = request
        .counter_at
        .map(|p| Price::new(&p.amount, &p.currency))
        .transpose()
    else {
        return false;
    };
    let wait = |ms: u64| Some(Duration::from_millis(ms)).filter(|d| *d <= MAX_AWARD_WAIT);
    let (Some(window), Some(answer_wait)) = (
        wait(request.window_ms),
        wait(request.answer_wait_ms.unwrap_or(10_000)),
    ) else {
        return false;
    };
    let policy = AwardPolicy {
        window,
        min_reputation: request.min_reputation,
        counter_at,
        answer_wait,
    };
    drop(format!("{policy:?}"));
    true
}

/// `POST /v1/peers`: a multiaddr the API dials survives its text and binary forms.
fn dial(request: &DialRequest) -> bool {
    let Ok(address) = request.address.parse::<Multiaddr>() else {
        return false;
    };
    assert_eq!(
        address.to_string().parse::<Multiaddr>().ok(),
        Some(address.clone())
    );
    assert_eq!(Multiaddr::try_from(address.to_vec()).ok(), Some(address));
    true
}

/// `PUT /v1/load`: a load the API takes goes into a record that verifies.
fn load(request: &LoadRequest) -> bool {
    if !(0.0..=1.0).contains(&request.load) {
        return false;
    }
    let record = AgentRecord {
        name: "scribe".into(),
        load: request.load,
        ..AgentRecord::default()
    };
    let signed = record
        .sign(&fixtures::keys().agent, NOW, NOW, RECORD_TTL)
        .expect("a record with a valid load signs");
    assert_eq!(signed.load, request.load);
    true
}
