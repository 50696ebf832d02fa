//! The wire format of the libp2p perf protocol, `/perf/1.0.0`.
//!
//! One perf run is one stream. The client writes the number of bytes it wants back as an
//! 8-byte big-endian `u64`, then uploads its bytes and closes its write side. The server reads
//! until end of stream, then writes the requested number of bytes and closes. The payload
//! carries no meaning: both sides send zeros and count what they receive.
//!
//! Specification: <https://github.com/libp2p/specs/blob/master/perf/perf.md>.

use std::io;

use futures::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use libp2p::StreamProtocol;

/// The protocol id.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/perf/1.0.0");

/// Length of the header: the requested download size as a big-endian `u64`.
pub const HEADER_LEN: usize = 8;

/// Size of one read or write on a perf stream.
pub const CHUNK_LEN: usize = 64 * 1024;

static ZEROS: [u8; CHUNK_LEN] = [0; CHUNK_LEN];

/// Errors of one perf stream, on either side.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The stream ended before the 8-byte header was complete.
    #[error(
        "perf stream ended after {received} of the {HEADER_LEN} header bytes \
         (the requested download size)"
    )]
    TruncatedHeader {
        /// Header bytes received before the end of the stream.
        received: usize,
    },
    /// The client asked for more bytes than the server allows.
    #[error("requested download of {requested} bytes exceeds the server's limit of {limit} bytes")]
    DownloadTooLarge {
        /// Bytes the client asked for.
        requested: u64,
        /// The server's limit.
        limit: u64,
    },
    /// The client uploaded more bytes than the server allows.
    #[error("upload exceeds the server's limit of {limit} bytes")]
    UploadTooLarge {
        /// The server's limit.
        limit: u64,
    },
    /// The server sent fewer bytes than requested before closing the stream.
    #[error("server closed the stream after {received} of the {expected} requested bytes")]
    ShortDownload {
        /// Bytes requested.
        expected: u64,
        /// Bytes received.
        received: u64,
    },
    /// The server sent more bytes than requested.
    #[error("server sent more than the {expected} requested bytes")]
    LongDownload {
        /// Bytes requested.
        expected: u64,
    },
    /// Reading or writing the stream failed.
    #[error("perf stream I/O: {0}")]
    Io(io::Error),
}

impl From<io::Error> for ProtocolError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// Encodes the header: the number of bytes the client wants back.
pub fn encode_header(download_bytes: u64) -> [u8; HEADER_LEN] {
    download_bytes.to_be_bytes()
}

/// Reads the header from `stream` and returns the requested download size.
pub async fn read_header<S>(stream: &mut S) -> Result<u64, ProtocolError>
where
    S: AsyncRead + Unpin,
{
    let mut header = [0u8; HEADER_LEN];
    let mut received = 0;
    while received < HEADER_LEN {
        let n = stream.read(&mut header[received..]).await?;
        if n == 0 {
            return Err(ProtocolError::TruncatedHeader { received });
        }
        received += n;
    }
    Ok(u64::from_be_bytes(header))
}

/// Writes `len` zero bytes to `stream`, in chunks of [`CHUNK_LEN`].
pub async fn write_zeros<S>(stream: &mut S, len: u64) -> Result<(), ProtocolError>
where
    S: AsyncWrite + Unpin,
{
    let mut remaining = len;
    while remaining > 0 {
        let chunk = usize::try_from(remaining).map_or(CHUNK_LEN, |r| r.min(CHUNK_LEN));
        stream.write_all(&ZEROS[..chunk]).await?;
        remaining -= chunk as u64;
    }
    Ok(())
}

/// Reads `stream` to its end, discarding the bytes, and returns how many there were.
///
/// Fails with `too_long(limit)` as soon as more than `limit` bytes have arrived.
async fn drain<S>(
    stream: &mut S,
    limit: u64,
    too_long: impl FnOnce(u64) -> ProtocolError,
) -> Result<u64, ProtocolError>
where
    S: AsyncRead + Unpin,
{
    let mut buf = vec![0u8; CHUNK_LEN];
    let mut total: u64 = 0;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
        if total > limit {
            return Err(too_long(limit));
        }
    }
}

/// Client side, first half: sends the header, uploads `upload_bytes` and closes the write side.
pub async fn client_upload<S>(
    stream: &mut S,
    upload_bytes: u64,
    download_bytes: u64,
) -> Result<(), ProtocolError>
where
    S: AsyncWrite + Unpin,
{
    stream.write_all(&encode_header(download_bytes)).await?;
    write_zeros(stream, upload_bytes).await?;
    stream.close().await?;
    Ok(())
}

/// Client side, second half: reads the server's bytes to the end of the stream and checks that
/// exactly `download_bytes` arrived.
pub async fn client_download<S>(stream: &mut S, download_bytes: u64) -> Result<(), ProtocolError>
where
    S: AsyncRead + Unpin,
{
    let received = drain(stream, download_bytes, |expected| {
        ProtocolError::LongDownload { expected }
    })
    .await?;
    if received < download_bytes {
        return Err(ProtocolError::ShortDownload {
            expected: download_bytes,
            received,
        });
    }
    Ok(())
}

/// What the server accepts on one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Largest download a client may request.
    pub max_download_bytes: u64,
    /// Largest upload a client may send.
    pub max_upload_bytes: u64,
}

/// Bytes moved on one stream served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    /// Bytes the client uploaded.
    pub uploaded: u64,
    /// Bytes sent back to the client.
    pub downloaded: u64,
}

/// Server side of one stream: reads the header and the upload, then sends the requested bytes
/// and closes. A request over `limits` is refused before any upload is read.
pub async fn serve<S>(stream: &mut S, limits: StreamLimits) -> Result<Served, ProtocolError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let requested = read_header(stream).await?;
    if requested > limits.max_download_bytes {
        // Closing tells the client at once; its download then ends short.
        let _ = stream.close().await;
        return Err(ProtocolError::DownloadTooLarge {
            requested,
            limit: limits.max_download_bytes,
        });
    }
    let uploaded = drain(stream, limits.max_upload_bytes, |limit| {
        ProtocolError::UploadTooLarge { limit }
    })
    .await?;
    write_zeros(stream, requested).await?;
    stream.close().await?;
    Ok(Served {
        uploaded,
        downloaded: requested,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::pin::Pin;
    use std::task::{Context, Poll};

    use futures::executor::block_on;
    use futures::io::Cursor;

    use super::*;

    /// A stream that reads from fixed bytes and records what is written to it.
    struct FakeStream {
        input: Cursor<Vec<u8>>,
        output: Vec<u8>,
        closed: bool,
    }

    impl FakeStream {
        fn new(input: Vec<u8>) -> Self {
            Self {
                input: Cursor::new(input),
                output: Vec::new(),
                closed: false,
            }
        }
    }

    impl AsyncRead for FakeStream {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.input).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for FakeStream {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            assert!(!self.closed, "write after close");
            self.output.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_close(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.closed = true;
            Poll::Ready(Ok(()))
        }
    }

    const LIMITS: StreamLimits = StreamLimits {
        max_download_bytes: 1 << 20,
        max_upload_bytes: 1 << 20,
    };

    #[test]
    fn header_is_big_endian_u64() {
        assert_eq!(
            encode_header(0x0102_0304_0506_0708),
            [1, 2, 3, 4, 5, 6, 7, 8]
        );
        let mut input = Cursor::new(vec![0, 0, 0, 0, 0, 1, 0, 0, 0xff]);
        assert_eq!(block_on(read_header(&mut input)).unwrap(), 65_536);
    }

    #[test]
    fn truncated_header_is_a_clear_error() {
        let mut input = Cursor::new(vec![0u8; 5]);
        let err = block_on(read_header(&mut input)).unwrap_err();
        assert!(matches!(
            err,
            ProtocolError::TruncatedHeader { received: 5 }
        ));
        assert_eq!(
            err.to_string(),
            "perf stream ended after 5 of the 8 header bytes (the requested download size)"
        );

        let mut empty = Cursor::new(Vec::new());
        let err = block_on(read_header(&mut empty)).unwrap_err();
        assert!(matches!(
            err,
            ProtocolError::TruncatedHeader { received: 0 }
        ));
    }

    #[test]
    fn server_reads_the_upload_then_sends_what_was_asked() {
        let mut input = encode_header(200_000).to_vec();
        input.extend(std::iter::repeat_n(7u8, 150_000));
        let mut stream = FakeStream::new(input);
        let served = block_on(serve(&mut stream, LIMITS)).unwrap();
        assert_eq!(
            served,
            Served {
                uploaded: 150_000,
                downloaded: 200_000
            }
        );
        assert_eq!(stream.output.len(), 200_000);
        assert!(stream.closed);
    }

    #[test]
    fn server_refuses_a_download_over_its_limit() {
        let mut stream = FakeStream::new(encode_header(LIMITS.max_download_bytes + 1).to_vec());
        let err = block_on(serve(&mut stream, LIMITS)).unwrap_err();
        assert!(matches!(
            err,
            ProtocolError::DownloadTooLarge {
                requested: 1_048_577,
                limit: 1_048_576
            }
        ));
        assert!(stream.output.is_empty());
        assert!(stream.closed);
    }

    #[test]
    fn server_refuses_an_upload_over_its_limit() {
        let mut input = encode_header(10).to_vec();
        input.resize(HEADER_LEN + LIMITS.max_upload_bytes as usize + 1, 0);
        let mut stream = FakeStream::new(input);
        let err = block_on(serve(&mut stream, LIMITS)).unwrap_err();
        assert!(matches!(err, ProtocolError::UploadTooLarge { .. }));
        assert!(stream.output.is_empty());
    }

    #[test]
    fn server_with_truncated_header_sends_nothing() {
        let mut stream = FakeStream::new(vec![0, 0, 1]);
        let err = block_on(serve(&mut stream, LIMITS)).unwrap_err();
        assert!(matches!(
            err,
            ProtocolError::TruncatedHeader { received: 3 }
        ));
        assert!(stream.output.is_empty());
    }

    #[test]
    fn client_upload_writes_header_then_bytes_then_closes() {
        let mut stream = FakeStream::new(Vec::new());
        block_on(client_upload(&mut stream, 100_000, 42)).unwrap();
        assert_eq!(stream.output.len(), HEADER_LEN + 100_000);
        assert_eq!(stream.output[..HEADER_LEN], 42u64.to_be_bytes());
        assert!(stream.closed);
    }

    #[test]
    fn client_download_checks_the_byte_count() {
        let mut exact = Cursor::new(vec![0u8; 70_000]);
        block_on(client_download(&mut exact, 70_000)).unwrap();

        let mut short = Cursor::new(vec![0u8; 69_999]);
        let err = block_on(client_download(&mut short, 70_000)).unwrap_err();
        assert!(matches!(
            err,
            ProtocolError::ShortDownload {
                expected: 70_000,
                received: 69_999
            }
        ));

        let mut long = Cursor::new(vec![0u8; 70_001]);
        let err = block_on(client_download(&mut long, 70_000)).unwrap_err();
        assert!(matches!(
            err,
            ProtocolError::LongDownload { expected: 70_000 }
        ));
    }

    #[test]
    fn client_and_server_agree() {
        // The client's upload is the server's input; the server's output is the client's.
        let mut client_out = FakeStream::new(Vec::new());
        block_on(client_upload(&mut client_out, 300_000, 123_456)).unwrap();
        let mut server = FakeStream::new(client_out.output);
        let served = block_on(serve(&mut server, LIMITS)).unwrap();
        assert_eq!(served.uploaded, 300_000);
        let mut client_in = Cursor::new(server.output);
        block_on(client_download(&mut client_in, 123_456)).unwrap();
    }
}
