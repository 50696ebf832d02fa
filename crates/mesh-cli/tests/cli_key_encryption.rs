//! The identity key encrypted at rest, through real `mesh` processes: `init --encrypt`, a node
//! that starts with the right passphrase only, and `key encrypt` / `key decrypt` in place.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use common::{MESH, Proc, id_json, stderr, stdout, terminate};

const ENV: &str = "MESH_KEY_PASSPHRASE";
const MAGIC: &[u8] = b"MESHKEY\0";

/// How a command gets its passphrase.
#[derive(Clone, Copy)]
enum Pass<'a> {
    None,
    Env(&'a str),
}

fn command(home: &Path, pass: Pass<'_>, args: &[&str]) -> Command {
    let mut cmd = Command::new(MESH);
    cmd.arg("--home")
        .arg(home)
        .args(args)
        .env_remove("MESH_HOME")
        .env_remove(ENV)
        .stdin(Stdio::null());
    if let Pass::Env(p) = pass {
        cmd.env(ENV, p);
    }
    cmd
}

fn mesh(home: &Path, pass: Pass<'_>, args: &[&str]) -> Output {
    command(home, pass, args).output().expect("run mesh")
}

const NODE: &[&str] = &["node", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"];

/// Starts `mesh node` and waits until it serves its API; panics with its stderr if it exits.
fn start_node(home: &Path, pass: Pass<'_>, extra: &[&str]) -> Proc {
    let log = home.with_extension("stderr");
    let mut cmd = command(home, pass, &[NODE, extra].concat());
    cmd.stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut child = Proc(cmd.spawn().expect("spawn mesh node"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !home.join("api").exists() {
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!(
                "node exited with {status}: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "node never served its API");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Runs `mesh node`, which must exit by itself; returns its status and stderr.
fn node_that_exits(home: &Path, pass: Pass<'_>, extra: &[&str]) -> (ExitStatus, String) {
    let mut child = command(home, pass, &[NODE, extra].concat())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mesh node");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            return (out.status, stderr(&out));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the node kept running");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stop(node: Proc, home: &Path) {
    terminate(&node);
    let deadline = Instant::now() + Duration::from_secs(30);
    while home.join("api").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(node);
}

fn fresh_home() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("h");
    (dir, home)
}

/// The peer id in the first line, `Created identity 12D3Koo... (...)` or the like.
fn printed_peer_id(out: &Output) -> String {
    stdout(out)
        .split_whitespace()
        .find(|w| w.starts_with("12D3Koo"))
        .unwrap_or_else(|| panic!("no peer id in {:?}", stdout(out)))
        .to_owned()
}

fn running_peer_id(home: &Path) -> String {
    id_json(home)["peer_id"].as_str().unwrap().to_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn encrypted_identity_starts_a_node_with_the_right_passphrase_only() {
    let (_d, home) = fresh_home();
    let key = home.join("identity.key");
    let out = mesh(
        &home,
        Pass::Env("correct horse battery staple"),
        &["init", "--encrypt"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("encrypted: argon2id m=64 MiB t=3 p=1"),
        "{}",
        stdout(&out)
    );
    let peer_id = printed_peer_id(&out);
    let sealed = std::fs::read(&key).unwrap();
    assert!(sealed.starts_with(MAGIC));
    assert_eq!(mode(&key), 0o600);

    let (status, err) = node_that_exits(&home, Pass::Env("wrong horse"), &[]);
    assert!(!status.success());
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with("error: the passphrase does not open ")
            && err.contains(&key.display().to_string()),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&key).unwrap(),
        sealed,
        "the file is untouched"
    );

    let (status, err) = node_that_exits(&home, Pass::None, &[]);
    assert!(!status.success());
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("needs a passphrase")
            && err.contains(ENV)
            && err.contains("--passphrase-file"),
        "{err}"
    );

    let node = start_node(&home, Pass::Env("correct horse battery staple"), &[]);
    assert_eq!(running_peer_id(&home), peer_id);
    stop(node, &home);
    assert_eq!(
        std::fs::read(&key).unwrap(),
        sealed,
        "the node leaves the key as it is"
    );
}

#[test]
fn key_encrypt_and_decrypt_convert_in_place_keeping_the_peer_id() {
    let (dir, home) = fresh_home();
    let key = home.join("identity.key");
    let out = mesh(&home, Pass::None, &["init"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let peer_id = printed_peer_id(&out);
    let plain = std::fs::read(&key).unwrap();

    let pass_file = dir.path().join("pass");
    std::fs::write(&pass_file, "s3cret words\n").unwrap();
    std::fs::set_permissions(&pass_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let pass_file = pass_file.to_str().unwrap();

    let out = mesh(
        &home,
        Pass::None,
        &["key", "encrypt", "--passphrase-file", pass_file],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(printed_peer_id(&out), peer_id);
    let sealed = std::fs::read(&key).unwrap();
    assert!(sealed.starts_with(MAGIC));
    assert_eq!(mode(&key), 0o600);
    assert!(!home.join("identity.tmp").exists());

    let out = mesh(
        &home,
        Pass::None,
        &["key", "encrypt", "--passphrase-file", pass_file],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("already encrypted"),
        "{}",
        stderr(&out)
    );

    // The file's passphrase is the file's content less its newline; the variable is the same
    // passphrase, and a flag beats the variable.
    let node = start_node(
        &home,
        Pass::Env("not this one"),
        &["--passphrase-file", pass_file],
    );
    assert_eq!(running_peer_id(&home), peer_id);
    stop(node, &home);

    let out = mesh(&home, Pass::Env("s3cret word"), &["key", "decrypt"]);
    assert!(!out.status.success());
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the passphrase does not open"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&key).unwrap(), sealed);

    let out = mesh(&home, Pass::Env("s3cret words"), &["key", "decrypt"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(printed_peer_id(&out), peer_id);
    assert_eq!(
        std::fs::read(&key).unwrap(),
        plain,
        "the same keypair bytes"
    );
    assert_eq!(mode(&key), 0o600);

    let node = start_node(&home, Pass::None, &[]);
    assert_eq!(running_peer_id(&home), peer_id);
    stop(node, &home);
}

#[test]
fn init_encrypt_without_a_passphrase_says_how_to_give_one_and_writes_nothing() {
    let (dir, home) = fresh_home();
    let out = mesh(&home, Pass::None, &["init", "--encrypt"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(ENV) && err.contains("--passphrase-file"),
        "{err}"
    );
    assert!(!home.join("identity.key").exists());

    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let out = mesh(
        &home,
        Pass::None,
        &[
            "init",
            "--encrypt",
            "--passphrase-file",
            empty.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("empty"), "{}", stderr(&out));
    assert!(!home.join("identity.key").exists());

    let out = mesh(
        &home,
        Pass::None,
        &["init", "--passphrase-file", empty.to_str().unwrap()],
    );
    assert!(!out.status.success(), "--passphrase-file needs --encrypt");
    assert!(stderr(&out).contains("--encrypt"), "{}", stderr(&out));

    let out = mesh(&home, Pass::Env("p"), &["key", "decrypt"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("mesh init"), "{}", stderr(&out));
}
