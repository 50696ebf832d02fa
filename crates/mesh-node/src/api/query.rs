//! The query string of `/v1/intents/stream` and `/v1/agents`: which capabilities, how
//! reputable, how many.

use mesh_core::Capability;
use serde::Deserialize;

use super::error::ApiError;

/// Query of `/v1/intents/stream` and `/v1/agents`.
#[derive(Debug, Deserialize)]
pub(crate) struct CapabilityQuery {
    /// Comma-separated capability names.
    #[serde(default)]
    pub(crate) capabilities: Option<String>,
    #[serde(default)]
    pub(crate) min_reputation: Option<f64>,
    #[serde(default)]
    pub(crate) limit: Option<usize>,
}

/// The capabilities of a comma-separated `list` (none when absent), each checked.
pub(crate) fn parse_capabilities(list: &Option<String>) -> Result<Vec<Capability>, ApiError> {
    let names = list
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty());
    mesh_core::capability::parse_capabilities(names)
        .map_err(|e| ApiError::bad_request("invalid_capability", e.to_string()))
}
