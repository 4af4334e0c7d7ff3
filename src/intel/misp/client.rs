//! The MISP REST client: [`MispClient`] holds one shared `reqwest::Client`, the base URL and the
//! key, and names each meaning of [`crate::http`] as an [`IntelError`] ([`MispClient::check`]).
//! [`MispIntel`] adapts it to [`ThreatIntel`].

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use super::{SearchResponse, map_attributes};

use crate::http::{self, ClientOptions, Credential, Failure, ReadError, Transport};
use crate::indicator::Indicator;
use crate::indicator::misp::NETWORK_ATTRIBUTE_TYPES;
use crate::intel::config::MispSettings;
use crate::intel::rules::Rules;
use crate::intel::{HASH_ATTRIBUTE_TYPES, Hits, IntelError, LookupKey, ThreatIntel};
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
        let ca_error = |reason: String| ClientBuildError::CaCert {
            path: settings
                .ca_cert
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            reason,
        };
        let ca_pem = match &settings.ca_cert {
            Some(path) => Some(std::fs::read(path).map_err(|e| ca_error(e.to_string()))?),
            None => None,
        };
        let options = ClientOptions {
            timeout: settings.timeout,
            accept_invalid_certs: !settings.verify_tls,
            ca_pem,
        };
        let http = http::client(&options).map_err(|e| match e {
            http::BuildError::CaCert(reason) => ca_error(reason),
            http::BuildError::Http(reason) => ClientBuildError::Http(reason),
        })?;
        Ok(Self {
            http,
            base_url: settings.url.clone(),
            key: settings.api_key.clone(),
            timeout: settings.timeout,
        })
    }

    /// `{MISP_URL}/{path}`, keeping any path prefix the server is mounted under.
    pub fn endpoint(&self, path: &str) -> url::Url {
        http::join(&self.base_url, path)
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
        let response = http::post_json(&self.http, self.endpoint(path), Credential::Key(key), body)
            .await
            .map_err(|t| self.transport_error(t))?;
        Self::check(response)
    }

    /// A request that got no whole answer, as an [`IntelError`].
    fn transport_error(&self, t: Transport) -> IntelError {
        match t {
            Transport::Timeout => IntelError::Timeout(self.timeout),
            Transport::Cut => IntelError::InvalidResponse(t.to_string()),
            Transport::Connect | Transport::Closed => IntelError::Unreachable(t.to_string()),
        }
    }

    /// A MISP answer's status as an [`IntelError`] (the meaning itself is [`http::classify`]'s).
    pub fn check(response: reqwest::Response) -> Result<reqwest::Response, IntelError> {
        match http::classify(response.status(), response.headers()) {
            Ok(()) => Ok(response),
            Err(Failure::Unauthorized(status)) => Err(IntelError::Unauthorized(status)),
            Err(Failure::Throttled { retry_after }) => Err(IntelError::RateLimited { retry_after }),
            Err(Failure::Server(status)) => Err(IntelError::Server(status)),
            Err(
                f @ (Failure::NotFound
                | Failure::Conflict
                | Failure::Gone
                | Failure::PreconditionFailed
                | Failure::Rejected(_)),
            ) => Err(IntelError::InvalidResponse(format!("HTTP {}", f.status()))),
        }
    }

    /// Reads a successful response as JSON of type `T`, at most [`MAX_RESPONSE_BYTES`]; an HTML
    /// page or cut JSON is an error.
    pub async fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        response: reqwest::Response,
    ) -> Result<T, IntelError> {
        let is_json = http::says_json(response.headers());
        let bytes = http::read_body(response, MAX_RESPONSE_BYTES)
            .await
            .map_err(|e| match e {
                ReadError::TooLarge(_) => IntelError::InvalidResponse(e.to_string()),
                ReadError::Transport(t) => self.transport_error(t),
            })?;
        serde_json::from_slice(&bytes).map_err(|e| {
            let what = if !is_json {
                "not JSON (content-type is not json)".to_owned()
            } else {
                format!("{e}")
            };
            IntelError::InvalidResponse(what)
        })
    }

    /// The restSearch request for `keys`: every filter explicit, since MISP adds none of its
    /// own for `returnFormat: json` (`docs/sources.md` §4). The network types are asked for only
    /// when the chunk holds network indicators (a hash-only request is unchanged); a URL is sent
    /// in each spelling MISP may hold ([`crate::indicator::Url::search_spellings`]), and never a
    /// port.
    pub fn search_body(
        keys: &[LookupKey],
        published_only: bool,
        enforce_warninglist: bool,
    ) -> Value {
        let mut values: Vec<String> = Vec::with_capacity(keys.len());
        let mut network = false;
        for key in keys {
            match key {
                LookupKey::Hash(h) => values.push(h.as_str().to_owned()),
                LookupKey::Net(Indicator::Url(u)) => {
                    network = true;
                    values.extend(u.search_spellings().map(str::to_owned));
                }
                LookupKey::Net(i) => {
                    network = true;
                    values.push(i.text().into_owned());
                }
            }
        }
        let mut types: Vec<&str> = HASH_ATTRIBUTE_TYPES.to_vec();
        if network {
            types.extend(NETWORK_ATTRIBUTE_TYPES);
        }
        let mut body = json!({
            "returnFormat": "json",
            "value": values,
            "type": types,
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

/// MISP as a [`ThreatIntel`] source.
#[derive(Debug, Clone)]
pub struct MispIntel {
    client: MispClient,
    chunk_size: usize,
    published_only: bool,
    enforce_warninglist: bool,
    rules: Rules,
    /// restSearch requests sent, whether or not they were answered.
    sent: Arc<AtomicUsize>,
}

impl MispIntel {
    pub fn new(settings: &MispSettings) -> Result<Self, ClientBuildError> {
        Ok(Self {
            client: MispClient::new(settings)?,
            chunk_size: settings.chunk_size,
            published_only: settings.published_only,
            enforce_warninglist: settings.enforce_warninglist,
            rules: settings.rules(),
            sent: Arc::default(),
        })
    }

    pub fn client(&self) -> &MispClient {
        &self.client
    }

    /// The rules its answers are held to.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }
}

#[async_trait::async_trait]
impl ThreatIntel for MispIntel {
    fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    #[tracing::instrument(skip_all, fields(keys = keys.len()))]
    async fn lookup(&self, keys: &[LookupKey]) -> Result<Hits, IntelError> {
        let body = MispClient::search_body(keys, self.published_only, self.enforce_warninglist);
        self.sent.fetch_add(1, Ordering::Relaxed);
        let response = self
            .client
            .post_json("attributes/restSearch", &body, None)
            .await?;
        let parsed: SearchResponse = self.client.read_json(response).await?;
        let requested: HashSet<&LookupKey> = keys.iter().collect();
        Ok(map_attributes(
            &parsed.response.attribute,
            &requested,
            &self.rules,
        ))
    }

    fn requests_sent(&self) -> Option<usize> {
        Some(self.sent.load(Ordering::Relaxed))
    }
}
