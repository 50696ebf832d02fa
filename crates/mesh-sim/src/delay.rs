//! A stream wrapper that delivers every byte a fixed time after it arrived: the one-way latency
//! of a simulated link.
//!
//! Bytes are taken from the inner stream as soon as the reader is polled, stamped with their
//! arrival time, and handed out once `latency` has passed. Writes go straight through, so each
//! direction of a connection gets the latency once (on the receiving side).

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Sleep};

/// Bytes read from the inner stream at once.
const SCRATCH: usize = 8 * 1024;
/// Most bytes read ahead of the reader per connection.
const READ_AHEAD: usize = 4 * 1024 * 1024;

/// `S` with a one-way delay on what is read from it.
pub struct Delayed<S> {
    inner: S,
    latency: Duration,
    queue: VecDeque<(Instant, Vec<u8>, usize)>,
    queued: usize,
    inner_done: bool,
    timer: Option<Pin<Box<Sleep>>>,
    scratch: Box<[u8]>,
}

impl<S> Delayed<S> {
    /// Wraps `inner`, delaying reads by `latency`.
    pub fn new(inner: S, latency: Duration) -> Self {
        Self {
            inner,
            latency,
            queue: VecDeque::new(),
            queued: 0,
            inner_done: false,
            timer: None,
            scratch: vec![0u8; SCRATCH].into_boxed_slice(),
        }
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
        while !this.inner_done && this.queued < READ_AHEAD {
            match Pin::new(&mut this.inner).poll_read(cx, &mut this.scratch) {
                Poll::Ready(Ok(0)) => this.inner_done = true,
                Poll::Ready(Ok(n)) => {
                    let chunk = this.scratch[..n].to_vec();
                    this.queued += n;
                    this.queue
                        .push_back((Instant::now() + this.latency, chunk, 0));
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
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}
