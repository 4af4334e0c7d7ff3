//! Every environment variable the program reads, declared once: name (the constant's own), kind,
//! default, accepted values and meaning. The README's settings table and `local.settings.json`
//! list the same variables for operators; `tests/infra.rs` checks the deployment against [`all`].

#![expect(
    non_upper_case_globals,
    reason = "each constant is named after its variable, and the storage ones are mixed case"
)]

use super::{Choice, Declared, Flag, Number, Seconds, SecretText, Text};

/// Declares each setting as a `pub const` named after its variable, and [`all`] of them.
macro_rules! settings {
    ($( $(#[doc = $doc:literal])+ $name:ident: $kind:ty = $init:expr; )*) => {
        $( $(#[doc = $doc])+ pub const $name: $kind = $init.named(stringify!($name)); )*

        /// Every declared variable, in declaration order.
        pub fn all() -> Vec<Declared> {
            vec![$( $name.declared(concat!($($doc, "\n"),+).trim()), )*]
        }
    };
}

/// The categories `CreateAlertByReference` accepts ("category" in
/// <https://learn.microsoft.com/defender-endpoint/api/create-alert-by-reference>).
pub const ALERT_CATEGORIES: [&str; 16] = [
    "General",
    "CommandAndControl",
    "Collection",
    "CredentialAccess",
    "DefenseEvasion",
    "Discovery",
    "Exfiltration",
    "Exploit",
    "Execution",
    "InitialAccess",
    "LateralMovement",
    "Malware",
    "Persistence",
    "PrivilegeEscalation",
    "Ransomware",
    "SuspiciousActivity",
];

/// Active indicators a tenant may hold; Microsoft does not raise it.
pub const TENANT_INDICATOR_CAP: u64 = 15_000;

settings! {
    // --- The Functions host ------------------------------------------------------------------

    /// Port `serve` listens on, on 127.0.0.1 (set by the host).
    FUNCTIONS_CUSTOMHANDLER_PORT: Text = Text::REQUIRED;

    // --- MISP: where and how to ask (intel::config) ------------------------------------------

    /// Base URL of the MISP server; `http://` warns unless loopback.
    MISP_URL: Text = Text::REQUIRED;
    /// MISP automation key, sent as `Authorization`; never logged.
    MISP_API_KEY: SecretText = SecretText::REQUIRED;
    /// Distinct hashes per restSearch request.
    MISP_CHUNK_SIZE: Number<usize> = Number::new(1000, 1).at_most(100_000);
    /// Only attributes of published events match.
    MISP_PUBLISHED_ONLY: Flag = Flag::new(true);
    /// MISP drops attributes on its enabled warninglists.
    MISP_ENFORCE_WARNINGLIST: Flag = Flag::new(true);
    /// A folder in the layout of MISP/misp-warninglists (`lists/<name>/list.json`): an attribute
    /// on one of its lists never matches, in every mode (see `intel::rules`). The only
    /// warninglists a feed (`--misp-feed`) gets; with a MISP server, on top of its own.
    MISP_WARNINGLISTS_DIR: Text = Text::OPTIONAL;
    /// Verify the MISP server's TLS certificate.
    MISP_VERIFY_TLS: Flag = Flag::new(true);
    /// PEM file of a private CA to trust for MISP.
    MISP_CA_CERT: Text = Text::OPTIONAL;
    /// One MISP request ends within this.
    MISP_TIMEOUT_SECS: Seconds = Seconds::new(30, 1, 300);
    /// `online`: restSearch per batch; `snapshot`: match an in-memory copy of MISP's IOC hashes;
    /// `hybrid`: the snapshot, online while it is not loaded or stale (see `intel::snapshot`).
    MISP_MODE: Choice = Choice::new(&["online", "snapshot", "hybrid"], Some("online"));
    /// snapshot/hybrid: interval of the incremental pull (by `timestamp` and `publish_timestamp`).
    MISP_SNAPSHOT_REFRESH_SECS: Seconds = Seconds::new(300, 1, 86_400);
    /// snapshot/hybrid: interval of the full reload that drops hard deletes and unpublished
    /// events; at least `MISP_SNAPSHOT_REFRESH_SECS`.
    MISP_SNAPSHOT_RESYNC_SECS: Seconds = Seconds::new(86_400, 1, 30 * 86_400);
    /// snapshot/hybrid: attributes per restSearch page (`limit`).
    MISP_SNAPSHOT_PAGE_SIZE: Number<usize> = Number::new(5000, 1).at_most(100_000);

    // --- Lookups: cache, deadline and fault policy (intel::config) ---------------------------

    /// How long a hit is remembered; 0 turns hit caching off.
    MISP_CACHE_HIT_TTL_SECS: Seconds = Seconds::new(3600, 0, 30 * 86_400);
    /// How long a miss is remembered; 0 turns miss caching off.
    MISP_CACHE_MISS_TTL_SECS: Seconds = Seconds::new(600, 0, 30 * 86_400);
    /// Verdicts held at most.
    MISP_CACHE_CAPACITY: Number<u64> = Number::new(1_000_000, 0).at_most(100_000_000);
    /// All MISP work of one invocation ends within this: the budget of its waits (an open
    /// breaker, a `Retry-After`) and its retries.
    MISP_DEADLINE_SECS: Seconds =
        Seconds::new(60, 1, 300).because("well below host.json's functionTimeout of 600 s");
    /// Attempts per MISP request inside one invocation (lookups, snapshot pages, sightings),
    /// with jittered exponential backoff, never past the deadline. 1 means no retry.
    MISP_RETRY_ATTEMPTS: Number<u32> = Number::new(3, 1).at_most(10);
    /// Consecutive failures that open the circuit breaker (then lookups wait for it, within
    /// the deadline).
    MISP_BREAKER_FAILURES: Number<u32> = Number::new(5, 1).at_most(10_000);
    /// How long the open breaker waits before one probe request tests MISP again (a 429 waits
    /// for its `Retry-After` instead); the probe's success closes it, its failure re-opens it.
    MISP_BREAKER_COOLDOWN_SECS: Seconds = Seconds::new(1, 0, 300);

    // --- Matching: bounds and the allowlist (engine::config) ---------------------------------

    /// File of hashes and network values (addresses, host names covering their subdomains, URLs,
    /// senders) never looked up, one a line (`#` comments).
    MATCH_ALLOWLIST: Text = Text::OPTIONAL;
    /// Largest invocation body accepted: 100 events of 1 MB, base64-encoded (×4/3), plus
    /// metadata, with room to spare.
    MATCH_MAX_REQUEST_BYTES: Number<usize> =
        Number::new(256 * 1024 * 1024, 1024 * 1024).at_most(2 * 1024 * 1024 * 1024);
    /// Events per invocation; the rest are dead-lettered.
    MATCH_MAX_EVENTS: Number<usize> = Number::new(5000, 1).at_most(100_000);
    /// Bytes per event; a larger one is dead-lettered.
    MATCH_MAX_EVENT_BYTES: Number<usize> =
        Number::new(4 * 1024 * 1024, 1024).at_most(256 * 1024 * 1024);
    /// Records per event body; more is dead-lettered.
    MATCH_MAX_RECORDS_PER_EVENT: Number<usize> = Number::new(10_000, 1).at_most(1_000_000);
    /// Nesting of objects and arrays in an event body; deeper is dead-lettered (Defender
    /// records nest three or four levels).
    MATCH_MAX_JSON_DEPTH: Number<usize> = Number::new(64, 8)
        .at_most(128)
        .because("serde_json stops at 128");

    /// Bytes of request bodies held at once, read or decoded, across every invocation; a body
    /// that would pass it waits (its sender with it). Sized for the 2,048 MB Flex instance.
    MATCH_MAX_BYTES_IN_FLIGHT: Number<usize> = Number::new(512 * 1024 * 1024, 64 * 1024 * 1024)
        .at_most(64 * 1024 * 1024 * 1024);

    // --- The listener (server::listener) ------------------------------------------------------

    /// A request's headers must arrive within this of its first byte.
    SERVE_HEADER_TIMEOUT_SECS: Seconds = Seconds::new(10, 1, 300);
    /// A request body must arrive within this (time spent waiting for the handler's memory
    /// budget does not count).
    SERVE_BODY_TIMEOUT_SECS: Seconds = Seconds::new(60, 1, 600);
    /// An idle keep-alive connection is closed after this; longer than the host's own pooled
    /// connection idle timeout, so the host always closes first.
    SERVE_IDLE_TIMEOUT_SECS: Seconds = Seconds::new(600, 120, 86_400)
        .because("the host pools idle connections for 1 to 2 minutes");
    /// Connections held at most; past it the one idle (or stalled) longest is closed.
    SERVE_MAX_CONNECTIONS: Number<usize> = Number::new(256, 16).at_most(16_384);
    /// The log filter (`tracing` env-filter syntax); an invalid one stops the program.
    RUST_LOG: Text = Text::or("info");

    // --- Azure identity (azure::auth) ---------------------------------------------------------

    /// The credential: `managed-identity`, `client-secret` or `azure-cli`.
    AZURE_AUTH: Choice = Choice::new(
        &["managed-identity", "client-secret", "azure-cli"],
        Some("managed-identity"),
    );
    /// Client id of a user-assigned managed identity; unset: the system-assigned one.
    MANAGED_IDENTITY_CLIENT_ID: Text = Text::OPTIONAL;
    /// The app registration's tenant, for `client-secret`.
    AZURE_TENANT_ID: Text = Text::OPTIONAL;
    /// The app registration's client id, for `client-secret`.
    AZURE_CLIENT_ID: Text = Text::OPTIONAL;
    /// The app registration's secret, for `client-secret`.
    AZURE_CLIENT_SECRET: SecretText = SecretText::OPTIONAL;

    // --- Alerting (alerts::config) ------------------------------------------------------------

    /// Defender API base; regional and government hosts, or `http://` loopback for tests.
    DEFENDER_API_URL: Text = Text::or("https://api.security.microsoft.com");
    /// Token scope for the Defender API.
    DEFENDER_TOKEN_SCOPE: Text = Text::or("https://api.securitycenter.microsoft.com/.default");
    /// Create an alert by reference for each alertable match: `true`, `false`, or `auto` (unset):
    /// until `DEFENDER_API_RETIREMENT_DATE` (see `alerts::retirement`).
    DEFENDER_ALERTS: Choice = Choice::new(
        &["auto", "true", "false", "1", "0", "yes", "no", "on", "off"],
        Some("auto"),
    );
    /// The day the MDE API stops working (Microsoft MC1220762), `YYYY-MM-DD`.
    DEFENDER_API_RETIREMENT_DATE: Text = Text::or("2027-02-01");
    /// `Low`, `Medium` or `High` for every alert; unset: from MISP's `threat_level_id`.
    DEFENDER_ALERT_SEVERITY: Choice = Choice::new(&["Low", "Medium", "High"], None);
    /// One of the documented alert categories.
    DEFENDER_ALERT_CATEGORY: Choice = Choice::new(&ALERT_CATEGORIES, Some("Malware"));
    /// The alert's `recommendedAction`.
    DEFENDER_RECOMMENDED_ACTION: Text = Text::or(
        "Investigate the file and the device: read the MISP event named in the description, check where the file came from and what it did, and isolate the device if the file ran.",
    );
    /// Alert calls per 60 s; Defender allows 15 `CreateAlertByReference` calls a minute.
    DEFENDER_ALERTS_PER_MINUTE: Number<u32> =
        Number::new(14, 1).at_most(14).because("Defender allows 15");
    /// No second alert for the same device and hash within this.
    ALERT_DEDUPE_WINDOW_SECS: Seconds = Seconds::new(86_400, 0, 30 * 86_400);
    /// 404 answers (event not yet indexed) before the match is recorded and dropped.
    DEFENDER_NOT_FOUND_RETRIES: Number<u32> = Number::new(5, 0)
        .at_most(40)
        .because("host.json maxDequeueCount");
    /// `off`, `audit`, `block` or `block-and-remediate`.
    DEFENDER_INDICATOR_ACTION: Choice =
        Choice::new(&["off", "audit", "block", "block-and-remediate"], Some("off"));
    /// Indicator lifetime in days.
    DEFENDER_INDICATOR_EXPIRY_DAYS: Number<u32> = Number::new(30, 1).at_most(3650);
    /// `Informational`, `Low`, `Medium` or `High`.
    DEFENDER_INDICATOR_SEVERITY: Choice =
        Choice::new(&["Informational", "Low", "Medium", "High"], Some("Medium"));
    /// Indicators this process creates at most (the tenant holds 15,000).
    DEFENDER_INDICATOR_MAX: Number<u64> = Number::new(10_000, 1)
        .at_most(TENANT_INDICATOR_CAP)
        .because("the tenant's cap");
    /// Add a MISP sighting for each matched attribute.
    MISP_SIGHTINGS: Flag = Flag::new(false);
    /// A MISP key whose role has the sighting permission; unset: `MISP_API_KEY`.
    MISP_SIGHTING_API_KEY: SecretText = SecretText::OPTIONAL;
    /// Data collection endpoint; with the next two, every match is sent to Sentinel.
    SENTINEL_DCE_URL: Text = Text::OPTIONAL;
    /// Immutable id of the data collection rule (`dcr-…`).
    SENTINEL_DCR_ID: Text = Text::OPTIONAL;
    /// Stream name in the rule, e.g. `Custom-MispMatches_CL`.
    SENTINEL_STREAM: Text = Text::OPTIONAL;

    // --- Storage: alert state in Table storage, `replay --enqueue` (azure::storage) ------------

    /// The storage account as the Functions host reads it: a connection string (it holds the
    /// account key) or `UseDevelopmentStorage=true`.
    AzureWebJobsStorage: SecretText = SecretText::OPTIONAL;
    /// Identity-based access: the queue service URI.
    AzureWebJobsStorage__queueServiceUri: Text = Text::OPTIONAL;
    /// Identity-based access: the account name.
    AzureWebJobsStorage__accountName: Text = Text::OPTIONAL;
    /// Identity-based access: the table service URI (alert state).
    AzureWebJobsStorage__tableServiceUri: Text = Text::OPTIONAL;
    /// Identity-based access: `managedidentity`, as the host reads it.
    AzureWebJobsStorage__credential: Text = Text::OPTIONAL;
    /// Identity-based access: the client id of the user-assigned identity to use.
    AzureWebJobsStorage__clientId: Text = Text::OPTIONAL;
    /// The table of the alert state in that account (3 to 63 letters and digits, starting with a
    /// letter); the Bicep creates `defendermispstate`.
    ALERT_STATE_TABLE: Text = Text::or("defendermispstate");
}
