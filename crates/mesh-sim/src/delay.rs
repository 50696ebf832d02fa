//! A stream wrapper that models one simulated link: every byte is delivered a fixed time after
//! it arrived (the one-way latency), a seeded share of reads is "lost" and delivered only after
//! a retransmission timeout, and the bytes written are counted.
//!
//! Bytes are taken from the inner stream as soon as the reader is polled, stamped with their
//! due time, and handed out once it has passed, in order: a late chunk holds back the ones
//! behind it, as a lost segment does on a TCP connection. Writes go straight through, so each
//! direction of a connection gets the latency once (on the receiving side).

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{AsyncRead, AsyncWrite};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::{Instant, Sleep};

/// Bytes read from the inner stream at once, into a buffer on the stack: a buffer kept in
/// every link would cost this much per connection end, idle or not.
const SCRATCH: usize = 8 * 1024;
/// Most bytes read ahead of the reader per connection.
const READ_AHEAD: usize = 4 * 1024 * 1024;
/// The least time a lost chunk waits to be resent, as Linux's minimum TCP RTO.
const MIN_RTO: Duration = Duration::from_millis(200);

/// The behaviour of every link of a simulation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkModel {
    /// One-way latency.
    pub latency: Duration,
    /// Probability in `[0, 1)` that a chunk read from the link was lost and comes
    /// [`LinkModel::retransmit_delay`] late.
    pub loss: f64,
}

impl LinkModel {
    /// How much later a lost chunk arrives: the minimum TCP retransmission timeout plus a
    /// round trip.
    pub fn retransmit_delay(&self) -> Duration {
        MIN_RTO + 2 * self.latency
    }
}

/// `S` with a link's latency and loss on what is read from it, and its writes counted.
pub struct Delayed<S> {
    inner: S,
    link: LinkModel,
    rng: StdRng,
    sent: Arc<AtomicU64>,
    queue: VecDeque<(Instant, Vec<u8>, usize)>,
    queued: usize,
    last_due: Option<Instant>,
    inner_done: bool,
    timer: Option<Pin<Box<Sleep>>>,
}

impl<S> Delayed<S> {
    /// Wraps `inner`; `seed` drives the losses of this link, `sent` counts the bytes written.
    pub fn new(inner: S, link: LinkModel, seed: u64, sent: Arc<AtomicU64>) -> Self {
        Self {
            inner,
            link,
            rng: StdRng::seed_from_u64(seed),
            sent,
            queue: VecDeque::new(),
            queued: 0,
            last_due: None,
            inner_done: false,
            timer: None,
        }
    }

    fn due(&mut self) -> Instant {
        let mut due = Instant::now() + self.link.latency;
        if self.link.loss > 0.0 && self.rng.gen_bool(self.link.loss.clamp(0.0, 1.0)) {
            due += self.link.retransmit_delay();
        }
        // In order: nothing overtakes a chunk that is late.
        if let Some(last) = self.last_due {
            due = due.max(last);
        }
        self.last_due = Some(due);
        due
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Delayed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        // Take everything that has arrived, stamping it.
        let mut scratch = [0u8; SCRATCH];
        while !this.inner_done && this.queued < READ_AHEAD {
            match Pin::new(&mut this.inner).poll_read(cx, &mut scratch) {
                Poll::Ready(Ok(0)) => this.inner_done = true,
                Poll::Ready(Ok(n)) => {
                    let chunk = scratch[..n].to_vec();
                    this.queued += n;
                    let due = this.due();
                    this.queue.push_back((due, chunk, 0));
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => break,
            }
        }
        let Some((due, chunk, offset)) = this.queue.front_mut() else {
            return if this.inner_done {
                Poll::Ready(Ok(0))
            } else {
                Poll::Pending
            };
        };
        if *due > Instant::now() {
            let timer = this
                .timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(*due)));
            timer.as_mut().reset(*due);
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        let n = (chunk.len() - *offset).min(buf.len());
        buf[..n].copy_from_slice(&chunk[*offset..*offset + n]);
        *offset += n;
        this.queued -= n;
        if *offset == chunk.len() {
            this.queue.pop_front();
        }
        Poll::Ready(Ok(n))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Delayed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &written {
            self.sent.fetch_add(*n as u64, Ordering::Relaxed);
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use futures::io::Cursor;
    use futures::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn bytes_arrive_after_the_latency() {
        let link = LinkModel {
            latency: Duration::from_millis(25),
            loss: 0.0,
        };
        let sent = Arc::new(AtomicU64::new(0));
        let mut link_end = Delayed::new(Cursor::new(b"hello".to_vec()), link, 1, sent);
        let t0 = Instant::now();
        let mut buf = Vec::new();
        link_end.read_to_end(&mut buf).await.unwrap();
        assert_eq!(buf, b"hello");
        assert_eq!(t0.elapsed(), Duration::from_millis(25));
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_chunk_comes_a_retransmission_late_and_writes_are_counted() {
        let link = LinkModel {
            latency: Duration::from_millis(10),
            loss: 0.999_999,
        };
        let sent = Arc::new(AtomicU64::new(0));
        let mut link_end = Delayed::new(Cursor::new(b"abc".to_vec()), link, 1, sent.clone());
        let t0 = Instant::now();
        let mut buf = Vec::new();
        link_end.read_to_end(&mut buf).await.unwrap();
        assert_eq!(buf, b"abc");
        assert_eq!(t0.elapsed(), link.latency + link.retransmit_delay());
        link_end.write_all(b"12345").await.unwrap();
        assert_eq!(sent.load(Ordering::Relaxed), 5);
    }
}
