//! Azure Table storage, just enough to keep alert state shared by every instance: a table,
//! entities read by key, inserted only if absent, replaced or deleted only if unchanged (ETag).
//! No official Rust crate serves tables, so this is a small REST client (OData JSON, no metadata;
//! <https://learn.microsoft.com/rest/api/storageservices/table-service-rest-api>) on
//! [`crate::http`].
//!
//! The account is `AzureWebJobsStorage` as the Functions host reads it ([`TableSettings`]): a
//! connection string, signed with Shared Key for the Table service (whose string to sign is not
//! the Blob and Queue one: `VERB\nContent-MD5\nContent-Type\nDate\nCanonicalizedResource`,
//! <https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key#shared-key-format-for-2009-09-19-and-later>),
//! `UseDevelopmentStorage=true` (Azurite, tables on port 10002), or the identity-based
//! `AzureWebJobsStorage__tableServiceUri` / `__accountName`, with a bearer token for
//! `https://storage.azure.com` from the managed identity `__clientId` names (or the app's own
//! credential). Every property is written as a string, so no OData type annotation is needed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Map, Value};

mod account;

pub use account::{TableAuth, TableSettings};

use super::auth::{AuthMethod, TokenSource};
use super::queue::{STORAGE_SCOPE, sign};
use crate::http::{self, ClientOptions, Failure};
use crate::text::{clean_text, retry_after_text};

/// Service version sent; 2019-02-02 and later accept Entra ID tokens for tables.
const API_VERSION: &str = "2020-12-06";
/// One table call ends within this.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a table call did not do what was asked. The text holds no key or token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("the entity already exists")]
    Conflict,
    #[error("the entity changed since it was read")]
    Changed,
    #[error("no such entity")]
    NotFound,
    #[error(
        "table storage refused the request (HTTP {0}): grant the identity Storage Table Data Contributor, or check the key"
    )]
    Forbidden(u16),
    #[error("table storage is throttling (HTTP 429){}", retry_after_text(*retry_after))]
    Throttled { retry_after: Option<Duration> },
    #[error("table storage answered HTTP {0}: {1}")]
    Status(u16, String),
    #[error("table storage unreachable: {0}")]
    Unreachable(String),
    #[error("no token for table storage: {0}")]
    Token(String),
    #[error("table storage answered with something unreadable: {0}")]
    Unreadable(String),
}

/// An entity as read: its properties (strings) and its ETag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    pub etag: String,
    pub props: HashMap<String, String>,
}

/// One table of the account.
#[derive(Debug, Clone)]
pub struct TableClient {
    http: reqwest::Client,
    settings: TableSettings,
    table: String,
    tokens: Option<Arc<TokenSource>>,
}

/// The SharedKey string to sign for the Table service.
pub fn string_to_sign(
    verb: &str,
    content_type: &str,
    date: &str,
    account: &str,
    url: &url::Url,
) -> String {
    let mut resource = format!("/{account}{}", url.path());
    if let Some(comp) = url.query_pairs().find(|(k, _)| k == "comp") {
        resource.push_str(&format!("?comp={}", comp.1));
    }
    format!("{verb}\n\n{content_type}\n{date}\n{resource}")
}

/// `'` doubled, as OData string literals in a key need; keys here are plain anyway.
fn key_literal(k: &str) -> String {
    k.replace('\'', "''")
}

impl TableClient {
    /// A client of `table`; `app_tokens` is the app's credential, used for identity-based access
    /// when no `__clientId` names another identity.
    pub fn new(settings: TableSettings, app_tokens: Arc<TokenSource>) -> Self {
        let options = ClientOptions {
            timeout: CALL_TIMEOUT,
            ..ClientOptions::default()
        };
        let tokens = match &settings.auth {
            TableAuth::SharedKey { .. } => None,
            TableAuth::Identity { client_id: None } => Some(app_tokens),
            TableAuth::Identity {
                client_id: Some(id),
            } => Some(Arc::new(TokenSource::new(AuthMethod::ManagedIdentity {
                client_id: Some(id.clone()),
            }))),
        };
        Self {
            // Building fails only without a TLS backend, which this build always has.
            http: http::client(&options).unwrap_or_default(),
            table: settings.table.clone(),
            settings,
            tokens,
        }
    }

    pub fn endpoint(&self) -> &url::Url {
        &self.settings.endpoint
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn entity_url(&self, pk: &str, rk: &str) -> url::Url {
        http::join(
            &self.settings.endpoint,
            &format!(
                "{}(PartitionKey='{}',RowKey='{}')",
                self.table,
                key_literal(pk),
                key_literal(rk)
            ),
        )
    }

    async fn send(
        &self,
        method: Method,
        url: url::Url,
        body: Option<Vec<u8>>,
        if_match: Option<&str>,
    ) -> Result<reqwest::Response, TableError> {
        let date = http::format_date(std::time::SystemTime::now());
        let content_type = if body.is_some() {
            "application/json"
        } else {
            ""
        };
        let mut req = self
            .http
            .request(method.clone(), url.clone())
            .header("x-ms-date", &date)
            .header("x-ms-version", API_VERSION)
            .header("Accept", "application/json;odata=nometadata")
            .header("DataServiceVersion", "3.0;NetFx")
            .header("MaxDataServiceVersion", "3.0;NetFx");
        if let Some(b) = body {
            req = req
                .header("Content-Type", content_type)
                .header("Prefer", "return-no-content")
                .body(b);
        }
        if let Some(etag) = if_match {
            req = req.header("If-Match", etag);
        }
        let authorization = match (&self.settings.auth, &self.tokens) {
            (TableAuth::SharedKey { account, key }, _) => {
                let to_sign = string_to_sign(method.as_str(), content_type, &date, account, &url);
                format!("SharedKey {account}:{}", sign(key, &to_sign))
            }
            (_, Some(tokens)) => {
                let token = tokens
                    .token(STORAGE_SCOPE)
                    .await
                    .map_err(|e| TableError::Token(e.to_string()))?;
                format!("Bearer {}", token.expose())
            }
            (_, None) => return Err(TableError::Token("no credential".into())),
        };
        let response = req
            .header("Authorization", authorization)
            .send()
            .await
            .map_err(|e| TableError::Unreachable(http::Transport::of(&e).to_string()))?;
        let failure = match http::classify(response.status(), response.headers()) {
            Ok(()) => return Ok(response),
            Err(failure) => failure,
        };
        Err(match failure {
            Failure::Unauthorized(status) => TableError::Forbidden(status),
            Failure::NotFound => TableError::NotFound,
            Failure::Conflict => TableError::Conflict,
            Failure::PreconditionFailed => TableError::Changed,
            Failure::Throttled { retry_after } => TableError::Throttled { retry_after },
            Failure::Gone | Failure::Server(_) | Failure::Rejected(_) => {
                let body = http::error_body(response).await;
                let detail = clean_text(&String::from_utf8_lossy(&body), 200);
                TableError::Status(failure.status(), detail)
            }
        })
    }

    fn etag(response: &reqwest::Response) -> Result<String, TableError> {
        response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| TableError::Unreadable("no ETag".into()))
    }

    fn body(pk: &str, rk: &str, props: &[(&str, String)]) -> Vec<u8> {
        let mut o = Map::new();
        o.insert("PartitionKey".into(), Value::from(pk));
        o.insert("RowKey".into(), Value::from(rk));
        for (k, v) in props {
            o.insert((*k).into(), Value::from(v.as_str()));
        }
        serde_json::to_vec(&o).unwrap_or_default()
    }

    /// Creates the table; one that exists already is fine.
    pub async fn create_table(&self) -> Result<(), TableError> {
        let body =
            serde_json::to_vec(&serde_json::json!({"TableName": self.table})).unwrap_or_default();
        let url = http::join(&self.settings.endpoint, "Tables");
        match self.send(Method::POST, url, Some(body), None).await {
            Ok(_) | Err(TableError::Conflict) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Inserts an entity that must not exist yet ([`TableError::Conflict`] if it does); its ETag.
    pub async fn insert(
        &self,
        pk: &str,
        rk: &str,
        props: &[(&str, String)],
    ) -> Result<String, TableError> {
        let url = http::join(&self.settings.endpoint, &self.table);
        let response = self
            .send(Method::POST, url, Some(Self::body(pk, rk, props)), None)
            .await?;
        Self::etag(&response)
    }

    /// The entity, or `None`.
    pub async fn get(&self, pk: &str, rk: &str) -> Result<Option<Entity>, TableError> {
        let response = match self
            .send(Method::GET, self.entity_url(pk, rk), None, None)
            .await
        {
            Ok(r) => r,
            Err(TableError::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        let etag = Self::etag(&response)?;
        let bytes = http::read_body(response, 1024 * 1024)
            .await
            .map_err(|e| TableError::Unreadable(e.to_string()))?;
        let value: Map<String, Value> =
            serde_json::from_slice(&bytes).map_err(|e| TableError::Unreadable(e.to_string()))?;
        let props = value
            .into_iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
            .collect();
        Ok(Some(Entity { etag, props }))
    }

    /// Replaces the entity only if its ETag is still `etag` ([`TableError::Changed`] if not); the
    /// new ETag.
    pub async fn replace(
        &self,
        pk: &str,
        rk: &str,
        props: &[(&str, String)],
        etag: &str,
    ) -> Result<String, TableError> {
        let response = self
            .send(
                Method::PUT,
                self.entity_url(pk, rk),
                Some(Self::body(pk, rk, props)),
                Some(etag),
            )
            .await?;
        Self::etag(&response)
    }

    /// Deletes the entity only if its ETag is still `etag`; one already gone is fine.
    pub async fn delete(&self, pk: &str, rk: &str, etag: &str) -> Result<(), TableError> {
        match self
            .send(Method::DELETE, self.entity_url(pk, rk), None, Some(etag))
            .await
        {
            Ok(_) | Err(TableError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_string_to_sign_is_the_table_services_not_the_queue_ones() {
        let url = url::Url::parse(
            "http://127.0.0.1:10002/devstoreaccount1/state(PartitionKey='a',RowKey='b')?x=1",
        )
        .unwrap();
        assert_eq!(
            string_to_sign(
                "PUT",
                "application/json",
                "Fri, 27 Nov 2026 20:00:00 GMT",
                "devstoreaccount1",
                &url
            ),
            "PUT\n\napplication/json\nFri, 27 Nov 2026 20:00:00 GMT\n/devstoreaccount1/devstoreaccount1/state(PartitionKey='a',RowKey='b')"
        );
        let tables = url::Url::parse("https://acct.table.core.windows.net/Tables?comp=x").unwrap();
        assert!(string_to_sign("POST", "", "d", "acct", &tables).ends_with("/acct/Tables?comp=x"));
    }
}
