//! A request-response codec for protobuf messages framed with an unsigned-varint length prefix,
//! with a size limit per direction checked before the body is read.

use std::io;
use std::marker::PhantomData;

use futures::prelude::*;
use libp2p::StreamProtocol;
use libp2p::request_response;
use prost::Message;

/// Length-prefixed protobuf codec for `Req` and `Resp`.
#[derive(Debug)]
pub struct ProtoCodec<Req, Resp> {
    max_request: usize,
    max_response: usize,
    types: PhantomData<fn() -> (Req, Resp)>,
}

impl<Req, Resp> Clone for ProtoCodec<Req, Resp> {
    fn clone(&self) -> Self {
        Self {
            max_request: self.max_request,
            max_response: self.max_response,
            types: PhantomData,
        }
    }
}

impl<Req, Resp> ProtoCodec<Req, Resp> {
    /// A codec that refuses requests over `max_request` and responses over `max_response`
    /// bytes.
    pub fn new(max_request: usize, max_response: usize) -> Self {
        Self {
            max_request,
            max_response,
            types: PhantomData,
        }
    }
}

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let mut len: u64 = 0;
    for i in 0..10 {
        let mut byte = [0u8; 1];
        io.read_exact(&mut byte).await?;
        len |= u64::from(byte[0] & 0x7f) << (7 * i);
        if byte[0] & 0x80 == 0 {
            let len = usize::try_from(len)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "length overflow"))?;
            if len > max {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("message of {len} bytes exceeds the limit of {max}"),
                ));
            }
            let mut body = vec![0u8; len];
            io.read_exact(&mut body).await?;
            return Ok(body);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "malformed length prefix",
    ))
}

async fn write_frame<T: AsyncWrite + Unpin + Send, M: Message>(
    io: &mut T,
    message: &M,
    max: usize,
) -> io::Result<()> {
    let body = message.encode_to_vec();
    if body.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("message of {} bytes exceeds the limit of {max}", body.len()),
        ));
    }
    let framed = message.encode_length_delimited_to_vec();
    io.write_all(&framed).await?;
    io.close().await
}

fn decode<M: Message + Default>(bytes: &[u8]) -> io::Result<M> {
    M::decode(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

impl<Req, Resp> request_response::Codec for ProtoCodec<Req, Resp>
where
    Req: Message + Default + Send + 'static,
    Resp: Message + Default + Send + 'static,
{
    type Protocol = StreamProtocol;
    type Request = Req;
    type Response = Resp;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Req>
    where
        T: AsyncRead + Unpin + Send,
    {
        decode(&read_frame(io, self.max_request).await?)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Resp>
    where
        T: AsyncRead + Unpin + Send,
    {
        decode(&read_frame(io, self.max_response).await?)
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: Req) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req, self.max_request).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Resp,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res, self.max_response).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::request_response::Codec;
    use mesh_proto::v1::{OpenIntentsRequest, OpenIntentsResponse};

    fn protocol() -> StreamProtocol {
        StreamProtocol::new("/test/1")
    }

    #[tokio::test]
    async fn round_trip_and_limits() {
        let mut codec = ProtoCodec::<OpenIntentsRequest, OpenIntentsResponse>::new(64, 1024);
        let request = OpenIntentsRequest {
            capabilities: vec!["text-generation".into()],
            limit: 5,
        };
        let mut buf = futures::io::Cursor::new(Vec::new());
        codec
            .write_request(&protocol(), &mut buf, request.clone())
            .await
            .unwrap();
        let mut read = futures::io::Cursor::new(buf.into_inner());
        assert_eq!(
            codec.read_request(&protocol(), &mut read).await.unwrap(),
            request
        );

        // A response announcing more than the limit is refused before its body is read.
        let big = OpenIntentsResponse {
            envelopes: vec![vec![0u8; 2048]],
        };
        let mut framed = futures::io::Cursor::new(big.encode_length_delimited_to_vec());
        let err = codec
            .read_response(&protocol(), &mut framed)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("exceeds the limit"));

        // Writing an oversize request fails locally.
        let huge = OpenIntentsRequest {
            capabilities: vec!["x".repeat(100)],
            limit: 1,
        };
        let mut sink = futures::io::Cursor::new(Vec::new());
        assert!(
            codec
                .write_request(&protocol(), &mut sink, huge)
                .await
                .is_err()
        );

        // Garbage is an error, not a panic.
        let mut garbage = futures::io::Cursor::new(vec![0x03, 0xff, 0xff, 0xff]);
        assert!(codec.read_request(&protocol(), &mut garbage).await.is_err());
    }
}
