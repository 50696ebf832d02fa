//! What every request to the local API passes before its handler, in this order:
//!
//! 1. the `Host` check: a request addressed to a name that is not loopback (`localhost`,
//!    `127.0.0.0/8`, `[::1]`, any port) is refused with 403 `host_not_allowed`, on every route,
//!    so that a web page cannot reach the API through DNS rebinding;
//! 2. the token: a request with the right bearer token is the owner's, any other a stranger's;
//! 3. the rate limit of its kind: the owner's requests draw on their own bucket
//!    ([`DEFAULT_API_RATE`]), strangers' on a small one
//!    ([`DEFAULT_UNAUTHENTICATED_RATE`]), so a flood without the token never makes the owner's
//!    calls 429;
//! 4. a stranger gets only the bare health check ([`PUBLIC_PATHS`]); anything else is 401.
//!
//! Event streams and award waits, which hold a response open, also take one of a fixed number
//! of slots ([`StreamSlots`], [`DEFAULT_MAX_STREAMS`]); past it they are refused with 503
//! `too_many_streams`, and a slot comes back when its response ends.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use mesh_net::Rate;
use mesh_net::rate_limit::KeyedLimiter;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;

/// Requests with the token (the owner's) the local API serves by default: 500 a second, in
/// bursts of up to 1,000.
pub const DEFAULT_API_RATE: Rate = Rate {
    per_second: 500.0,
    burst: 1000.0,
};

/// Requests without the token (the health check, and refused ones) the API answers by default:
/// 20 a second, in bursts of up to 40. They never draw on the owner's budget.
pub const DEFAULT_UNAUTHENTICATED_RATE: Rate = Rate {
    per_second: 20.0,
    burst: 40.0,
};

/// Responses held open at once by default: event streams (`/v1/intents/stream`,
/// `/v1/negotiations/stream`) and award requests waiting for offers or an answer.
pub const DEFAULT_MAX_STREAMS: usize = 64;

/// The only paths served without the token. The health check says `{"status": "ok"}` and
/// nothing else.
pub const PUBLIC_PATHS: &[&str] = &["/v1/health"];

/// The token and the two rate-limit buckets, shared by every request.
pub(crate) struct Guard {
    token: Arc<str>,
    owner: Mutex<KeyedLimiter<()>>,
    strangers: Mutex<KeyedLimiter<()>>,
}

impl Guard {
    pub(crate) fn new(token: Arc<str>, owner: Rate, strangers: Rate) -> Self {
        Self {
            token,
            owner: Mutex::new(KeyedLimiter::new(owner, 1)),
            strangers: Mutex::new(KeyedLimiter::new(strangers, 1)),
        }
    }
}

/// The middleware: Host, token, rate limit of the request's kind, public paths.
pub(crate) async fn guard(
    State(guard): State<Arc<Guard>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    check_host(&request)?;
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let owner = constant_time_eq(given.as_bytes(), guard.token.as_bytes());
    let bucket = if owner {
        &guard.owner
    } else {
        &guard.strangers
    };
    let allowed = bucket
        .lock()
        .map(|mut l| l.allow(&(), tokio::time::Instant::now()))
        .unwrap_or(true);
    if !allowed {
        let message = if owner {
            "too many requests to the local API: slow down and retry shortly"
        } else {
            "too many requests without the API token: retry shortly, or send `Authorization: Bearer <token>` (the token is in $MESH_HOME/api-token), whose requests have their own budget"
        };
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            message,
        ));
    }
    if !owner && !PUBLIC_PATHS.contains(&request.uri().path()) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer token: send `Authorization: Bearer <token>` with the token from $MESH_HOME/api-token",
        ));
    }
    Ok(next.run(request).await)
}

fn check_host(request: &Request) -> Result<(), ApiError> {
    let host = request
        .headers()
        .get(header::HOST)
        .map(|v| v.to_str().unwrap_or("(not text)"))
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    match host {
        Some(host) if is_loopback_host(host) => Ok(()),
        Some(host) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "host_not_allowed",
            format!(
                "this request is addressed to host {host:?}, which is not loopback: the local API answers only requests for localhost, 127.0.0.1 or [::1] (any port), so that no web page can reach it through DNS rebinding; call it as http://127.0.0.1:PORT"
            ),
        )),
        None => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "host_not_allowed",
            "this request has no Host header: the local API answers only requests for localhost, 127.0.0.1 or [::1] (any port); send `Host: 127.0.0.1:PORT`",
        )),
    }
}

/// Whether `host` (a `Host` header: a name or address, with an optional port) names this
/// machine's loopback interface: `localhost`, an address in `127.0.0.0/8`, or `[::1]`.
pub fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return false;
        };
        if !is_port(after) {
            return false;
        }
        return inside.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
    } else {
        match host.split_once(':') {
            Some((name, port)) if is_port(&format!(":{port}")) => name,
            Some(_) => return false,
            None => host,
        }
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// Empty, or `:` and up to five digits.
fn is_port(s: &str) -> bool {
    s.is_empty()
        || s.strip_prefix(':')
            .is_some_and(|p| p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The slots of responses held open (event streams, award waits), shared by every request.
#[derive(Debug, Clone)]
pub struct StreamSlots {
    free: Arc<Semaphore>,
    max: usize,
}

/// One taken slot; dropping it (when its response ends) gives the slot back.
#[derive(Debug)]
pub(crate) struct StreamSlot {
    _permit: OwnedSemaphorePermit,
}

impl StreamSlots {
    /// At most `max` responses held open at once.
    pub fn new(max: usize) -> Self {
        Self {
            free: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// Responses held open now.
    pub fn in_use(&self) -> usize {
        self.max.saturating_sub(self.free.available_permits())
    }

    /// Takes a slot, or refuses with 503 `too_many_streams` when all are taken.
    pub(crate) fn take(&self) -> Result<StreamSlot, ApiError> {
        match self.free.clone().try_acquire_owned() {
            Ok(permit) => Ok(StreamSlot { _permit: permit }),
            Err(_) => Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_streams",
                format!(
                    "this node already holds {} event streams and award requests open, the most it allows: close the streams you no longer read (a client needs one intents stream and one negotiation stream) and retry, or start the node with a higher limit (NodeConfig::api_max_streams)",
                    self.max
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_pass_and_others_do_not() {
        for ok in [
            "localhost",
            "LocalHost:8080",
            "127.0.0.1",
            "127.0.0.1:7000",
            "127.1.2.3:1",
            "[::1]",
            "[::1]:7000",
            "[0:0:0:0:0:0:0:1]:80",
            "localhost:",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:7000",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "127.0.0.1:80:80",
            "127.0.0.1:port",
            "10.0.0.1",
            "0.0.0.0:7000",
            "[::2]:80",
            "[::1",
            "[::1]x",
            "[::ffff:127.0.0.1]",
            "",
            "localhost :80",
            "127.0.0.1:123456",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn slots_are_given_back_when_dropped() {
        let slots = StreamSlots::new(2);
        let a = slots.take().unwrap();
        let _b = slots.take().unwrap();
        assert_eq!(slots.in_use(), 2);
        let err = slots.take().unwrap_err();
        assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
        drop(a);
        assert_eq!(slots.in_use(), 1);
        assert!(slots.take().is_ok());
    }
}
