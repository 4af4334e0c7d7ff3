//! The choice of `azure_identity` credential (`AZURE_AUTH`) and the tokens it hands out. Its
//! settings (`AZURE_AUTH`, `MANAGED_IDENTITY_CLIENT_ID`, and `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
//! `AZURE_CLIENT_SECRET` for `client-secret`) are declared in [`crate::settings::vars`].
//!
//! The managed identity is selected by `MANAGED_IDENTITY_CLIENT_ID`, not `AZURE_CLIENT_ID`, which
//! the host's own identity-based connections also read. The credential is built when a token is
//! first needed, so a missing setting of the chosen credential is an error of the first action
//! that needs a token, never a failure to start `serve`. Managed identity (App Service protocol
//! through `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`, else IMDS) and client secret cache tokens
//! inside `azure_identity`; the CLI credential does not, so [`CachedCredential`] wraps it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_identity::{
    AzureCliCredential, ClientSecretCredential, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId,
};
use time::{Duration, OffsetDateTime};
use tokio::sync::OnceCell;

use crate::secret::Secret;
use crate::settings::{ConfigError, Source, Text, guid, vars};
use crate::text::clean_text;

/// A token is renewed when less than this remains (what `azure_identity` itself does).
pub const REFRESH_MARGIN: Duration = Duration::seconds(300);

/// Which credential to use, with the settings it reads. Missing settings are kept as `None`
/// and reported when a token is first needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    ManagedIdentity {
        client_id: Option<String>,
    },
    ClientSecret {
        tenant_id: Option<String>,
        client_id: Option<String>,
        secret: Option<Secret>,
    },
    AzureCli,
}

/// A tenant: its GUID, or one of its domain names (`contoso.onmicrosoft.com`).
fn tenant(value: String) -> Result<String, ConfigError> {
    let domain = value.contains('.')
        && value
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if domain {
        Ok(value)
    } else {
        guid("AZURE_TENANT_ID", &value).map_err(|_| {
            ConfigError::new(
                "AZURE_TENANT_ID",
                "must be the tenant's GUID or domain name",
            )
        })
    }
}

impl AuthMethod {
    /// Reads the credential's settings; a client or tenant id that is set must be well-formed
    /// whichever credential is chosen (the host's identity-based connections read some of them).
    pub fn from_env(env: &dyn Source) -> Result<Self, ConfigError> {
        let id = |v: Text| v.read(env).map(|x| guid(v.name, &x)).transpose();
        let managed_client = id(vars::MANAGED_IDENTITY_CLIENT_ID)?;
        let client = id(vars::AZURE_CLIENT_ID)?;
        let tenant_id = vars::AZURE_TENANT_ID.read(env).map(tenant).transpose()?;
        let secret = vars::AZURE_CLIENT_SECRET.try_read(env)?;
        Ok(match vars::AZURE_AUTH.read(env)? {
            Some("client-secret") => Self::ClientSecret {
                tenant_id,
                client_id: client,
                secret,
            },
            Some("azure-cli") => Self::AzureCli,
            _ => Self::ManagedIdentity {
                client_id: managed_client,
            },
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::ManagedIdentity { .. } => "managed-identity",
            Self::ClientSecret { .. } => "client-secret",
            Self::AzureCli => "azure-cli",
        }
    }

    fn build(&self) -> Result<Arc<dyn TokenCredential>, AuthError> {
        let failed = |e: azure_core::Error| AuthError::Credential {
            method: self.name(),
            reason: clean_text(&e.to_string(), 300),
        };
        match self {
            Self::ManagedIdentity { client_id } => {
                let options = client_id
                    .clone()
                    .map(|id| ManagedIdentityCredentialOptions {
                        user_assigned_id: Some(UserAssignedId::ClientId(id)),
                        ..Default::default()
                    });
                Ok(ManagedIdentityCredential::new(options).map_err(failed)?)
            }
            Self::ClientSecret {
                tenant_id,
                client_id,
                secret,
            } => {
                let missing = |variable| AuthError::MissingSetting {
                    method: "client-secret",
                    variable,
                };
                let tenant = tenant_id.as_ref().ok_or(missing("AZURE_TENANT_ID"))?;
                let client = client_id.as_ref().ok_or(missing("AZURE_CLIENT_ID"))?;
                let secret = secret.as_ref().ok_or(missing("AZURE_CLIENT_SECRET"))?;
                let secret = azure_core::credentials::Secret::new(secret.expose().to_owned());
                Ok(
                    ClientSecretCredential::new(tenant, client.clone(), secret, None)
                        .map_err(failed)?,
                )
            }
            Self::AzureCli => Ok(Arc::new(CachedCredential::new(
                AzureCliCredential::new(None).map_err(failed)?,
            ))),
        }
    }
}

/// Why no token could be had. The text names what to set and never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("AZURE_AUTH={method} needs {variable}, which is not set")]
    MissingSetting {
        method: &'static str,
        variable: &'static str,
    },
    #[error("no token from the {method} credential: {reason}")]
    Credential {
        method: &'static str,
        reason: String,
    },
}

/// Hands out bearer tokens for a scope, building the credential on first use.
#[derive(Debug)]
pub struct TokenSource {
    name: &'static str,
    method: AuthMethod,
    credential: OnceCell<Arc<dyn TokenCredential>>,
}

impl TokenSource {
    pub fn new(method: AuthMethod) -> Self {
        Self {
            name: method.name(),
            method,
            credential: OnceCell::new(),
        }
    }

    /// A source over a ready credential (tests use a stand-in).
    pub fn from_credential(credential: Arc<dyn TokenCredential>) -> Self {
        Self {
            name: "given",
            method: AuthMethod::AzureCli,
            credential: OnceCell::new_with(Some(credential)),
        }
    }

    /// A bearer token for `scope` (e.g. `https://api.securitycenter.microsoft.com/.default`).
    pub async fn token(&self, scope: &str) -> Result<Secret, AuthError> {
        let credential = self
            .credential
            .get_or_try_init(|| async { self.method.build() })
            .await?;
        let token =
            credential
                .get_token(&[scope], None)
                .await
                .map_err(|e| AuthError::Credential {
                    method: self.name,
                    reason: clean_text(&e.to_string(), 300),
                })?;
        Ok(Secret::new(token.token.secret()))
    }
}

/// Keeps a credential's tokens per scope until [`REFRESH_MARGIN`] before they expire.
#[derive(Debug)]
pub struct CachedCredential {
    inner: Arc<dyn TokenCredential>,
    cache: Mutex<HashMap<String, AccessToken>>,
}

impl CachedCredential {
    pub fn new(inner: Arc<dyn TokenCredential>) -> Self {
        Self {
            inner,
            cache: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait::async_trait]
impl TokenCredential for CachedCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let key = scopes.join(" ");
        let fresh = |t: &AccessToken| t.expires_on - OffsetDateTime::now_utc() > REFRESH_MARGIN;
        if let Some(t) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned())
            && fresh(&t)
        {
            return Ok(t);
        }
        let token = self.inner.get_token(scopes, options).await?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, token.clone());
        }
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::env;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn managed_identity_is_the_default_and_reads_its_own_client_id_variable() {
        let host = "11111111-2222-4333-8444-555555555555";
        let m = AuthMethod::from_env(&env(&[("AZURE_CLIENT_ID", host)])).unwrap();
        assert_eq!(m, AuthMethod::ManagedIdentity { client_id: None });
        let mine = "6D7641BF-A4E8-4D5D-A653-03240A00020F";
        let m = AuthMethod::from_env(&env(&[("MANAGED_IDENTITY_CLIENT_ID", mine)])).unwrap();
        assert_eq!(
            m,
            AuthMethod::ManagedIdentity {
                client_id: Some(mine.to_ascii_lowercase())
            }
        );
        let err = AuthMethod::from_env(&env(&[("AZURE_AUTH", "default")])).unwrap_err();
        assert_eq!(err.variable, "AZURE_AUTH");
    }

    #[test]
    fn client_and_tenant_ids_must_be_well_formed_when_set() {
        for (var, bad) in [
            ("MANAGED_IDENTITY_CLIENT_ID", "mine"),
            ("AZURE_CLIENT_ID", "------------------------------------"),
            ("AZURE_TENANT_ID", "not a tenant!"),
        ] {
            let err = AuthMethod::from_env(&env(&[(var, bad)])).unwrap_err();
            assert_eq!(err.variable, var);
        }
        let m = AuthMethod::from_env(&env(&[
            ("AZURE_AUTH", "client-secret"),
            ("AZURE_TENANT_ID", "contoso.onmicrosoft.com"),
        ]))
        .unwrap();
        assert!(
            matches!(m, AuthMethod::ClientSecret { tenant_id: Some(t), .. } if t == "contoso.onmicrosoft.com")
        );
    }

    #[tokio::test]
    async fn a_missing_client_secret_setting_is_named_when_a_token_is_first_needed() {
        let m = AuthMethod::from_env(&env(&[
            ("AZURE_AUTH", "client-secret"),
            ("AZURE_TENANT_ID", "00000000-0000-0000-0000-000000000001"),
            ("AZURE_CLIENT_SECRET", "s3cr3t-value"),
        ]))
        .unwrap();
        let err = TokenSource::new(m).token("x/.default").await.unwrap_err();
        assert_eq!(
            err,
            AuthError::MissingSetting {
                method: "client-secret",
                variable: "AZURE_CLIENT_ID"
            }
        );
        assert!(!format!("{err} {err:?}").contains("s3cr3t"));
    }

    #[derive(Debug, Default)]
    struct Counting(AtomicUsize);

    #[async_trait::async_trait]
    impl TokenCredential for Counting {
        async fn get_token(
            &self,
            _: &[&str],
            _: Option<TokenRequestOptions<'_>>,
        ) -> azure_core::Result<AccessToken> {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            let life = if n == 0 { 3600 } else { 60 };
            Ok(AccessToken::new(
                format!("t{n}"),
                OffsetDateTime::now_utc() + Duration::seconds(life),
            ))
        }
    }

    #[tokio::test]
    async fn the_cli_wrapper_reuses_a_token_until_it_nears_expiry() {
        let inner = Arc::new(Counting::default());
        let cached = CachedCredential::new(inner.clone());
        let a = cached.get_token(&["s"], None).await.unwrap();
        let b = cached.get_token(&["s"], None).await.unwrap();
        assert_eq!(a.token.secret(), b.token.secret());
        assert_eq!(inner.0.load(Ordering::SeqCst), 1);
        // A second scope gets its own token, which lives only 60 s: never reused.
        cached.get_token(&["other"], None).await.unwrap();
        cached.get_token(&["other"], None).await.unwrap();
        assert_eq!(inner.0.load(Ordering::SeqCst), 3);
    }
}
