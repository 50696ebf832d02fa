//! The event loop's part in receipts catch-up (`/mesh/receipts/1.0.0`, see
//! [`crate::receipt_catchup`]): asking the first peers a node connects to for the attestations
//! they hold, page by page; serving this node's own shelf; and sending every attestation of an
//! answer down the gossip path ([`EventLoop::settle_receipt`]).
//!
//! Choices: a node that does not share receipts serves empty answers but still asks (reading
//! receipts discloses nothing of its own, and its reputation view protects it). Attestations of
//! an answer skip the gossip limit per forwarder (`Limits::receipts_per_peer`, 120 a minute,
//! which would cut a catch-up to its first page): their budget is the catch-up's own, at most
//! [`MAX_PER_PEER`](crate::receipt_catchup::MAX_PER_PEER) per peer asked and [`ASKED_ON_CONNECT`] peers asked in [`ASK_WINDOW`], and
//! only answers to this node's own requests are read.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use libp2p::PeerId;
use libp2p::request_response::{self, OutboundFailure, OutboundRequestId, ResponseChannel};
use mesh_core::Observation;
use mesh_proto::v1::{ReceiptsRequest, ReceiptsResponse};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use super::{EventLoop, now_ms};
use crate::config::Rate;
use crate::rate_limit::{KeyedLimiter, Window};
use crate::receipt_catchup::{MAX_PAGES_PER_PEER, Paging, Shelf, parse_request};
use crate::receipts::Taken;

/// New connections asked for receipts within [`ASK_WINDOW`]: a joining node asks its first
/// few peers; a busy node does not ask every peer its DHT queries connect it to (each answer
/// is up to [`MAX_PER_PEER`](crate::receipt_catchup::MAX_PER_PEER) signatures to check).
pub(super) const ASKED_ON_CONNECT: usize = 3;
/// See [`ASKED_ON_CONNECT`].
pub(super) const ASK_WINDOW: Duration = Duration::from_secs(300);
/// Catch-ups running at once, at most.
const MAX_IN_FLIGHT: usize = 8;
/// Answers served to one peer: one whole catch-up ([`MAX_PAGES_PER_PEER`] pages) a minute;
/// beyond, answers are empty.
const SERVED_PER_MINUTE: usize = MAX_PAGES_PER_PEER;
/// Requesting peers whose serving rate is tracked at once.
const LIMITED_REQUESTERS: usize = 4096;

/// The catch-up state of the loop.
pub(super) struct ReceiptCatchup {
    /// What this node serves (empty when it does not share receipts).
    pub(super) shelf: Shelf,
    /// New connections asked: at most [`ASKED_ON_CONNECT`] in [`ASK_WINDOW`].
    asked: Window,
    /// The catch-ups waiting for an answer, by request.
    in_flight: HashMap<OutboundRequestId, (PeerId, Paging)>,
    served_limit: KeyedLimiter<PeerId>,
    caught_up: Counter,
    served: Counter,
    requests: Counter,
}

impl ReceiptCatchup {
    pub(super) fn new(registry: &mut Registry) -> Self {
        let (caught_up, served, requests) =
            (Counter::default(), Counter::default(), Counter::default());
        registry.register(
            "receipts_caught_up",
            "Receipt attestations from catch-up answers counted as new evidence",
            caught_up.clone(),
        );
        registry.register(
            "receipts_catchup_served",
            "Receipts catch-up requests answered from this node's attestations",
            served.clone(),
        );
        registry.register(
            "receipts_catchup_requests",
            "Receipts catch-up requests sent (one per page)",
            requests.clone(),
        );
        let per_minute = u32::try_from(SERVED_PER_MINUTE).unwrap_or(u32::MAX);
        Self {
            shelf: Shelf::default(),
            asked: Window::new(ASKED_ON_CONNECT, ASK_WINDOW),
            in_flight: HashMap::new(),
            served_limit: KeyedLimiter::new(
                Rate::per(per_minute, Duration::from_secs(60)),
                LIMITED_REQUESTERS,
            ),
            caught_up,
            served,
            requests,
        }
    }

    /// Whether a new connection to `peer` at `now` is to be asked, and if so counts it.
    fn take_ask(&mut self, peer: &PeerId, now: Instant) -> bool {
        let busy = self.in_flight.len() >= MAX_IN_FLIGHT
            || self.in_flight.values().any(|(p, _)| p == peer);
        !busy && self.asked.take(now)
    }
}

impl EventLoop {
    /// A first connection to `peer` was established: ask it for receipts if it is among the
    /// first few in the window.
    pub(super) fn ask_receipts_on_connect(&mut self, peer: PeerId, now: Instant) {
        if self.receipts.catchup.take_ask(&peer, now) {
            self.ask_receipts(peer, Paging::new());
        }
    }

    fn ask_receipts(&mut self, peer: PeerId, paging: Paging) {
        let id = self
            .swarm
            .behaviour_mut()
            .receipt_catchup
            .send_request(&peer, paging.request());
        let catchup = &mut self.receipts.catchup;
        catchup.requests.inc();
        catchup.in_flight.insert(id, (peer, paging));
    }

    pub(super) fn on_receipt_catchup_event(
        &mut self,
        event: request_response::Event<ReceiptsRequest, ReceiptsResponse>,
    ) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => self.serve_receipts(peer, &request, channel),
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => self.on_receipts_answer(peer, request_id, response),
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => self.on_receipts_failure(peer, request_id, &error),
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "receipts catch-up answer failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    /// Answers a page of this node's shelf: empty when it does not share receipts or `peer`
    /// asked too often; a request this node cannot read lowers `peer`'s reputation.
    fn serve_receipts(
        &mut self,
        peer: PeerId,
        request: &ReceiptsRequest,
        channel: ResponseChannel<ReceiptsResponse>,
    ) {
        let allowed = self
            .receipts
            .catchup
            .served_limit
            .allow(&peer, Instant::now());
        let answer = match parse_request(request) {
            Err(e) => {
                self.metrics.reject_message("bad_receipts_request");
                let score = self.peers.observe(peer, Observation::Invalid);
                tracing::debug!(%peer, error = %e, score, "bad receipts catch-up request");
                ReceiptsResponse::default()
            }
            Ok(_) if !allowed || !self.receipts.share => ReceiptsResponse::default(),
            Ok(page) => {
                self.receipts.catchup.served.inc();
                self.receipts.catchup.shelf.page(&page)
            }
        };
        let _ = self
            .swarm
            .behaviour_mut()
            .receipt_catchup
            .send_response(channel, answer);
    }

    /// An answer to one of this node's requests: checked as a whole, then every attestation as
    /// one from gossip (their signatures checked in one batch); the next page is asked for
    /// while the answer says more are left, the caps are not reached and the peer sent nothing
    /// invalid.
    fn on_receipts_answer(
        &mut self,
        peer: PeerId,
        request_id: OutboundRequestId,
        response: ReceiptsResponse,
    ) {
        let Some((_, paging)) = self.receipts.catchup.in_flight.remove(&request_id) else {
            return;
        };
        let page = match paging.answer(response) {
            Ok(page) => page,
            Err(e) => {
                self.metrics.reject_message(e.reason());
                let score = self.peers.observe(peer, Observation::Invalid);
                tracing::warn!(%peer, error = %e, score, "receipts catch-up answer refused");
                return;
            }
        };
        let items: Vec<&[u8]> = page.attestations.iter().map(Vec::as_slice).collect();
        let mut honest = true;
        for taken in self.receipts.book.receive_batch(&items, now_ms()) {
            match &taken {
                Taken::Accept(_) => {
                    self.receipts.catchup.caught_up.inc();
                }
                Taken::Reject(_) => honest = false,
                Taken::Ignore(_) => {}
            }
            self.settle_receipt(peer, taken);
        }
        tracing::debug!(%peer, received = page.attestations.len(), "receipts catch-up page");
        if let Some(more) = page.more.filter(|_| honest) {
            self.ask_receipts(peer, more);
        }
    }

    /// A request failed. An answer the codec could not read (over its size limit, or not a
    /// `ReceiptsResponse`) lowers the peer's reputation; a timeout or a closed connection does
    /// not.
    fn on_receipts_failure(
        &mut self,
        peer: PeerId,
        request_id: OutboundRequestId,
        error: &OutboundFailure,
    ) {
        let Some((_, paging)) = self.receipts.catchup.in_flight.remove(&request_id) else {
            return;
        };
        match error {
            OutboundFailure::Io(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                self.metrics.reject_message("receipts_catchup_malformed");
                let score = self.peers.observe(peer, Observation::Invalid);
                tracing::warn!(%peer, error = %e, score, "unreadable receipts catch-up answer");
            }
            _ => {
                tracing::debug!(%peer, %error, taken = paging.taken(), "receipts catch-up failed");
            }
        }
    }
}
