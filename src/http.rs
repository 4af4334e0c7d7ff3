//! HTTP as every outbound client here uses it (MISP, Defender, Logs Ingestion, Storage): one way
//! to build a client, to join an endpoint to a base URL, to send JSON with a credential, to read a
//! bounded body, and one place where an answer becomes its meaning: [`classify`] for a status
//! (with `Retry-After` read by [`retry_after`]), [`Transport`] for a request that got no answer.
//! Each API names these meanings in its own error type, with its own advice; none of them turns a
//! status or a `Retry-After` into a meaning itself (they keep the status number for their messages,
//! and the Table client reads the `ETag` it must send back).

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::Serialize;
use time::OffsetDateTime;
use time::macros::format_description;
use url::Url;

use crate::secret::Secret;

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("defender-misp/", env!("CARGO_PKG_VERSION"));
/// An error body read for its detail, at most.
pub const ERROR_BODY_BYTES: usize = 64 * 1024;

/// How a client connects.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// One request ends within this (connecting, sending and reading the whole body).
    pub timeout: Duration,
    /// Verify the server's TLS certificate (off only when an operator says so).
    pub accept_invalid_certs: bool,
    /// PEM certificates of a private CA to trust as well.
    pub ca_pem: Option<Vec<u8>>,
}

/// Why a client could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    CaCert(String),
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

/// A client with the timeouts (connecting within 10 s at most), the user agent and the trust the
/// options say. Clone it freely: clones share one connection pool.
pub fn client(options: &ClientOptions) -> Result<reqwest::Client, BuildError> {
    let mut builder = reqwest::Client::builder()
        .timeout(options.timeout)
        .connect_timeout(options.timeout.min(Duration::from_secs(10)))
        .pool_idle_timeout(Duration::from_secs(90))
        .user_agent(USER_AGENT);
    if options.accept_invalid_certs {
        builder = builder.danger_accept_invalid_certs(true);
    }
    if let Some(pem) = &options.ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| BuildError::CaCert(e.to_string()))?;
        if certs.is_empty() {
            return Err(BuildError::CaCert("no certificate in the file".into()));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| BuildError::Http(e.to_string()))
}

/// `{base}/{path}`, keeping any path the base already has (a server mounted under a prefix).
pub fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!(
        "{}/{}",
        url.path().trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    url.set_path(&joined);
    url
}

/// How a request proves who sends it.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    /// `Authorization: Bearer <token>` (Entra ID tokens).
    Bearer(&'a Secret),
    /// `Authorization: <key>` as it is (MISP's automation key).
    Key(&'a Secret),
}

/// POSTs `body` as JSON, asking for JSON back, with the credential. The answer is returned
/// whatever its status; [`classify`] says what it means.
pub async fn post_json(
    http: &reqwest::Client,
    url: Url,
    credential: Credential<'_>,
    body: &(impl Serialize + ?Sized),
) -> Result<reqwest::Response, Transport> {
    let request = http
        .post(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .json(body);
    let request = match credential {
        Credential::Bearer(token) => request.bearer_auth(token.expose()),
        Credential::Key(key) => request.header(reqwest::header::AUTHORIZATION, key.expose()),
    };
    request.send().await.map_err(|e| Transport::of(&e))
}

/// What a status other than 2xx means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// 429: wait, for `retry_after` when the server said how long.
    Throttled { retry_after: Option<Duration> },
    /// 401 or 403: the credential is missing a right or is refused.
    Unauthorized(u16),
    /// 404.
    NotFound,
    /// 409: the resource exists already, or another writer came first.
    Conflict,
    /// 410: the endpoint or resource is gone for good (a retired API).
    Gone,
    /// 412: a condition of the request (`If-Match`) no longer holds: the resource changed.
    PreconditionFailed,
    /// 5xx: the server failed; the same request may pass later.
    Server(u16),
    /// Any other status: the server refused this request as it is.
    Rejected(u16),
}

impl Failure {
    /// The status the meaning was read from (429 for [`Failure::Throttled`]).
    pub fn status(self) -> u16 {
        match self {
            Self::Throttled { .. } => 429,
            Self::Unauthorized(s) | Self::Server(s) | Self::Rejected(s) => s,
            Self::NotFound => 404,
            Self::Conflict => 409,
            Self::Gone => 410,
            Self::PreconditionFailed => 412,
        }
    }
}

/// The one place a status becomes a meaning: `Ok` for 2xx.
pub fn classify(status: StatusCode, headers: &HeaderMap) -> Result<(), Failure> {
    match status {
        s if s.is_success() => Ok(()),
        StatusCode::TOO_MANY_REQUESTS => Err(Failure::Throttled {
            retry_after: retry_after(headers),
        }),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            Err(Failure::Unauthorized(status.as_u16()))
        }
        StatusCode::NOT_FOUND => Err(Failure::NotFound),
        StatusCode::CONFLICT => Err(Failure::Conflict),
        StatusCode::GONE => Err(Failure::Gone),
        StatusCode::PRECONDITION_FAILED => Err(Failure::PreconditionFailed),
        s if s.is_server_error() => Err(Failure::Server(s.as_u16())),
        s => Err(Failure::Rejected(s.as_u16())),
    }
}

/// How long the server asks to wait: `Retry-After` as delay-seconds or as an HTTP-date
/// (RFC 9110 §10.2.3; a date in the past is no wait), else MISP's own `X-Rate-Limit-Reset`
/// (seconds until its window resets).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    retry_after_at(headers, OffsetDateTime::now_utc())
}

/// [`retry_after`] as of `now`.
pub fn retry_after_at(headers: &HeaderMap, now: OffsetDateTime) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::trim)
    };
    let seconds = |v: &str| v.parse::<u64>().ok().map(Duration::from_secs);
    let date = |v: &str| {
        let at = parse_date(v)?;
        Some(Duration::try_from(at - now).unwrap_or(Duration::ZERO))
    };
    text("retry-after")
        .and_then(|v| seconds(v).or_else(|| date(v)))
        .or_else(|| text("x-rate-limit-reset").and_then(seconds))
}

/// An IMF-fixdate, the HTTP-date form every sender generates (RFC 9110 §5.6.7):
/// `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn format_date(t: SystemTime) -> String {
    let t: OffsetDateTime = t.into();
    t.format(IMF_FIXDATE).unwrap_or_default()
}

fn parse_date(text: &str) -> Option<OffsetDateTime> {
    time::PrimitiveDateTime::parse(text, IMF_FIXDATE)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

const IMF_FIXDATE: &[time::format_description::BorrowedFormatItem<'static>] = format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

/// Why a request got no (whole) answer. The text never quotes the URL or a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Transport {
    #[error("timed out")]
    Timeout,
    #[error("connection failed")]
    Connect,
    #[error("the response body was cut short")]
    Cut,
    #[error("connection closed before the response")]
    Closed,
}

impl Transport {
    /// The meaning of a `reqwest` error, read without its text (which may quote the URL).
    pub fn of(e: &reqwest::Error) -> Self {
        if e.is_timeout() {
            Self::Timeout
        } else if e.is_connect() {
            Self::Connect
        } else if e.is_decode() || e.is_body() {
            Self::Cut
        } else {
            Self::Closed
        }
    }
}

/// Why a body could not be read whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("response larger than {0} bytes")]
    TooLarge(usize),
    #[error(transparent)]
    Transport(#[from] Transport),
}

/// Reads a body chunk by chunk and stops as soon as it would pass `max` bytes, so a server (or
/// a man in the middle) that sends without end costs at most `max` bytes of memory.
pub async fn read_body(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| Transport::of(&e))? {
        if bytes.len() + chunk.len() > max {
            return Err(ReadError::TooLarge(max));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The start of an error answer's body, for its detail: at most [`ERROR_BODY_BYTES`], empty if
/// it cannot be read.
pub async fn error_body(mut response: reqwest::Response) -> Vec<u8> {
    let mut bytes = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = ERROR_BODY_BYTES - bytes.len();
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if bytes.len() == ERROR_BODY_BYTES {
            break;
        }
    }
    bytes
}

/// Whether the answer says it is JSON (or does not say).
pub fn says_json(headers: &HeaderMap) -> bool {
    headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.contains("json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_as_an_http_date() {
        let now = datetime!(2026-11-27 20:00:00 UTC);
        let at = |pairs| retry_after_at(&headers(pairs), now);
        assert_eq!(
            at(&[("retry-after", " 17 ")]),
            Some(Duration::from_secs(17))
        );
        assert_eq!(
            at(&[("retry-after", "Fri, 27 Nov 2026 20:02:00 GMT")]),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            at(&[("retry-after", "Fri, 27 Nov 2026 19:00:00 GMT")]),
            Some(Duration::ZERO),
            "a date already past is no wait"
        );
        assert_eq!(
            at(&[("x-rate-limit-reset", "9")]),
            Some(Duration::from_secs(9))
        );
        assert_eq!(
            at(&[("retry-after", "5"), ("x-rate-limit-reset", "9")]),
            Some(Duration::from_secs(5))
        );
        assert_eq!(at(&[("retry-after", "soon")]), None);
        assert_eq!(at(&[]), None);
    }

    #[test]
    fn dates_are_written_as_imf_fixdate_and_read_back() {
        let text = format_date(std::time::UNIX_EPOCH);
        assert_eq!(text, "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(parse_date(&text), Some(OffsetDateTime::UNIX_EPOCH));
    }

    #[test]
    fn each_status_has_one_meaning() {
        let h = headers(&[("retry-after", "42")]);
        assert_eq!(classify(StatusCode::NO_CONTENT, &h), Ok(()));
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, &h),
            Err(Failure::Throttled {
                retry_after: Some(Duration::from_secs(42))
            })
        );
        for (status, meaning) in [
            (401, Failure::Unauthorized(401)),
            (403, Failure::Unauthorized(403)),
            (404, Failure::NotFound),
            (409, Failure::Conflict),
            (410, Failure::Gone),
            (412, Failure::PreconditionFailed),
            (502, Failure::Server(502)),
            (400, Failure::Rejected(400)),
            (413, Failure::Rejected(413)),
        ] {
            let code = status;
            let status = StatusCode::from_u16(status).unwrap();
            assert_eq!(classify(status, &h), Err(meaning));
            assert_eq!(meaning.status(), code, "the status a meaning was read from");
        }
    }

    #[test]
    fn endpoints_keep_the_base_path() {
        let base = Url::parse("https://misp.example/misp/").unwrap();
        assert_eq!(
            join(&base, "/attributes/restSearch").as_str(),
            "https://misp.example/misp/attributes/restSearch"
        );
        let bare = Url::parse("https://api.security.microsoft.com").unwrap();
        assert_eq!(
            join(&bare, "api/indicators").as_str(),
            "https://api.security.microsoft.com/api/indicators"
        );
    }
}
