//! A client of a running node's local API.

use anyhow::{Context, anyhow, bail};
use mesh_node::Home;
use mesh_node::views::ErrorBody;
use reqwest::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub struct ApiClient {
    base: String,
    token: String,
    http: reqwest::Client,
    home: Home,
}

impl ApiClient {
    /// Finds the node serving `home`.
    pub fn from_home(home: &Home) -> anyhow::Result<Self> {
        let dir = home.dir().display();
        let base = home.read_api().ok_or_else(|| {
            anyhow!("no MESH node is running with home {dir}: start one with `mesh --home {dir} node` (or pass the right --home / MESH_HOME)")
        })?;
        let token = home
            .token()
            .with_context(|| format!("cannot read the API token of home {dir}"))?;
        let http = reqwest::Client::builder()
            .build()
            .context("cannot create an HTTP client")?;
        Ok(Self {
            base,
            token,
            http,
            home: home.clone(),
        })
    }

    fn unreachable(&self, e: reqwest::Error) -> anyhow::Error {
        anyhow!(
            "the MESH node of home {} does not answer at {} ({e}): it is not running or has crashed; start it with `mesh --home {} node`",
            self.home.dir().display(),
            self.base,
            self.home.dir().display()
        )
    }

    async fn check(&self, response: reqwest::Response) -> anyhow::Result<reqwest::Response> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<ErrorBody>(&text)
            .map(|b| b.error.message)
            .unwrap_or(text);
        if status == StatusCode::UNAUTHORIZED {
            bail!(
                "the node refused the API token in {}: {message}. If the node was started with another home, pass that --home",
                self.home.token_path().display()
            );
        }
        bail!("{message}")
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let response = self.check(response).await?;
        response
            .json()
            .await
            .with_context(|| format!("unexpected answer from GET {path}"))
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let response = self.check(response).await?;
        response
            .json()
            .await
            .with_context(|| format!("unexpected answer from POST {path}"))
    }

    /// Opens a Server-Sent Events stream.
    pub async fn stream(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("accept", "text/event-stream")
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        self.check(response).await
    }
}
