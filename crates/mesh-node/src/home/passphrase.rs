//! The passphrase of an encrypted identity key, and where it comes from.

use std::fmt;
use std::fs;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use zeroize::Zeroizing;

use super::{HomeError, io};

/// Environment variable holding the passphrase of an encrypted identity key.
pub const PASSPHRASE_ENV: &str = "MESH_KEY_PASSPHRASE";

/// A passphrase, wiped from memory when its last clone is dropped. Its `Debug` form shows
/// nothing of it.
#[derive(Clone)]
pub struct Passphrase(Arc<Zeroizing<Vec<u8>>>);

impl Passphrase {
    /// The passphrase made of exactly these bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(Arc::new(Zeroizing::new(bytes.into())))
    }

    /// The passphrase in [`PASSPHRASE_ENV`], if it is set.
    pub fn from_env() -> Option<Self> {
        std::env::var_os(PASSPHRASE_ENV).map(|v| Self::new(v.into_vec()))
    }

    /// The content of `path`, less one trailing newline (`\n` or `\r\n`).
    pub fn from_file(path: &Path) -> Result<Self, HomeError> {
        let mut bytes = Zeroizing::new(fs::read(path).map_err(io("cannot read", path))?);
        if bytes.ends_with(b"\n") {
            bytes.pop();
            if bytes.ends_with(b"\r") {
                bytes.pop();
            }
        }
        if let Ok(meta) = fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %path.display(),
                "the passphrase file is readable by other users; `chmod 600` it"
            );
        }
        Ok(Self(Arc::new(bytes)))
    }

    /// Asks for the passphrase of `key` on the terminal, without echo.
    pub fn prompt(key: &Path) -> Result<Self, HomeError> {
        read_tty(&format!("Passphrase for {}: ", key.display()))
    }

    /// Asks for a new passphrase for `key` on the terminal twice, without echo; refuses an empty
    /// one and two that differ.
    pub fn prompt_new(key: &Path) -> Result<Self, HomeError> {
        let first = read_tty(&format!("New passphrase for {}: ", key.display()))?;
        if first.is_empty() {
            return Err(HomeError::EmptyPassphrase);
        }
        let second = read_tty("The same passphrase again: ")?;
        if first.as_bytes() != second.as_bytes() {
            return Err(HomeError::PassphraseMismatch);
        }
        Ok(first)
    }

    /// Whether it has no bytes at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<String> for Passphrase {
    fn from(s: String) -> Self {
        Self::new(s.into_bytes())
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(..)")
    }
}

fn read_tty(prompt: &str) -> Result<Passphrase, HomeError> {
    let typed =
        rpassword::prompt_password(prompt).map_err(|source| HomeError::Terminal { source })?;
    Ok(Passphrase::from(typed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_loses_one_trailing_newline_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pass");
        for (content, expected) in [
            (&b"correct horse\n"[..], &b"correct horse"[..]),
            (b"correct horse\r\n", b"correct horse"),
            (b"correct horse", b"correct horse"),
            (b" spaced \n\n", b" spaced \n"),
        ] {
            fs::write(&path, content).unwrap();
            assert_eq!(Passphrase::from_file(&path).unwrap().as_bytes(), expected);
        }
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = Passphrase::from_file(Path::new("/nonexistent/pass")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/pass"), "{err}");
    }

    #[test]
    fn debug_shows_nothing_of_it() {
        let p = Passphrase::new("hunter2");
        assert_eq!(format!("{p:?}"), "Passphrase(..)");
    }
}
