//! A node's home directory: its identity key, its API token and, while it runs, its API address.
//!
//! ```text
//! $MESH_HOME/
//!   identity.key   Ed25519 keypair, libp2p protobuf encoding, mode 0600;
//!                  or that keypair encrypted with a passphrase (see below)
//!   api-token      bearer token of the local API, mode 0600
//!   api            URL of the local API while the node runs (removed on clean exit), mode 0600
//!   store.redb     the node's store, mode 0600
//! ```
//!
//! The directory is kept at mode 0700 ([`DIR_MODE`]) and every file the node keeps in it
//! ([`NODE_FILES`]) at 0600 ([`FILE_MODE`]), whatever existed before: a node makes an existing
//! directory 0700 when it starts, and its files 0600 once they exist ([`Home::restrict`]), with
//! one warning naming what was wider. A directory with the sticky bit (a shared one,
//! such as `/tmp`) is refused as a home. A secret file (the identity key, the API token) that
//! other users can read is refused rather than fixed, since it may have been read already.
//! Secret files are replaced atomically: a temporary file of mode 0600 is written, synced and
//! renamed over the old one.
//!
//! # The identity key encrypted at rest
//!
//! A home given a [`Passphrase`] ([`Home::with_passphrase`]) writes the keys it creates
//! encrypted, and opens an encrypted key with it; a plaintext key is read as before, passphrase
//! or not. [`Home::encrypt_identity`] and [`Home::decrypt_identity`] convert the key in place,
//! keeping the peer id. The encrypted file is the plaintext keypair sealed with
//! XChaCha20-Poly1305 under a key that argon2id derives from the passphrase and a random salt
//! ([`KdfParams::DEFAULT`]: 64 MiB, 3 passes, 1 lane):
//!
//! ```text
//! offset  bytes  field
//!      0      8  magic "MESHKEY\0"
//!      8      1  format version: 1
//!      9      1  KDF: 1 = argon2id, Argon2 version 0x13
//!     10     12  argon2 memory (KiB), passes, lanes: three u32 little-endian
//!     22     16  salt
//!     38     24  nonce
//!     62      n  ciphertext of the keypair and its 16-byte tag
//! ```
//!
//! The 62 header bytes are authenticated with the ciphertext: a file altered anywhere does not
//! open, and neither does a wrong passphrase; in both cases the file is left as it is.

mod keyfile;
mod passphrase;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use libp2p::identity::Keypair;
use zeroize::Zeroizing;

pub use keyfile::KdfParams;
use keyfile::KeyFileError;
pub use passphrase::{PASSPHRASE_ENV, Passphrase};

/// File name of the identity key.
pub const IDENTITY_FILE: &str = "identity.key";
/// File name of the API token.
pub const TOKEN_FILE: &str = "api-token";
/// File name of the API address.
pub const API_FILE: &str = "api";
/// File name of the store.
pub const STORE_FILE: &str = "store.redb";
/// Mode of the home directory: its owner only.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file the node keeps in its home: its owner only.
pub const FILE_MODE: u32 = 0o600;
/// The files a node keeps in its home, which [`Home::restrict`] makes mode 0600. Other files
/// are not the node's, and are left alone.
pub const NODE_FILES: &[&str] = &[
    IDENTITY_FILE,
    TOKEN_FILE,
    API_FILE,
    STORE_FILE,
    mesh_net::webrtc::CERTIFICATE_FILE,
];

/// Why the home could not be used.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    /// No home was given and no data directory could be found.
    #[error("cannot find a home directory: pass --home DIR or set MESH_HOME")]
    NoDefault,
    /// A file operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The directory is shared with other users (its sticky bit is set, as on `/tmp`).
    #[error("{path} is a shared directory (mode {mode:o}, sticky bit set): a node's home must be its own; use a directory inside it, e.g. --home {path}/mesh", path = path.display())]
    SharedDirectory {
        /// The directory.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
    /// A secret file can be read by other users.
    #[error("{path} is readable by other users (mode {mode:o}): run `chmod 600 {path}` and start again", path = path.display())]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
    /// The identity file is not a libp2p keypair.
    #[error("{path} is not a MESH identity key ({reason}); move it away and run `mesh init`", path = path.display())]
    BadKey {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// `mesh init` found an identity already.
    #[error("{path} already exists: keep it, or run `mesh init --force` to replace this node's identity", path = path.display())]
    AlreadyInitialised {
        /// The file.
        path: PathBuf,
    },
    /// The identity is needed and there is none.
    #[error("{path} does not exist: run `mesh init` first", path = path.display())]
    NoIdentity {
        /// The file.
        path: PathBuf,
    },
    /// The identity key is encrypted, or is to be, and no passphrase was given.
    #[error("{path} needs a passphrase and none was given: set {PASSPHRASE_ENV}, pass --passphrase-file FILE, or run the command in a terminal to type it", path = path.display())]
    PassphraseNeeded {
        /// The file.
        path: PathBuf,
    },
    /// The passphrase does not open the encrypted key (or the file was altered).
    #[error("the passphrase does not open {path}: check it ({PASSPHRASE_ENV}, --passphrase-file or what was typed), or restore the file from a backup if it was altered; it is left unchanged", path = path.display())]
    WrongPassphrase {
        /// The file.
        path: PathBuf,
    },
    /// The encrypted key file is damaged (truncated, oversized, impossible parameters).
    #[error("{path} is a damaged encrypted MESH key ({reason}): restore it from a backup, or move it away and run `mesh init` for a new identity", path = path.display())]
    DamagedKey {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The encrypted key file is in a format this version does not read.
    #[error("{path} is an encrypted MESH key in a format this mesh does not read ({what}): open it with a newer mesh", path = path.display())]
    UnsupportedKeyFormat {
        /// The file.
        path: PathBuf,
        /// Which version or KDF.
        what: String,
    },
    /// Encrypting a key that is encrypted already.
    #[error("{path} is already encrypted: nothing to do (to change its passphrase, run `mesh key decrypt`, then `mesh key encrypt`)", path = path.display())]
    AlreadyEncrypted {
        /// The file.
        path: PathBuf,
    },
    /// Decrypting a key that is not encrypted.
    #[error("{path} is not encrypted: nothing to do", path = path.display())]
    NotEncrypted {
        /// The file.
        path: PathBuf,
    },
    /// A new passphrase is empty.
    #[error("the passphrase is empty: an empty passphrase protects nothing, choose another")]
    EmptyPassphrase,
    /// The new passphrase and its confirmation differ.
    #[error("the two passphrases differ: nothing was written; run the command again")]
    PassphraseMismatch,
    /// The passphrase could not be read from the terminal.
    #[error(
        "cannot read the passphrase from the terminal: {source}; set {PASSPHRASE_ENV} or pass --passphrase-file FILE instead"
    )]
    Terminal {
        /// The cause.
        source: std::io::Error,
    },
    /// The KDF parameters are not usable.
    #[error("cannot derive a key from the passphrase: {reason}")]
    Kdf {
        /// What is wrong.
        reason: String,
    },
}

/// How the identity key is kept in the home.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// No identity yet.
    Missing,
    /// A plaintext keypair.
    Plain,
    /// A keypair encrypted with a passphrase, under these KDF parameters.
    Encrypted(KdfParams),
}

/// A node's home directory, and the passphrase of its identity key if it has one.
///
/// Two homes are equal when they are the same directory.
#[derive(Debug, Clone)]
pub struct Home {
    dir: PathBuf,
    passphrase: Option<Passphrase>,
    kdf: KdfParams,
}

impl PartialEq for Home {
    fn eq(&self, other: &Self) -> bool {
        self.dir == other.dir
    }
}

impl Eq for Home {}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> HomeError + 'a {
    move |source| HomeError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

impl Home {
    /// The home at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            passphrase: None,
            kdf: KdfParams::DEFAULT,
        }
    }

    /// Opens an encrypted identity key with `passphrase`, and encrypts with it the keys this home
    /// creates ([`Home::init`], the first [`Home::identity`], [`Home::encrypt_identity`]).
    pub fn with_passphrase(mut self, passphrase: Passphrase) -> Self {
        self.passphrase = Some(passphrase);
        self
    }

    /// Derives the cipher key of the keys this home encrypts with `kdf` instead of
    /// [`KdfParams::DEFAULT`]. An encrypted key is always opened with the parameters it names.
    pub fn with_kdf_params(mut self, kdf: KdfParams) -> Self {
        self.kdf = kdf;
        self
    }

    /// `explicit` if given (from `--home` or `MESH_HOME`), else the XDG data directory
    /// (`~/.local/share/mesh` on Linux).
    pub fn resolve(explicit: Option<PathBuf>) -> Result<Self, HomeError> {
        match explicit {
            Some(dir) => Ok(Self::new(dir)),
            None => directories::ProjectDirs::from("", "", "mesh")
                .map(|d| Self::new(d.data_dir()))
                .ok_or(HomeError::NoDefault),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the identity key.
    pub fn identity_path(&self) -> PathBuf {
        self.dir.join(IDENTITY_FILE)
    }

    /// Path of the API token.
    pub fn token_path(&self) -> PathBuf {
        self.dir.join(TOKEN_FILE)
    }

    /// Path of the API address file.
    pub fn api_path(&self) -> PathBuf {
        self.dir.join(API_FILE)
    }

    /// Path of the node's store (peers, intents, negotiations, events).
    pub fn store_path(&self) -> PathBuf {
        self.dir.join(STORE_FILE)
    }

    /// Creates the directory if needed, and makes it mode 0700 ([`DIR_MODE`]) whatever it was,
    /// with a warning if it was wider. Refuses a shared directory (sticky bit set).
    pub fn create(&self) -> Result<(), HomeError> {
        if !self.dir.exists() {
            fs::create_dir_all(&self.dir).map_err(io("cannot create", &self.dir))?;
        }
        let mode = fs::metadata(&self.dir)
            .map_err(io("cannot read", &self.dir))?
            .permissions()
            .mode()
            & 0o7777;
        if mode & 0o1000 != 0 {
            return Err(HomeError::SharedDirectory {
                path: self.dir.clone(),
                mode,
            });
        }
        if mode & 0o777 != DIR_MODE {
            fs::set_permissions(&self.dir, fs::Permissions::from_mode(DIR_MODE))
                .map_err(io("cannot set permissions of", &self.dir))?;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    dir = %self.dir.display(),
                    "the home directory was mode {mode:o}, open to other users: it is mode 0700 now"
                );
            }
        }
        Ok(())
    }

    /// Makes the directory mode 0700 and every file the node keeps in it ([`NODE_FILES`]: the
    /// identity, the token, the API address, the store, the WebRTC certificate) mode 0600
    /// ([`FILE_MODE`]). Returns the files that other users could read, named once in a warning.
    /// A symbolic link in their place is left alone.
    pub fn restrict(&self) -> Result<Vec<PathBuf>, HomeError> {
        self.create()?;
        let mut widened = Vec::new();
        for name in NODE_FILES {
            let path = self.dir.join(name);
            let meta = match fs::symlink_metadata(&path) {
                Ok(meta) => meta,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io("cannot read", &path)(e)),
            };
            if !meta.is_file() {
                continue;
            }
            let mode = meta.permissions().mode() & 0o777;
            if mode == FILE_MODE {
                continue;
            }
            fs::set_permissions(&path, fs::Permissions::from_mode(FILE_MODE))
                .map_err(io("cannot set permissions of", &path))?;
            if mode & 0o077 != 0 {
                widened.push(path);
            }
        }
        if !widened.is_empty() {
            let names: Vec<String> = widened.iter().map(|p| p.display().to_string()).collect();
            tracing::warn!(
                files = %names.join(", "),
                "files of the node were readable by other users: they are mode 0600 now"
            );
        }
        Ok(widened)
    }

    /// Creates a new identity, encrypted if the home has a passphrase; refuses to replace one
    /// unless `force`.
    pub fn init(&self, force: bool) -> Result<Keypair, HomeError> {
        // Everything that can be refused is, before anything is written.
        let path = self.identity_path();
        if path.exists() && !force {
            return Err(HomeError::AlreadyInitialised { path });
        }
        if self.passphrase.as_ref().is_some_and(Passphrase::is_empty) {
            return Err(HomeError::EmptyPassphrase);
        }
        self.create()?;
        let key = Keypair::generate_ed25519();
        let bytes = Zeroizing::new(key.to_protobuf_encoding().map_err(|e| HomeError::BadKey {
            path: path.clone(),
            reason: e.to_string(),
        })?);
        match &self.passphrase {
            Some(passphrase) => {
                let sealed = keyfile::seal(&bytes, passphrase, self.kdf).map_err(seal_error)?;
                write_secret(&path, &sealed)?;
            }
            None => write_secret(&path, &bytes)?,
        }
        self.token()?;
        Ok(key)
    }

    /// Loads the identity, creating one on first start. Refuses a key readable by others, and
    /// an encrypted key without the passphrase that opens it.
    pub fn identity(&self) -> Result<Keypair, HomeError> {
        let path = self.identity_path();
        if !path.exists() {
            return self.init(false);
        }
        let file = read_secret(&path)?;
        if keyfile::is_sealed(&file) {
            let plain = self.open(&path, &file)?;
            decode_key(&path, &plain)
        } else {
            decode_key(&path, &file)
        }
    }

    /// Whether the identity exists and is encrypted. Reads the header only: no passphrase is
    /// needed, and a damaged or unknown file is reported before one is asked for.
    pub fn key_state(&self) -> Result<KeyState, HomeError> {
        let path = self.identity_path();
        if !path.exists() {
            return Ok(KeyState::Missing);
        }
        let file = read_secret(&path)?;
        if !keyfile::is_sealed(&file) {
            return Ok(KeyState::Plain);
        }
        let header = keyfile::header(&file).map_err(|e| key_file_error(&path, e))?;
        Ok(KeyState::Encrypted(header.kdf))
    }

    /// Encrypts the plaintext identity key in place with the home's passphrase; the peer id
    /// stays the same.
    pub fn encrypt_identity(&self) -> Result<Keypair, HomeError> {
        let path = self.existing_identity()?;
        let passphrase = self
            .passphrase
            .as_ref()
            .ok_or_else(|| HomeError::PassphraseNeeded { path: path.clone() })?;
        let file = read_secret(&path)?;
        if keyfile::is_sealed(&file) {
            return Err(HomeError::AlreadyEncrypted { path });
        }
        let key = decode_key(&path, &file)?;
        let sealed = keyfile::seal(&file, passphrase, self.kdf).map_err(seal_error)?;
        write_secret(&path, &sealed)?;
        Ok(key)
    }

    /// Decrypts the encrypted identity key in place with the home's passphrase; the peer id
    /// stays the same. A wrong passphrase leaves the file as it is.
    pub fn decrypt_identity(&self) -> Result<Keypair, HomeError> {
        let path = self.existing_identity()?;
        let file = read_secret(&path)?;
        if !keyfile::is_sealed(&file) {
            return Err(HomeError::NotEncrypted { path });
        }
        let plain = self.open(&path, &file)?;
        let key = decode_key(&path, &plain)?;
        write_secret(&path, &plain)?;
        Ok(key)
    }

    fn existing_identity(&self) -> Result<PathBuf, HomeError> {
        let path = self.identity_path();
        if path.exists() {
            Ok(path)
        } else {
            Err(HomeError::NoIdentity { path })
        }
    }

    fn open(&self, path: &Path, file: &[u8]) -> Result<Zeroizing<Vec<u8>>, HomeError> {
        let passphrase = self
            .passphrase
            .as_ref()
            .ok_or_else(|| HomeError::PassphraseNeeded {
                path: path.to_owned(),
            })?;
        keyfile::open(file, passphrase).map_err(|e| key_file_error(path, e))
    }

    /// The API token, created on first use.
    pub fn token(&self) -> Result<String, HomeError> {
        let path = self.token_path();
        if path.exists() {
            let bytes = read_secret(&path)?;
            let token = String::from_utf8_lossy(&bytes).trim().to_owned();
            if !token.is_empty() {
                return Ok(token);
            }
        }
        self.create()?;
        let token = hex::encode(rand::random::<[u8; 32]>());
        write_secret(&path, token.as_bytes())?;
        Ok(token)
    }

    /// Writes the API URL (mode 0600) once the API serves.
    pub fn write_api(&self, url: &str) -> Result<(), HomeError> {
        let path = self.api_path();
        let tmp = self.dir.join(".api.tmp");
        let _ = fs::remove_file(&tmp);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&tmp)
            .map_err(io("cannot create", &tmp))?;
        file.write_all(format!("{url}\n").as_bytes())
            .map_err(io("cannot write", &tmp))?;
        drop(file);
        fs::rename(&tmp, &path).map_err(io("cannot write", &path))
    }

    /// The API URL of the running node, if the file exists.
    pub fn read_api(&self) -> Option<String> {
        fs::read_to_string(self.api_path())
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    }

    /// Removes the API address file.
    pub fn remove_api(&self) {
        let _ = fs::remove_file(self.api_path());
    }
}

fn decode_key(path: &Path, bytes: &[u8]) -> Result<Keypair, HomeError> {
    Keypair::from_protobuf_encoding(bytes).map_err(|e| HomeError::BadKey {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn key_file_error(path: &Path, e: KeyFileError) -> HomeError {
    let path = path.to_owned();
    match e {
        KeyFileError::NotOpened => HomeError::WrongPassphrase { path },
        KeyFileError::Truncated(len) => HomeError::DamagedKey {
            path,
            reason: format!("truncated: {len} bytes"),
        },
        KeyFileError::TooLong(len) => HomeError::DamagedKey {
            path,
            reason: format!("{len} bytes, longer than any key"),
        },
        KeyFileError::UnknownVersion(v) => HomeError::UnsupportedKeyFormat {
            path,
            what: format!("format version {v}; this one reads {}", keyfile::VERSION),
        },
        KeyFileError::UnknownKdf(id) => HomeError::UnsupportedKeyFormat {
            path,
            what: format!("KDF {id}"),
        },
        KeyFileError::Params(reason) => HomeError::DamagedKey {
            path,
            reason: format!("KDF parameters {reason}"),
        },
        KeyFileError::EmptyPassphrase => HomeError::EmptyPassphrase,
    }
}

fn seal_error(e: KeyFileError) -> HomeError {
    match e {
        KeyFileError::EmptyPassphrase => HomeError::EmptyPassphrase,
        KeyFileError::Params(reason) => HomeError::Kdf { reason },
        other => HomeError::Kdf {
            reason: format!("{other:?}"),
        },
    }
}

fn read_secret(path: &Path) -> Result<Zeroizing<Vec<u8>>, HomeError> {
    let meta = fs::metadata(path).map_err(io("cannot read", path))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(HomeError::InsecurePermissions {
            path: path.to_owned(),
            mode,
        });
    }
    fs::read(path)
        .map(Zeroizing::new)
        .map_err(io("cannot read", path))
}

fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), HomeError> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(&tmp)
        .map_err(io("cannot create", &tmp))?;
    file.write_all(bytes).map_err(io("cannot write", &tmp))?;
    file.sync_all().map_err(io("cannot sync", &tmp))?;
    drop(file);
    fs::rename(&tmp, path).map_err(io("cannot write", path))?;
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io("cannot sync", dir))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("h"));
        let a = home.identity().unwrap();
        let b = home.identity().unwrap();
        assert_eq!(a.public(), b.public());
        let mode = fs::metadata(home.identity_path())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = fs::metadata(home.dir()).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);
    }

    #[test]
    fn key_readable_by_others_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        home.identity().unwrap();
        fs::set_permissions(home.identity_path(), fs::Permissions::from_mode(0o644)).unwrap();
        let err = home.identity().unwrap_err();
        assert!(matches!(
            err,
            HomeError::InsecurePermissions { mode: 0o644, .. }
        ));
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn init_refuses_to_overwrite_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let first = home.init(false).unwrap();
        assert!(matches!(
            home.init(false),
            Err(HomeError::AlreadyInitialised { .. })
        ));
        let second = home.init(true).unwrap();
        assert_ne!(first.public(), second.public());
    }

    #[test]
    fn garbage_key_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        write_secret(&home.identity_path(), b"not a key").unwrap();
        let err = home.identity().unwrap_err();
        assert!(err.to_string().contains("mesh init"), "{err}");
    }

    /// Cheap enough for tests; the format records them, so opening uses the same.
    const CHEAP: KdfParams = KdfParams {
        memory_kib: 256,
        iterations: 1,
        lanes: 1,
    };

    fn encrypted_home(dir: &Path, passphrase: &str) -> (Home, Keypair) {
        let home = Home::new(dir)
            .with_passphrase(Passphrase::new(passphrase))
            .with_kdf_params(CHEAP);
        let key = home.init(false).unwrap();
        (home, key)
    }

    #[test]
    fn encrypted_identity_round_trips_with_the_passphrase_only() {
        let dir = tempfile::tempdir().unwrap();
        let (home, key) = encrypted_home(dir.path(), "correct horse");
        let file = fs::read(home.identity_path()).unwrap();
        assert!(file.starts_with(keyfile::MAGIC));
        let plain = key.to_protobuf_encoding().unwrap();
        assert!(
            !file.windows(plain.len()).any(|w| w == plain),
            "the keypair is in the file in clear"
        );
        assert_eq!(home.key_state().unwrap(), KeyState::Encrypted(CHEAP));
        let reopened = Home::new(dir.path())
            .with_passphrase(Passphrase::new("correct horse"))
            .identity()
            .unwrap();
        assert_eq!(reopened.public(), key.public());
        let mode = fs::metadata(home.identity_path())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn default_kdf_parameters_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path()).with_passphrase(Passphrase::new("p"));
        let key = home.init(false).unwrap();
        assert_eq!(
            home.key_state().unwrap(),
            KeyState::Encrypted(KdfParams::DEFAULT)
        );
        assert_eq!(home.identity().unwrap().public(), key.public());
    }

    #[test]
    fn wrong_passphrase_is_refused_and_the_file_is_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let (home, _) = encrypted_home(dir.path(), "right");
        let before = fs::read(home.identity_path()).unwrap();
        let wrong = Home::new(dir.path()).with_passphrase(Passphrase::new("wrong"));
        let err = wrong.identity().unwrap_err();
        assert!(matches!(err, HomeError::WrongPassphrase { .. }), "{err}");
        let message = err.to_string();
        assert!(
            message.starts_with("the passphrase does not open ")
                && message.contains(&home.identity_path().display().to_string())
                && !message.contains('\n'),
            "{message}"
        );
        assert!(matches!(
            wrong.decrypt_identity(),
            Err(HomeError::WrongPassphrase { .. })
        ));
        assert!(matches!(
            wrong.init(false),
            Err(HomeError::AlreadyInitialised { .. })
        ));
        assert_eq!(fs::read(home.identity_path()).unwrap(), before);
    }

    #[test]
    fn encrypted_key_without_a_passphrase_says_how_to_give_one() {
        let dir = tempfile::tempdir().unwrap();
        encrypted_home(dir.path(), "p");
        let err = Home::new(dir.path()).identity().unwrap_err();
        assert!(matches!(err, HomeError::PassphraseNeeded { .. }), "{err}");
        let message = err.to_string();
        assert!(
            message.contains(PASSPHRASE_ENV) && message.contains("--passphrase-file"),
            "{message}"
        );
    }

    #[test]
    fn tampered_ciphertext_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (home, _) = encrypted_home(dir.path(), "p");
        let mut file = fs::read(home.identity_path()).unwrap();
        let last = file.len() - 20;
        file[last] ^= 0x80;
        write_secret(&home.identity_path(), &file).unwrap();
        assert!(matches!(
            home.identity(),
            Err(HomeError::WrongPassphrase { .. })
        ));
        assert_eq!(fs::read(home.identity_path()).unwrap(), file);
    }

    #[test]
    fn truncated_garbage_and_unknown_version_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let (home, _) = encrypted_home(dir.path(), "p");
        let path = home.identity_path();
        let good = fs::read(&path).unwrap();

        write_secret(&path, &good[..40]).unwrap();
        let err = home.identity().unwrap_err();
        assert!(matches!(err, HomeError::DamagedKey { .. }), "{err}");
        assert!(err.to_string().contains("truncated"), "{err}");
        assert!(matches!(
            home.key_state(),
            Err(HomeError::DamagedKey { .. })
        ));

        let mut garbage = keyfile::MAGIC.to_vec();
        garbage.push(keyfile::VERSION);
        garbage.extend_from_slice(&[0xa5; 100]);
        write_secret(&path, &garbage).unwrap();
        let err = home.identity().unwrap_err();
        assert!(
            matches!(
                err,
                HomeError::UnsupportedKeyFormat { .. } | HomeError::DamagedKey { .. }
            ),
            "{err}"
        );

        let mut future = good.clone();
        future[keyfile::MAGIC.len()] = 9;
        write_secret(&path, &future).unwrap();
        let err = home.identity().unwrap_err();
        assert!(
            matches!(err, HomeError::UnsupportedKeyFormat { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("format version 9"), "{err}");
        assert!(matches!(
            home.key_state(),
            Err(HomeError::UnsupportedKeyFormat { .. })
        ));

        write_secret(&path, b"\x08\x01garbage").unwrap();
        assert!(matches!(home.identity(), Err(HomeError::BadKey { .. })));
    }

    #[test]
    fn plaintext_key_is_read_with_or_without_a_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let key = Home::new(dir.path()).init(false).unwrap();
        let with = Home::new(dir.path()).with_passphrase(Passphrase::new("unused"));
        assert_eq!(with.key_state().unwrap(), KeyState::Plain);
        assert_eq!(with.identity().unwrap().public(), key.public());
        assert_eq!(
            Home::new(dir.path()).identity().unwrap().public(),
            key.public()
        );
    }

    #[test]
    fn encrypted_key_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (home, _) = encrypted_home(dir.path(), "p");
        fs::set_permissions(home.identity_path(), fs::Permissions::from_mode(0o644)).unwrap();
        let err = home.identity().unwrap_err();
        assert!(
            matches!(err, HomeError::InsecurePermissions { mode: 0o644, .. }),
            "{err}"
        );
        assert!(matches!(
            home.key_state(),
            Err(HomeError::InsecurePermissions { .. })
        ));
    }

    #[test]
    fn encrypt_then_decrypt_in_place_keeps_the_peer_id() {
        let dir = tempfile::tempdir().unwrap();
        let plain_home = Home::new(dir.path());
        let key = plain_home.init(false).unwrap();
        let original = fs::read(plain_home.identity_path()).unwrap();
        let home = Home::new(dir.path())
            .with_passphrase(Passphrase::new("p"))
            .with_kdf_params(CHEAP);

        assert_eq!(home.encrypt_identity().unwrap().public(), key.public());
        assert_eq!(home.key_state().unwrap(), KeyState::Encrypted(CHEAP));
        assert!(matches!(
            plain_home.identity(),
            Err(HomeError::PassphraseNeeded { .. })
        ));
        assert_eq!(home.identity().unwrap().public(), key.public());
        assert!(matches!(
            home.encrypt_identity(),
            Err(HomeError::AlreadyEncrypted { .. })
        ));
        assert!(!dir.path().join("identity.tmp").exists());

        assert_eq!(home.decrypt_identity().unwrap().public(), key.public());
        assert_eq!(home.key_state().unwrap(), KeyState::Plain);
        assert_eq!(fs::read(plain_home.identity_path()).unwrap(), original);
        assert!(matches!(
            home.decrypt_identity(),
            Err(HomeError::NotEncrypted { .. })
        ));
        let mode = fs::metadata(home.identity_path())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn converting_needs_an_identity_and_a_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path()).with_passphrase(Passphrase::new("p"));
        assert!(matches!(
            home.encrypt_identity(),
            Err(HomeError::NoIdentity { .. })
        ));
        assert_eq!(home.key_state().unwrap(), KeyState::Missing);
        Home::new(dir.path()).init(false).unwrap();
        assert!(matches!(
            Home::new(dir.path()).encrypt_identity(),
            Err(HomeError::PassphraseNeeded { .. })
        ));
        assert!(matches!(
            Home::new(dir.path())
                .with_passphrase(Passphrase::new(""))
                .encrypt_identity(),
            Err(HomeError::EmptyPassphrase)
        ));
        assert_eq!(home.key_state().unwrap(), KeyState::Plain);
    }

    #[test]
    fn first_start_with_a_passphrase_creates_an_encrypted_key() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("fresh"))
            .with_passphrase(Passphrase::new("p"))
            .with_kdf_params(CHEAP);
        let key = home.identity().unwrap();
        assert_eq!(home.key_state().unwrap(), KeyState::Encrypted(CHEAP));
        assert_eq!(home.identity().unwrap().public(), key.public());
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn an_open_directory_and_its_files_are_made_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("h"));
        fs::create_dir(home.dir()).unwrap();
        fs::set_permissions(home.dir(), fs::Permissions::from_mode(0o755)).unwrap();
        let cert = mesh_net::webrtc::CERTIFICATE_FILE;
        for (name, m) in [
            (STORE_FILE, 0o644),
            (cert, 0o640),
            (API_FILE, 0o600),
            ("not-ours", 0o755),
        ] {
            fs::write(home.dir().join(name), b"x").unwrap();
            fs::set_permissions(home.dir().join(name), fs::Permissions::from_mode(m)).unwrap();
        }
        home.create().unwrap();
        assert_eq!(mode(home.dir()), DIR_MODE);
        let mut widened = home.restrict().unwrap();
        widened.sort();
        let mut expected = vec![home.dir().join(cert), home.store_path()];
        expected.sort();
        assert_eq!(widened, expected, "the files others could read are named");
        for name in [STORE_FILE, cert, API_FILE] {
            assert_eq!(mode(&home.dir().join(name)), FILE_MODE, "{name}");
        }
        assert_eq!(mode(&home.dir().join("not-ours")), 0o755, "not the node's");
        assert!(home.restrict().unwrap().is_empty(), "nothing to say twice");
        home.write_api("http://127.0.0.1:1").unwrap();
        assert_eq!(mode(&home.api_path()), FILE_MODE);
    }

    #[test]
    fn a_shared_directory_is_refused_as_a_home() {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o1777)).unwrap();
        let err = Home::new(dir.path()).create().unwrap_err();
        assert!(matches!(err, HomeError::SharedDirectory { .. }), "{err}");
        assert!(err.to_string().contains("--home"), "{err}");
        assert_eq!(mode(dir.path()), 0o1777, "left as it was");
    }

    #[test]
    fn an_empty_passphrase_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("fresh")).with_passphrase(Passphrase::new(""));
        assert!(matches!(home.init(false), Err(HomeError::EmptyPassphrase)));
        assert!(!home.dir().exists());
    }

    #[test]
    fn token_is_stable_and_secret() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let t = home.token().unwrap();
        assert_eq!(t.len(), 64);
        assert_eq!(home.token().unwrap(), t);
        let mode = fs::metadata(home.token_path())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
}
