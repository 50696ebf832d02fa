//! Proof-of-work stamps on intents: an optional price on publishing, set per network.
//!
//! A network that wants one sets a difficulty `d` (leading zero bits). An intent carries a
//! stamp of difficulty `d` when
//!
//! ```text
//! SHA-256("mesh-pow/1" || SHA-256(the intent's payload with `nonce` empty) || nonce)
//! ```
//!
//! starts with at least `d` zero bits. The publisher finds such a `nonce` (its 16 bytes: 8
//! random, then an 8-byte counter) by trying counters, about `2^d` SHA-256 compressions of
//! 60 bytes each, whatever the size of the intent; a node checks a stamp with one encoding
//! and two hashes. The digest covers every other field, the publisher, the creation and expiry
//! times included, so a stamp is worth one intent and cannot be reused. The nonce stays inside
//! the signed payload: the stamp is signed with the intent and its id changes with it.

use mesh_proto::v1;
use prost::Message;
use sha2::{Digest, Sha256};

/// Domain separation of the stamp hash.
const DOMAIN: &[u8] = b"mesh-pow/1";
/// Highest difficulty a network may ask for: 2^32 hashes is already minutes of work.
pub const MAX_DIFFICULTY: u8 = 32;
/// Length of an intent's nonce.
pub const NONCE_BYTES: usize = 16;

/// The digest a stamp is computed over: `content` encoded with `id` and `nonce` empty.
pub fn work_base(content: &v1::Intent) -> [u8; 32] {
    let mut without = content.clone();
    without.id.clear();
    without.nonce.clear();
    Sha256::digest(without.encode_to_vec()).into()
}

/// Leading zero bits of the stamp hash of `nonce` over `base`.
pub fn stamp_bits(base: &[u8; 32], nonce: &[u8]) -> u32 {
    let hash: [u8; 32] = Sha256::new()
        .chain_update(DOMAIN)
        .chain_update(base)
        .chain_update(nonce)
        .finalize()
        .into();
    leading_zero_bits(&hash)
}

/// Leading zero bits of `bytes`.
pub fn leading_zero_bits(bytes: &[u8]) -> u32 {
    let mut bits = 0;
    for byte in bytes {
        if *byte == 0 {
            bits += 8;
        } else {
            return bits + byte.leading_zeros();
        }
    }
    bits
}

/// A nonce whose stamp over `base` has at least `difficulty` leading zero bits, starting from
/// the 8 random bytes `prefix`. Returns the nonce and the number of hashes tried.
///
/// # Panics
///
/// Never for `difficulty <= MAX_DIFFICULTY`: the 2^64 counters then hold a solution with
/// overwhelming probability, and a difficulty above it is refused by the builder first.
pub fn solve(base: &[u8; 32], difficulty: u8, prefix: [u8; 8]) -> ([u8; NONCE_BYTES], u64) {
    let mut nonce = [0u8; NONCE_BYTES];
    nonce[..8].copy_from_slice(&prefix);
    // The hash state after the fixed part is shared by every try.
    let fixed = Sha256::new().chain_update(DOMAIN).chain_update(base);
    let want = u32::from(difficulty);
    for counter in 0u64.. {
        nonce[8..].copy_from_slice(&counter.to_be_bytes());
        let hash: [u8; 32] = fixed.clone().chain_update(nonce).finalize().into();
        if leading_zero_bits(&hash) >= want {
            return (nonce, counter + 1);
        }
    }
    unreachable!("2^64 nonces without a stamp of {difficulty} bits")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_zero_bits_counts_across_bytes() {
        assert_eq!(leading_zero_bits(&[0xff]), 0);
        assert_eq!(leading_zero_bits(&[0x01]), 7);
        assert_eq!(leading_zero_bits(&[0x00, 0x80]), 8);
        assert_eq!(leading_zero_bits(&[0x00, 0x00, 0x10]), 19);
        assert_eq!(leading_zero_bits(&[0u8; 4]), 32);
    }

    #[test]
    fn a_solved_nonce_meets_its_difficulty_and_another_base_does_not_share_it() {
        let base = [7u8; 32];
        for difficulty in [0u8, 1, 8, 12] {
            let (nonce, tries) = solve(&base, difficulty, [1; 8]);
            assert!(stamp_bits(&base, &nonce) >= u32::from(difficulty));
            assert!(tries >= 1);
        }
        let (nonce, _) = solve(&base, 16, [2; 8]);
        // A stamp is bound to its base: the same nonce over another base is a fresh lottery,
        // 16 bits with probability 2^-16.
        assert!(stamp_bits(&[8u8; 32], &nonce) < 16);
    }
}
