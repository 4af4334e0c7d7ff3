//! Where the alert state's table service is, and how to reach it: `AzureWebJobsStorage` as the
//! Functions host reads it (a connection string, `UseDevelopmentStorage=true`, or the
//! identity-based `__tableServiceUri` / `__accountName` with `__credential` and `__clientId`),
//! and `ALERT_STATE_TABLE`.

use std::collections::HashMap;

use crate::azure::queue::{DEV_ACCOUNT, DEV_KEY, conn_parts};
use crate::secret::Secret;
use crate::settings::{ConfigError, Source, guid, http_url, vars};

/// How table requests are authorised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableAuth {
    SharedKey {
        account: String,
        key: Secret,
    },
    /// A bearer token from this managed identity client id, or from the app's credential.
    Identity {
        client_id: Option<String>,
    },
}

/// The table service of the app's storage account, from `AzureWebJobsStorage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSettings {
    /// `https://{account}.table.core.windows.net/`, or a path-style emulator URL.
    pub endpoint: url::Url,
    pub auth: TableAuth,
    /// The table (`ALERT_STATE_TABLE`).
    pub table: String,
}

const VAR: &str = "AzureWebJobsStorage";

impl TableSettings {
    /// `None` when no storage account is configured at all.
    pub fn from_env(env: &dyn Source) -> Result<Option<Self>, ConfigError> {
        let table = table_name(&vars::ALERT_STATE_TABLE.require(env)?)?;
        Ok(Self::account(env)?.map(|(endpoint, auth)| Self {
            endpoint,
            auth,
            table,
        }))
    }

    /// The table service and how to reach it, from the `AzureWebJobsStorage` settings.
    fn account(env: &dyn Source) -> Result<Option<(url::Url, TableAuth)>, ConfigError> {
        let client_id = vars::AzureWebJobsStorage__clientId
            .read(env)
            .map(|id| guid("AzureWebJobsStorage__clientId", &id))
            .transpose()?;
        if let Some(c) = vars::AzureWebJobsStorage__credential.read(env)
            && !c.eq_ignore_ascii_case("managedidentity")
        {
            return Err(ConfigError::new(
                "AzureWebJobsStorage__credential",
                "must be managedidentity (or unset)",
            ));
        }
        for var in [
            vars::AzureWebJobsStorage__queueServiceUri,
            vars::AzureWebJobsStorage__tableServiceUri,
        ] {
            if let Some(uri) = var.read(env) {
                http_url(var.name, &uri)?;
            }
        }
        let account = vars::AzureWebJobsStorage__accountName.read(env);
        let well_formed = |a: &str| {
            (3..=24).contains(&a.len())
                && a.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        };
        if account.as_deref().is_some_and(|a| !well_formed(a)) {
            return Err(ConfigError::new(
                "AzureWebJobsStorage__accountName",
                "must be a storage account name: 3 to 24 lowercase letters and digits",
            ));
        }
        if let Some(conn) = vars::AzureWebJobsStorage.try_read(env)? {
            let parsed = Self::from_connection_string(conn.expose())?;
            return Ok(Some((parsed.endpoint, parsed.auth)));
        }
        let endpoint = match (
            vars::AzureWebJobsStorage__tableServiceUri.read(env),
            account,
        ) {
            (Some(uri), _) => http_url("AzureWebJobsStorage__tableServiceUri", &uri)?,
            (None, Some(a)) => url::Url::parse(&format!("https://{a}.table.core.windows.net/"))
                .map_err(|e| ConfigError::new("AzureWebJobsStorage__accountName", e.to_string()))?,
            (None, None) => return Ok(None),
        };
        Ok(Some((endpoint, TableAuth::Identity { client_id })))
    }

    /// A connection string: `UseDevelopmentStorage=true`, or account name and key with an
    /// optional `TableEndpoint`. The key is never echoed in an error.
    pub fn from_connection_string(conn: &str) -> Result<Self, ConfigError> {
        let parts: HashMap<String, String> = conn_parts(conn).collect();
        if parts
            .get("usedevelopmentstorage")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            let endpoint = url::Url::parse(&format!("http://127.0.0.1:10002/{DEV_ACCOUNT}/"))
                .expect("a valid URL");
            let auth = TableAuth::SharedKey {
                account: DEV_ACCOUNT.into(),
                key: Secret::new(DEV_KEY),
            };
            return Ok(Self {
                endpoint,
                auth,
                table: vars::ALERT_STATE_TABLE
                    .default
                    .unwrap_or_default()
                    .to_owned(),
            });
        }
        let account = parts
            .get("accountname")
            .ok_or_else(|| ConfigError::new(VAR, "is not a connection string: no AccountName"))?;
        let key = parts.get("accountkey").ok_or_else(|| {
            ConfigError::new(
                VAR,
                "has no AccountKey (for identity-based access use AzureWebJobsStorage__accountName)",
            )
        })?;
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(key)
            .map_err(|_| ConfigError::new(VAR, "AccountKey is not base64"))?;
        let endpoint = match parts.get("tableendpoint") {
            Some(e) => e.clone(),
            None => {
                let protocol = parts
                    .get("defaultendpointsprotocol")
                    .map_or("https", String::as_str);
                let suffix = parts
                    .get("endpointsuffix")
                    .map_or("core.windows.net", String::as_str);
                format!("{protocol}://{account}.table.{suffix}/")
            }
        };
        let endpoint = http_url(VAR, &endpoint)
            .map_err(|_| ConfigError::new(VAR, "TableEndpoint is not an http(s) URL"))?;
        Ok(Self {
            endpoint,
            auth: TableAuth::SharedKey {
                account: account.clone(),
                key: Secret::new(key.clone()),
            },
            table: vars::ALERT_STATE_TABLE
                .default
                .unwrap_or_default()
                .to_owned(),
        })
    }
}

/// A table name as the service accepts it: 3 to 63 letters and digits, starting with a letter.
fn table_name(name: &str) -> Result<String, ConfigError> {
    let ok = (3..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(name.to_owned())
    } else {
        Err(ConfigError::new(
            "ALERT_STATE_TABLE",
            "must be 3 to 63 letters and digits, starting with a letter",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::env;

    #[test]
    fn the_account_is_read_as_the_host_reads_it() {
        let dev = TableSettings::from_env(&env(&[(
            "AzureWebJobsStorage",
            "UseDevelopmentStorage=true",
        )]))
        .unwrap()
        .unwrap();
        assert_eq!(
            dev.endpoint.as_str(),
            "http://127.0.0.1:10002/devstoreaccount1/"
        );
        let prod = TableSettings::from_connection_string(
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.usgovcloudapi.net",
        )
        .unwrap();
        assert_eq!(
            prod.endpoint.as_str(),
            "https://acct.table.core.usgovcloudapi.net/"
        );
        let identity = TableSettings::from_env(&env(&[
            (
                "AzureWebJobsStorage__tableServiceUri",
                "https://acct.table.core.windows.net/",
            ),
            ("AzureWebJobsStorage__credential", "managedidentity"),
            (
                "AzureWebJobsStorage__clientId",
                "6D7641BF-A4E8-4D5D-A653-03240A00020F",
            ),
        ]))
        .unwrap()
        .unwrap();
        assert!(
            matches!(identity.auth, TableAuth::Identity { client_id: Some(ref id) } if id == "6d7641bf-a4e8-4d5d-a653-03240a00020f")
        );
        let by_name =
            TableSettings::from_env(&env(&[("AzureWebJobsStorage__accountName", "acct01")]))
                .unwrap()
                .unwrap();
        assert_eq!(
            by_name.endpoint.as_str(),
            "https://acct01.table.core.windows.net/"
        );
        assert!(TableSettings::from_env(&env(&[])).unwrap().is_none());
        assert_eq!(dev.table, "defendermispstate");
    }

    #[test]
    fn a_bad_storage_setting_names_itself_and_never_echoes_a_key() {
        for (var, value) in [
            (
                "AzureWebJobsStorage",
                "AccountName=acct;AccountKey=not base64!",
            ),
            ("AzureWebJobsStorage", "garbage"),
            ("AzureWebJobsStorage__credential", "password"),
            ("AzureWebJobsStorage__clientId", "me"),
            ("AzureWebJobsStorage__accountName", "Not_An_Account"),
            ("AzureWebJobsStorage__tableServiceUri", "ftp://x"),
            ("ALERT_STATE_TABLE", "1st-table"),
        ] {
            let err = TableSettings::from_env(&env(&[(var, value)])).unwrap_err();
            assert_eq!(err.variable, var, "{var}={value}");
            assert!(!err.to_string().contains("not base64!"));
        }
    }
}
