//! The encrypted identity key file: the libp2p protobuf keypair sealed with a key derived from a
//! passphrase.
//!
//! ```text
//! offset  bytes  field
//!      0      8  magic "MESHKEY\0"
//!      8      1  format version: 1
//!      9      1  KDF: 1 = argon2id, Argon2 version 0x13
//!     10      4  argon2 memory in KiB, u32 little-endian
//!     14      4  argon2 iterations (passes), u32 little-endian
//!     18      4  argon2 lanes (parallelism), u32 little-endian
//!     22     16  salt, random
//!     38     24  XChaCha20-Poly1305 nonce, random
//!     62      n  ciphertext of the keypair followed by its 16-byte Poly1305 tag
//! ```
//!
//! The 62 header bytes are the associated data of the AEAD, so no field of the header can change
//! without the tag failing. The 32-byte cipher key is argon2id(passphrase, salt) with the
//! parameters of the header; a new salt and nonce are drawn from the operating system for every
//! write.

use std::fmt;

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use zeroize::Zeroizing;

use super::passphrase::Passphrase;

/// First bytes of an encrypted key file.
pub(super) const MAGIC: &[u8; 8] = b"MESHKEY\0";
/// The format version this code writes and reads.
pub(super) const VERSION: u8 = 1;
const KDF_ARGON2ID: u8 = 1;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const SALT_AT: usize = 22;
const NONCE_AT: usize = SALT_AT + SALT_LEN;
const HEADER_LEN: usize = NONCE_AT + NONCE_LEN;
/// Longest ciphertext read; an Ed25519 keypair is 68 bytes of protobuf.
const MAX_CIPHERTEXT: usize = 4096;
/// Most argon2 memory a file may ask for: 4 GiB.
const MAX_MEMORY_KIB: u32 = 4 * 1024 * 1024;
/// Most argon2 passes a file may ask for.
const MAX_ITERATIONS: u32 = 64;
/// Most argon2 lanes a file may ask for.
const MAX_LANES: u32 = 64;

/// Argon2id cost of deriving the cipher key from a passphrase.
///
/// The default, 64 MiB of memory, 3 passes and 1 lane, is the second recommendation of RFC 9106
/// (section 4) with one lane, since the derivation runs on one thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes (parallelism).
    pub lanes: u32,
}

impl KdfParams {
    /// 64 MiB, 3 passes, 1 lane.
    pub const DEFAULT: Self = Self {
        memory_kib: 64 * 1024,
        iterations: 3,
        lanes: 1,
    };

    fn argon2(&self) -> Result<Argon2<'static>, KeyFileError> {
        if self.memory_kib > MAX_MEMORY_KIB
            || self.iterations > MAX_ITERATIONS
            || self.lanes > MAX_LANES
        {
            return Err(KeyFileError::Params(format!(
                "{self} is beyond the limits m={} MiB t={MAX_ITERATIONS} p={MAX_LANES}",
                MAX_MEMORY_KIB / 1024
            )));
        }
        let params = Params::new(self.memory_kib, self.iterations, self.lanes, Some(32))
            .map_err(|e| KeyFileError::Params(format!("{self}: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for KdfParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.memory_kib.is_multiple_of(1024) {
            write!(f, "argon2id m={} MiB", self.memory_kib / 1024)?;
        } else {
            write!(f, "argon2id m={} KiB", self.memory_kib)?;
        }
        write!(f, " t={} p={}", self.iterations, self.lanes)
    }
}

/// Why a key file could not be sealed or opened; the home adds the path.
#[derive(Debug)]
pub(super) enum KeyFileError {
    /// Shorter than its header and tag.
    Truncated(usize),
    /// Longer than any key.
    TooLong(usize),
    /// A format version this code does not read.
    UnknownVersion(u8),
    /// A KDF this code does not know.
    UnknownKdf(u8),
    /// KDF parameters argon2 refuses or beyond the limits.
    Params(String),
    /// The tag does not verify: wrong passphrase, or the file was altered.
    NotOpened,
    /// Sealing with an empty passphrase.
    EmptyPassphrase,
}

/// What the header of an encrypted key file says.
#[derive(Debug, Clone, Copy)]
pub(super) struct Header {
    pub(super) kdf: KdfParams,
}

/// Whether `bytes` are an encrypted key file (of any version) rather than a plaintext keypair.
pub(super) fn is_sealed(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// Reads and checks the header of an encrypted key file.
pub(super) fn header(file: &[u8]) -> Result<Header, KeyFileError> {
    let version = *file
        .get(MAGIC.len())
        .ok_or(KeyFileError::Truncated(file.len()))?;
    if version != VERSION {
        return Err(KeyFileError::UnknownVersion(version));
    }
    if file.len() < HEADER_LEN + TAG_LEN {
        return Err(KeyFileError::Truncated(file.len()));
    }
    if file.len() > HEADER_LEN + MAX_CIPHERTEXT {
        return Err(KeyFileError::TooLong(file.len()));
    }
    let kdf_id = file[9];
    if kdf_id != KDF_ARGON2ID {
        return Err(KeyFileError::UnknownKdf(kdf_id));
    }
    let kdf = KdfParams {
        memory_kib: le_u32(file, 10),
        iterations: le_u32(file, 14),
        lanes: le_u32(file, 18),
    };
    kdf.argon2()?;
    Ok(Header { kdf })
}

/// Seals `plaintext` under `passphrase` with a fresh salt and nonce.
pub(super) fn seal(
    plaintext: &[u8],
    passphrase: &Passphrase,
    kdf: KdfParams,
) -> Result<Vec<u8>, KeyFileError> {
    if passphrase.is_empty() {
        return Err(KeyFileError::EmptyPassphrase);
    }
    let argon2 = kdf.argon2()?;
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let mut file = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
    file.extend_from_slice(MAGIC);
    file.push(VERSION);
    file.push(KDF_ARGON2ID);
    file.extend_from_slice(&kdf.memory_kib.to_le_bytes());
    file.extend_from_slice(&kdf.iterations.to_le_bytes());
    file.extend_from_slice(&kdf.lanes.to_le_bytes());
    file.extend_from_slice(&salt);
    file.extend_from_slice(&nonce);
    let cipher = cipher(&argon2, passphrase, &salt)?;
    let sealed = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &file,
            },
        )
        .map_err(|_| KeyFileError::Params("the cipher refused the key".into()))?;
    file.extend_from_slice(&sealed);
    Ok(file)
}

/// Opens an encrypted key file with `passphrase`.
pub(super) fn open(
    file: &[u8],
    passphrase: &Passphrase,
) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
    let header = header(file)?;
    let argon2 = header.kdf.argon2()?;
    let (head, sealed) = file.split_at(HEADER_LEN);
    let cipher = cipher(&argon2, passphrase, &head[SALT_AT..NONCE_AT])?;
    cipher
        .decrypt(
            XNonce::from_slice(&head[NONCE_AT..HEADER_LEN]),
            Payload {
                msg: sealed,
                aad: head,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| KeyFileError::NotOpened)
}

fn cipher(
    argon2: &Argon2<'_>,
    passphrase: &Passphrase,
    salt: &[u8],
) -> Result<XChaCha20Poly1305, KeyFileError> {
    let mut key = Zeroizing::new([0u8; 32]);
    argon2
        .hash_password_into(passphrase.as_bytes(), salt, key.as_mut())
        .map_err(|e| KeyFileError::Params(e.to_string()))?;
    XChaCha20Poly1305::new_from_slice(key.as_ref())
        .map_err(|_| KeyFileError::Params("the cipher refused a 32-byte key".into()))
}

fn le_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: KdfParams = KdfParams {
        memory_kib: 64,
        iterations: 1,
        lanes: 1,
    };

    fn pass(s: &str) -> Passphrase {
        Passphrase::new(s)
    }

    #[test]
    fn seal_then_open_gives_the_plaintext_back() {
        let file = seal(b"secret key bytes", &pass("right"), CHEAP).unwrap();
        assert!(is_sealed(&file));
        assert_eq!(file.len(), HEADER_LEN + 16 + TAG_LEN);
        assert_eq!(header(&file).unwrap().kdf, CHEAP);
        let plain = open(&file, &pass("right")).unwrap();
        assert_eq!(plain.as_slice(), b"secret key bytes");
    }

    #[test]
    fn every_seal_draws_a_new_salt_and_nonce() {
        let a = seal(b"k", &pass("p"), CHEAP).unwrap();
        let b = seal(b"k", &pass("p"), CHEAP).unwrap();
        assert_ne!(a[SALT_AT..NONCE_AT], b[SALT_AT..NONCE_AT]);
        assert_ne!(a[NONCE_AT..HEADER_LEN], b[NONCE_AT..HEADER_LEN]);
    }

    #[test]
    fn wrong_passphrase_is_not_opened() {
        let file = seal(b"k", &pass("right"), CHEAP).unwrap();
        assert!(matches!(
            open(&file, &pass("wrong")),
            Err(KeyFileError::NotOpened)
        ));
    }

    #[test]
    fn any_flipped_bit_is_refused() {
        let file = seal(b"secret key bytes", &pass("p"), CHEAP).unwrap();
        // Every byte of the header is authenticated too; the KDF fields are skipped, since
        // changing them may only make the parameters invalid.
        for at in (MAGIC.len() + 2..file.len()).filter(|at| !(10..SALT_AT).contains(at)) {
            let mut bad = file.clone();
            bad[at] ^= 0x01;
            assert!(
                matches!(open(&bad, &pass("p")), Err(KeyFileError::NotOpened)),
                "byte {at}"
            );
        }
        let mut bad = file.clone();
        bad[14] ^= 0x02;
        assert!(matches!(
            open(&bad, &pass("p")),
            Err(KeyFileError::NotOpened)
        ));
    }

    #[test]
    fn short_unknown_and_oversized_files_are_told_apart() {
        let file = seal(b"k", &pass("p"), CHEAP).unwrap();
        assert!(matches!(
            header(&file[..HEADER_LEN]),
            Err(KeyFileError::Truncated(_))
        ));
        assert!(matches!(
            header(&file[..MAGIC.len()]),
            Err(KeyFileError::Truncated(_))
        ));
        let mut v2 = file.clone();
        v2[8] = 2;
        assert!(matches!(header(&v2), Err(KeyFileError::UnknownVersion(2))));
        let mut scrypt = file.clone();
        scrypt[9] = 7;
        assert!(matches!(header(&scrypt), Err(KeyFileError::UnknownKdf(7))));
        let mut huge = file.clone();
        huge.resize(HEADER_LEN + MAX_CIPHERTEXT + 1, 0);
        assert!(matches!(header(&huge), Err(KeyFileError::TooLong(_))));
    }

    #[test]
    fn kdf_parameters_beyond_the_limits_are_refused_before_any_work() {
        let mut file = seal(b"k", &pass("p"), CHEAP).unwrap();
        file[10..14].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(header(&file), Err(KeyFileError::Params(_))));
        let mut zero_passes = seal(b"k", &pass("p"), CHEAP).unwrap();
        zero_passes[14..18].copy_from_slice(&0u32.to_le_bytes());
        assert!(matches!(header(&zero_passes), Err(KeyFileError::Params(_))));
    }

    #[test]
    fn empty_passphrase_is_refused_when_sealing() {
        assert!(matches!(
            seal(b"k", &pass(""), CHEAP),
            Err(KeyFileError::EmptyPassphrase)
        ));
    }

    #[test]
    fn parameters_print_in_mib() {
        assert_eq!(KdfParams::DEFAULT.to_string(), "argon2id m=64 MiB t=3 p=1");
        assert_eq!(CHEAP.to_string(), "argon2id m=64 KiB t=1 p=1");
    }
}
