//! The restSearch HTTP client: [`MispClient`] holds one shared `reqwest::Client`, the base URL
//! and the key; every response becomes an [`IntelError`] meaning in one place,
//! [`MispClient::check`]. [`MispIntel`] adapts it to [`ThreatIntel`].

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{SearchResponse, map_attributes};

use crate::intel::config::MispSettings;
use crate::intel::{HASH_ATTRIBUTE_TYPES, IntelError, IntelHit, ThreatIntel};
use crate::records::FileHash;
use crate::secret::Secret;

/// The largest MISP response read. A chunk of 1,000 hashes with context is a few MB at most; a
/// server (or a man in the middle) sending more is not answering a lookup.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// A MISP REST client.
#[derive(Clone)]
pub struct MispClient {
    http: reqwest::Client,
    base_url: url::Url,
    key: Secret,
    timeout: Duration,
}

impl std::fmt::Debug for MispClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MispClient")
            .field("base_url", &self.base_url.as_str())
            .finish_non_exhaustive()
    }
}

/// Why the HTTP client could not be built from the settings.
#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    #[error("MISP_CA_CERT: cannot use {path}: {reason}")]
    CaCert { path: String, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

impl MispClient {
    pub fn new(settings: &MispSettings) -> Result<Self, ClientBuildError> {
        let mut builder = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("defender-misp/", env!("CARGO_PKG_VERSION")));
        if !settings.verify_tls {
            builder = builder.danger_accept_invalid_certs(true);
        }
        if let Some(path) = &settings.ca_cert {
            let err = |reason: String| ClientBuildError::CaCert {
                path: path.display().to_string(),
                reason,
            };
            let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| err(e.to_string()))?;
            if certs.is_empty() {
                return Err(err("no certificate in the file".into()));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| ClientBuildError::Http(e.to_string()))?;
        Ok(Self {
            http,
            base_url: settings.url.clone(),
            key: settings.api_key.clone(),
            timeout: settings.timeout,
        })
    }

    /// `{MISP_URL}/{path}`, keeping any path prefix the server is mounted under.
    pub fn endpoint(&self, path: &str) -> url::Url {
        let mut url = self.base_url.clone();
        let joined = format!(
            "{}/{}",
            url.path().trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        url.set_path(&joined);
        url
    }

    pub fn base_url(&self) -> &url::Url {
        &self.base_url
    }

    /// POSTs a JSON body with the MISP headers and returns the checked response.
    pub async fn post_json(
        &self,
        path: &str,
        body: &Value,
        key: Option<&Secret>,
    ) -> Result<reqwest::Response, IntelError> {
        let key = key.unwrap_or(&self.key);
        let response = self
            .http
            .post(self.endpoint(path))
            .header("Authorization", key.expose())
            .header("Accept", "application/json")
            .json(body)
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        Self::check(response)
    }

    /// Maps a transport failure to its meaning without quoting the request (which holds the key
    /// only in a header, but reqwest errors may quote the URL).
    fn transport_error(&self, e: &reqwest::Error) -> IntelError {
        if e.is_timeout() {
            IntelError::Timeout(self.timeout)
        } else if e.is_connect() {
            IntelError::Unreachable("connection failed".into())
        } else if e.is_decode() || e.is_body() {
            IntelError::InvalidResponse("the response body was cut short".into())
        } else {
            IntelError::Unreachable("connection closed before the response".into())
        }
    }

    /// The one place a MISP status becomes a meaning.
    pub fn check(response: reqwest::Response) -> Result<reqwest::Response, IntelError> {
        let status = response.status();
        match status {
            s if s.is_success() => Ok(response),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(IntelError::Unauthorized(status.as_u16()))
            }
            StatusCode::TOO_MANY_REQUESTS => Err(IntelError::RateLimited {
                retry_after: retry_after(response.headers()),
            }),
            s if s.is_server_error() => Err(IntelError::Server(s.as_u16())),
            s => Err(IntelError::InvalidResponse(format!("HTTP {}", s.as_u16()))),
        }
    }

    /// Reads a successful response as JSON of type `T`; an HTML page or cut JSON is an error.
    pub async fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        response: reqwest::Response,
    ) -> Result<T, IntelError> {
        let is_json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| v.contains("json"));
        let mut response = response;
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(&e))?
        {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(IntelError::InvalidResponse(format!(
                    "response larger than {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            let what = if !is_json {
                "not JSON (content-type is not json)".to_owned()
            } else {
                format!("{e}")
            };
            IntelError::InvalidResponse(what)
        })
    }

    /// The restSearch request for `hashes` (see `misp.md` §8.1): every filter explicit.
    pub fn search_body(
        hashes: &[FileHash],
        published_only: bool,
        enforce_warninglist: bool,
    ) -> Value {
        let values: Vec<&str> = hashes.iter().map(FileHash::as_str).collect();
        let mut body = json!({
            "returnFormat": "json",
            "value": values,
            "type": HASH_ATTRIBUTE_TYPES,
            "to_ids": 1,
            "deleted": 0,
            "enforceWarninglist": u8::from(enforce_warninglist),
            "includeContext": 1,
            "includeEventTags": 1,
        });
        if published_only {
            body["published"] = json!(1);
        }
        body
    }
}

/// `Retry-After` (seconds) or MISP's own `X-Rate-Limit-Reset` (seconds until the window resets).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    ["retry-after", "x-rate-limit-reset"]
        .iter()
        .find_map(|name| {
            headers
                .get(*name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs)
        })
}

/// MISP as a [`ThreatIntel`] source.
#[derive(Debug, Clone)]
pub struct MispIntel {
    client: MispClient,
    chunk_size: usize,
    published_only: bool,
    enforce_warninglist: bool,
}

impl MispIntel {
    pub fn new(settings: &MispSettings) -> Result<Self, ClientBuildError> {
        Ok(Self {
            client: MispClient::new(settings)?,
            chunk_size: settings.chunk_size,
            published_only: settings.published_only,
            enforce_warninglist: settings.enforce_warninglist,
        })
    }

    pub fn client(&self) -> &MispClient {
        &self.client
    }
}

#[async_trait::async_trait]
impl ThreatIntel for MispIntel {
    fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    #[tracing::instrument(skip_all, fields(hashes = hashes.len()))]
    async fn lookup(
        &self,
        hashes: &[FileHash],
    ) -> Result<HashMap<FileHash, Vec<IntelHit>>, IntelError> {
        let body = MispClient::search_body(hashes, self.published_only, self.enforce_warninglist);
        let response = self
            .client
            .post_json("attributes/restSearch", &body, None)
            .await?;
        let parsed: SearchResponse = self.client.read_json(response).await?;
        let requested: HashSet<&FileHash> = hashes.iter().collect();
        Ok(map_attributes(
            &parsed.response.attribute,
            &requested,
            self.published_only,
        ))
    }
}
