//! WebRTC-direct (`/udp/<port>/webrtc-direct/certhash/<hash>`): the transport browsers can dial
//! without a signalling server. Its address names the hash of the node's DTLS certificate, so
//! the certificate is kept in the node's home and the address stays the same across restarts
//! (on a fixed port).

use std::io::Write;
use std::path::Path;

use crate::error::NetError;

/// File name of the certificate in a node's home.
pub const CERTIFICATE_FILE: &str = "webrtc-certificate.pem";

/// The PEM of the WebRTC certificate at `path`, created (mode 0600) when missing.
pub fn load_or_create_certificate(path: &Path) -> Result<String, NetError> {
    let setup = |what: &str, e: &dyn std::fmt::Display| {
        NetError::Setup(format!("{what} {}: {e}", path.display()))
    };
    if path.exists() {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| setup("cannot read the WebRTC certificate", &e))?;
        libp2p_webrtc::tokio::Certificate::from_pem(&pem).map_err(|e| {
            setup(
                "the WebRTC certificate is damaged; remove it to make a new one:",
                &e,
            )
        })?;
        return Ok(pem);
    }
    let cert = libp2p_webrtc::tokio::Certificate::generate(&mut rand010::rng())
        .map_err(|e| setup("cannot make a WebRTC certificate for", &e))?;
    let pem = cert.serialize_pem();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| setup("cannot create the WebRTC certificate", &e))?;
    file.write_all(pem.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| setup("cannot write the WebRTC certificate", &e))?;
    Ok(pem)
}
