//! Azure Storage queues, just enough to put a message: `replay --enqueue` puts matches back on
//! `misp-matches` so `RaiseAlerts` acts on them.
//!
//! The account comes from `AzureWebJobsStorage` as the Functions host reads it: a connection
//! string (account key, signed with SharedKey), `UseDevelopmentStorage=true` (Azurite), or the
//! identity-based form `AzureWebJobsStorage__queueServiceUri` / `AzureWebJobsStorage__accountName`
//! (a bearer token for `https://storage.azure.com`). Messages are base64-encoded, as the Functions
//! queue trigger expects by default.

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::http::{self, ClientOptions, Failure};
use crate::secret::Secret;
use crate::settings::{ConfigError, Source, vars};

const API_VERSION: &str = "2021-08-06";
pub(crate) const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";
/// One storage call ends within this.
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Azurite's well-known development account (public, documented by Microsoft).
pub(crate) const DEV_ACCOUNT: &str = "devstoreaccount1";
pub(crate) const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// How requests are authorised.
#[derive(Clone)]
pub enum QueueAuth {
    SharedKey { account: String, key: Secret },
    Token(Arc<dyn TokenCredential>),
}

/// A queue service endpoint and its credentials.
#[derive(Clone)]
pub struct QueueService {
    http: reqwest::Client,
    /// `https://{account}.queue.core.windows.net` or a path-style emulator URL.
    endpoint: url::Url,
    auth: QueueAuth,
}

/// Why a message could not be put.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("storage refused the request (HTTP {0}): check the role or key")]
    Forbidden(u16),
    #[error("storage answered HTTP {0}")]
    Status(u16),
    #[error("storage unreachable: {0}")]
    Transport(String),
    #[error("no token for storage: {0}")]
    Token(String),
}

pub(crate) fn conn_parts(conn: &str) -> impl Iterator<Item = (String, String)> + '_ {
    conn.split(';').filter_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        Some((k.trim().to_ascii_lowercase(), v.trim().to_owned()))
    })
}

/// The storage account, as the Functions host reads `AzureWebJobsStorage`.
#[derive(Clone)]
pub enum StorageAccount {
    /// A connection string (account key, or `UseDevelopmentStorage=true`); it holds the key.
    ConnectionString(Secret),
    /// Identity-based access: the queue service endpoint, reached with a bearer token.
    Identity(url::Url),
}

impl StorageAccount {
    pub fn from_env(env: &dyn Source) -> Result<Self, ConfigError> {
        if let Some(conn) = vars::AzureWebJobsStorage.read(env) {
            return Ok(Self::ConnectionString(conn));
        }
        let endpoint = match (
            vars::AzureWebJobsStorage__queueServiceUri.read(env),
            vars::AzureWebJobsStorage__accountName.read(env),
        ) {
            (Some(uri), _) => uri,
            (None, Some(account)) => format!("https://{account}.queue.core.windows.net"),
            (None, None) => {
                return Err(ConfigError::new(
                    "AzureWebJobsStorage",
                    "is required to enqueue (a connection string, or AzureWebJobsStorage__accountName / __queueServiceUri with a credential)",
                ));
            }
        };
        url::Url::parse(&endpoint)
            .map(Self::Identity)
            .map_err(|e| ConfigError::new("AzureWebJobsStorage__queueServiceUri", e.to_string()))
    }
}

impl QueueService {
    /// The queue service of the account; `credential` is asked for only with identity-based access.
    pub fn connect(
        account: &StorageAccount,
        credential: impl FnOnce() -> anyhow::Result<Arc<dyn TokenCredential>>,
    ) -> anyhow::Result<Self> {
        match account {
            StorageAccount::ConnectionString(conn) => {
                Ok(Self::from_connection_string(conn.expose())?)
            }
            StorageAccount::Identity(endpoint) => {
                Ok(Self::new(endpoint.clone(), QueueAuth::Token(credential()?)))
            }
        }
    }

    /// A connection string: `UseDevelopmentStorage=true`, or account name and key with an
    /// optional `QueueEndpoint`. The key is never echoed in an error.
    pub fn from_connection_string(conn: &str) -> Result<Self, ConfigError> {
        const VAR: &str = "AzureWebJobsStorage";
        let parts: std::collections::HashMap<String, String> = conn_parts(conn).collect();
        if parts
            .get("usedevelopmentstorage")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            let endpoint = url::Url::parse(&format!("http://127.0.0.1:10001/{DEV_ACCOUNT}"))
                .expect("a valid URL");
            return Ok(Self::new(
                endpoint,
                QueueAuth::SharedKey {
                    account: DEV_ACCOUNT.into(),
                    key: Secret::new(DEV_KEY),
                },
            ));
        }
        let account = parts
            .get("accountname")
            .ok_or_else(|| ConfigError::new(VAR, "has no AccountName"))?;
        let key = parts.get("accountkey").ok_or_else(|| ConfigError::new(VAR, "has no AccountKey (for identity-based access use AzureWebJobsStorage__accountName)"))?;
        STANDARD
            .decode(key)
            .map_err(|_| ConfigError::new(VAR, "AccountKey is not base64"))?;
        let endpoint = match parts.get("queueendpoint") {
            Some(e) => e.clone(),
            None => {
                let protocol = parts
                    .get("defaultendpointsprotocol")
                    .map(String::as_str)
                    .unwrap_or("https");
                let suffix = parts
                    .get("endpointsuffix")
                    .map(String::as_str)
                    .unwrap_or("core.windows.net");
                format!("{protocol}://{account}.queue.{suffix}")
            }
        };
        let endpoint = url::Url::parse(&endpoint)
            .map_err(|e| ConfigError::new(VAR, format!("QueueEndpoint: {e}")))?;
        Ok(Self::new(
            endpoint,
            QueueAuth::SharedKey {
                account: account.clone(),
                key: Secret::new(key.clone()),
            },
        ))
    }

    pub fn new(endpoint: url::Url, auth: QueueAuth) -> Self {
        let options = ClientOptions {
            timeout: CALL_TIMEOUT,
            ..ClientOptions::default()
        };
        Self {
            // Building fails only without a TLS backend, which this build always has.
            http: http::client(&options).unwrap_or_default(),
            endpoint,
            auth,
        }
    }

    fn url(&self, path: &str) -> url::Url {
        http::join(&self.endpoint, path)
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: String,
    ) -> Result<reqwest::Response, QueueError> {
        self.send_url(method, self.url(path), body).await
    }

    async fn send_url(
        &self,
        method: reqwest::Method,
        url: url::Url,
        body: String,
    ) -> Result<reqwest::Response, QueueError> {
        let date = http::format_date(std::time::SystemTime::now());
        let mut req = self
            .http
            .request(method.clone(), url.clone())
            .header("x-ms-date", &date)
            .header("x-ms-version", API_VERSION);
        let content_type = if body.is_empty() {
            ""
        } else {
            "application/xml"
        };
        if !content_type.is_empty() {
            req = req.header("Content-Type", content_type);
        }
        let authorization = match &self.auth {
            QueueAuth::SharedKey { account, key } => {
                let to_sign = string_to_sign(
                    method.as_str(),
                    body.len(),
                    content_type,
                    &date,
                    account,
                    &url,
                );
                format!("SharedKey {account}:{}", sign(key, &to_sign))
            }
            QueueAuth::Token(cred) => {
                let token = cred
                    .get_token(&[STORAGE_SCOPE], None)
                    .await
                    .map_err(|e| QueueError::Token(e.kind().to_string()))?;
                format!("Bearer {}", token.token.secret())
            }
        };
        let response = req
            .header("Authorization", authorization)
            .body(body)
            .send()
            .await
            .map_err(|e| QueueError::Transport(http::Transport::of(&e).to_string()))?;
        match http::classify(response.status(), response.headers()) {
            Ok(()) => Ok(response),
            Err(Failure::Unauthorized(status)) => Err(QueueError::Forbidden(status)),
            Err(_) => Err(QueueError::Status(response.status().as_u16())),
        }
    }

    /// Creates the queue if it does not exist (idempotent).
    pub async fn ensure_queue(&self, queue: &str) -> Result<(), QueueError> {
        self.send(reqwest::Method::PUT, queue, String::new())
            .await
            .map(|_| ())
    }

    /// Puts one message, base64-encoded as the Functions queue trigger expects.
    pub async fn put_message(&self, queue: &str, text: &str) -> Result<(), QueueError> {
        let body = format!(
            "<QueueMessage><MessageText>{}</MessageText></QueueMessage>",
            STANDARD.encode(text)
        );
        self.send(reqwest::Method::POST, &format!("{queue}/messages"), body)
            .await
            .map(|_| ())
    }
}

impl QueueService {
    /// Reads up to `n` messages without dequeuing them, decoded from base64 (for checks).
    pub async fn peek_messages(&self, queue: &str, n: u8) -> Result<Vec<String>, QueueError> {
        let path = format!("{queue}/messages");
        let mut url = self.url(&path);
        url.set_query(Some(&format!(
            "numofmessages={}&peekonly=true",
            n.clamp(1, 32)
        )));
        let response = self
            .send_url(reqwest::Method::GET, url, String::new())
            .await?;
        let xml = response
            .text()
            .await
            .map_err(|_| QueueError::Transport("body cut short".into()))?;
        Ok(xml
            .split("<MessageText>")
            .skip(1)
            .filter_map(|rest| rest.split("</MessageText>").next())
            .filter_map(|b64| STANDARD.decode(b64).ok())
            .map(|bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned())
            .collect())
    }
}

/// The SharedKey string-to-sign for the Queue service (version 2009-09-19 and later).
pub fn string_to_sign(
    verb: &str,
    content_length: usize,
    content_type: &str,
    date: &str,
    account: &str,
    url: &url::Url,
) -> String {
    let length = if content_length == 0 {
        String::new()
    } else {
        content_length.to_string()
    };
    let mut resource = format!("/{account}{}", url.path());
    let mut query: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
        .collect();
    query.sort();
    for (k, v) in query {
        resource.push_str(&format!("\n{k}:{v}"));
    }
    format!(
        "{verb}\n\n\n{length}\n\n{content_type}\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{API_VERSION}\n{resource}"
    )
}

pub(crate) fn sign(key: &Secret, to_sign: &str) -> String {
    let key = STANDARD.decode(key.expose()).unwrap_or_default();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes keys of any length");
    mac.update(to_sign.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings_are_read_like_the_host_reads_them() {
        let dev = QueueService::from_connection_string("UseDevelopmentStorage=true").unwrap();
        assert_eq!(
            dev.url("q/messages").as_str(),
            "http://127.0.0.1:10001/devstoreaccount1/q/messages"
        );
        let prod = QueueService::from_connection_string(
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net",
        )
        .unwrap();
        assert_eq!(
            prod.url("misp-matches/messages").as_str(),
            "https://acct.queue.core.windows.net/misp-matches/messages"
        );
        let err = QueueService::from_connection_string("AccountName=acct;AccountKey=not base64!")
            .err()
            .unwrap();
        assert!(
            !err.to_string().contains("not base64!"),
            "the key is never echoed"
        );
    }

    #[test]
    fn the_string_to_sign_follows_the_queue_service_rules() {
        let url =
            url::Url::parse("http://127.0.0.1:10001/devstoreaccount1/q/messages?b=2&A=1").unwrap();
        let s = string_to_sign(
            "POST",
            10,
            "application/xml",
            "Fri, 27 Nov 2026 20:00:00 GMT",
            "devstoreaccount1",
            &url,
        );
        assert_eq!(
            s,
            "POST\n\n\n10\n\napplication/xml\n\n\n\n\n\n\nx-ms-date:Fri, 27 Nov 2026 20:00:00 GMT\nx-ms-version:2021-08-06\n\
             /devstoreaccount1/devstoreaccount1/q/messages\na:1\nb:2"
        );
        assert_eq!(
            http::format_date(std::time::UNIX_EPOCH),
            "Thu, 01 Jan 1970 00:00:00 GMT",
            "x-ms-date is an RFC 1123 date"
        );
    }
}
