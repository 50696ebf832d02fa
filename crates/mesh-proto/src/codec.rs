//! Size-bounded protobuf decoding and unsigned-varint length prefixes.

use prost::Message;

/// What can go wrong while decoding a MESH message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    /// The input is larger than the limit for its message type.
    #[error("message of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Bytes received or announced.
        size: usize,
        /// Largest size accepted.
        max: usize,
    },
    /// The bytes are not a valid protobuf encoding of the expected message.
    #[error("malformed protobuf: {0}")]
    Malformed(String),
    /// A length prefix is not a valid unsigned varint.
    #[error("malformed length prefix")]
    BadLengthPrefix,
    /// The input ended before the announced length.
    #[error("truncated message: expected {expected} bytes, got {got}")]
    Truncated {
        /// Bytes announced by the prefix.
        expected: usize,
        /// Bytes available.
        got: usize,
    },
}

/// Decodes `bytes` as `M`, refusing anything longer than `max` bytes.
///
/// ```
/// use mesh_proto::{decode_bounded, v1::Budget, CodecError};
/// use prost::Message;
/// let bytes = Budget { amount: "2".into(), currency: "USD".into() }.encode_to_vec();
/// assert_eq!(decode_bounded::<Budget>(&bytes, 64).unwrap().currency, "USD");
/// assert!(matches!(decode_bounded::<Budget>(&bytes, 3), Err(CodecError::TooLarge { .. })));
/// ```
pub fn decode_bounded<M: Message + Default>(bytes: &[u8], max: usize) -> Result<M, CodecError> {
    if bytes.len() > max {
        return Err(CodecError::TooLarge {
            size: bytes.len(),
            max,
        });
    }
    M::decode(bytes).map_err(|e| CodecError::Malformed(e.to_string()))
}

/// Number of bytes the unsigned-varint encoding of `n` takes.
pub fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Encodes `message` with an unsigned-varint length prefix (the framing of libp2p protocols).
pub fn encode_length_prefixed<M: Message>(message: &M) -> Vec<u8> {
    message.encode_length_delimited_to_vec()
}

/// Reads one length-prefixed message from the front of `bytes`.
///
/// Returns the message and the number of bytes consumed. The announced length is checked
/// against `max` before any of the body is looked at.
pub fn read_length_prefixed<M: Message + Default>(
    bytes: &[u8],
    max: usize,
) -> Result<(M, usize), CodecError> {
    let mut len: u64 = 0;
    let mut prefix = 0;
    loop {
        let byte = *bytes.get(prefix).ok_or(CodecError::BadLengthPrefix)?;
        if prefix == 9 {
            return Err(CodecError::BadLengthPrefix);
        }
        len |= u64::from(byte & 0x7f) << (7 * prefix);
        prefix += 1;
        if byte & 0x80 == 0 {
            break;
        }
    }
    let len = usize::try_from(len).map_err(|_| CodecError::BadLengthPrefix)?;
    if len > max {
        return Err(CodecError::TooLarge { size: len, max });
    }
    let body = &bytes[prefix..];
    if body.len() < len {
        return Err(CodecError::Truncated {
            expected: len,
            got: body.len(),
        });
    }
    let message = M::decode(&body[..len]).map_err(|e| CodecError::Malformed(e.to_string()))?;
    Ok((message, prefix + len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{Budget, Intent};

    #[test]
    fn length_prefixed_round_trip() {
        let budget = Budget {
            amount: "2.50".into(),
            currency: "USD".into(),
        };
        let framed = encode_length_prefixed(&budget);
        let (decoded, used) = read_length_prefixed::<Budget>(&framed, 1024).unwrap();
        assert_eq!(decoded, budget);
        assert_eq!(used, framed.len());
    }

    #[test]
    fn announced_length_over_limit_is_refused_before_reading_body() {
        // Prefix announces 1 MiB but no body follows: the limit must trip first.
        let mut framed = Vec::new();
        let mut n = 1usize << 20;
        while n >= 0x80 {
            framed.push((n as u8) | 0x80);
            n >>= 7;
        }
        framed.push(n as u8);
        assert_eq!(
            read_length_prefixed::<Intent>(&framed, 64 * 1024),
            Err(CodecError::TooLarge {
                size: 1 << 20,
                max: 64 * 1024
            })
        );
    }

    #[test]
    fn truncated_and_garbage_input_are_errors() {
        let framed = encode_length_prefixed(&Budget {
            amount: "1".into(),
            currency: "USD".into(),
        });
        assert!(matches!(
            read_length_prefixed::<Budget>(&framed[..framed.len() - 1], 1024),
            Err(CodecError::Truncated { .. })
        ));
        assert_eq!(
            read_length_prefixed::<Budget>(&[0xff; 12], 1024),
            Err(CodecError::BadLengthPrefix)
        );
        assert!(matches!(
            decode_bounded::<Intent>(&[0x0a, 0xff, 0xff], 1024),
            Err(CodecError::Malformed(_))
        ));
    }

    #[test]
    fn varint_len_matches_encoding() {
        for n in [0usize, 1, 127, 128, 300, 16_383, 16_384, 1 << 20] {
            let mut buf = Vec::new();
            prost::encoding::encode_varint(n as u64, &mut buf);
            assert_eq!(varint_len(n), buf.len(), "n = {n}");
        }
    }
}
