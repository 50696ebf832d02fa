//! A node's home directory: its identity key, its API token and, while it runs, its API address.
//!
//! ```text
//! $MESH_HOME/
//!   identity.key   Ed25519 keypair, libp2p protobuf encoding, mode 0600
//!   api-token      bearer token of the local API, mode 0600
//!   api            URL of the local API while the node runs (removed on clean exit)
//! ```

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use libp2p::identity::Keypair;

/// File name of the identity key.
pub const IDENTITY_FILE: &str = "identity.key";
/// File name of the API token.
pub const TOKEN_FILE: &str = "api-token";
/// File name of the API address.
pub const API_FILE: &str = "api";
/// File name of the store.
pub const STORE_FILE: &str = "store.redb";

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
}

/// A node's home directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    dir: PathBuf,
}

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
        Self { dir: dir.into() }
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

    /// Creates the directory (mode 0700) if needed.
    pub fn create(&self) -> Result<(), HomeError> {
        if !self.dir.exists() {
            fs::create_dir_all(&self.dir).map_err(io("cannot create", &self.dir))?;
            fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
                .map_err(io("cannot set permissions of", &self.dir))?;
        }
        Ok(())
    }

    /// Creates a new identity; refuses to replace one unless `force`.
    pub fn init(&self, force: bool) -> Result<Keypair, HomeError> {
        self.create()?;
        let path = self.identity_path();
        if path.exists() && !force {
            return Err(HomeError::AlreadyInitialised { path });
        }
        let key = Keypair::generate_ed25519();
        let bytes = key.to_protobuf_encoding().map_err(|e| HomeError::BadKey {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        write_secret(&path, &bytes)?;
        self.token()?;
        Ok(key)
    }

    /// Loads the identity, creating one on first start. Refuses a key readable by others.
    pub fn identity(&self) -> Result<Keypair, HomeError> {
        let path = self.identity_path();
        if !path.exists() {
            return self.init(false);
        }
        let bytes = read_secret(&path)?;
        Keypair::from_protobuf_encoding(&bytes).map_err(|e| HomeError::BadKey {
            path,
            reason: e.to_string(),
        })
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

    /// Writes the API URL once the API serves.
    pub fn write_api(&self, url: &str) -> Result<(), HomeError> {
        let path = self.api_path();
        let tmp = self.dir.join(".api.tmp");
        fs::write(&tmp, format!("{url}\n")).map_err(io("cannot write", &tmp))?;
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

fn read_secret(path: &Path) -> Result<Vec<u8>, HomeError> {
    let meta = fs::metadata(path).map_err(io("cannot read", path))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(HomeError::InsecurePermissions {
            path: path.to_owned(),
            mode,
        });
    }
    fs::read(path).map_err(io("cannot read", path))
}

fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), HomeError> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io("cannot create", &tmp))?;
    file.write_all(bytes).map_err(io("cannot write", &tmp))?;
    file.sync_all().map_err(io("cannot sync", &tmp))?;
    fs::rename(&tmp, path).map_err(io("cannot write", path))
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
