//! Arguments are checked before anything is written: a refused `mesh node` or `mesh init`
//! leaves no home, identity, token or store behind.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{mesh, stderr};

/// What is in `dir`, or `None` when it does not exist.
fn contents(dir: &Path) -> Option<Vec<String>> {
    let entries = std::fs::read_dir(dir).ok()?;
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Some(names)
}

#[test]
fn a_public_api_address_is_refused_before_the_home_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("fresh");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    for (home, api) in [
        (&fresh, "0.0.0.0:0"),
        (&empty, "0.0.0.0:0"),
        (&fresh, "[::]:7070"),
        (&fresh, "192.0.2.1:7070"),
    ] {
        let out = mesh(home, &["node", "--no-mdns", "--api", api]);
        assert!(!out.status.success(), "{api} was accepted");
        let err = stderr(&out);
        assert!(
            err.contains("not a loopback address") && err.contains("127.0.0.1:PORT"),
            "{api}: {err}"
        );
    }
    assert_eq!(contents(&fresh), None, "no home is created");
    assert_eq!(contents(&empty), Some(Vec::new()), "nothing is written");
}

#[test]
fn an_empty_passphrase_is_refused_before_the_home_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("fresh");
    let passphrase = dir.path().join("passphrase");
    std::fs::write(&passphrase, "\n").unwrap();
    let out = mesh(
        &fresh,
        &[
            "init",
            "--encrypt",
            "--passphrase-file",
            passphrase.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("passphrase is empty"),
        "{}",
        stderr(&out)
    );
    assert_eq!(contents(&fresh), None, "no home is created");
}
