//! Who may talk to `nas-sync serve`, and how: the transport's half of the security model (the
//! engine's half, the admin boundary, is `nas_sync_engine::runtime::admin`). README "Security"
//! has the threat model; in short, every web page the operator opens can send requests to
//! 127.0.0.1, so a loopback server is treated as a public one (as Jupyter does):
//!
//! - **Host** must be a loopback name with the bound port (`127.0.0.1`, `localhost`, `[::1]`), the
//!   bound address, or a name given with `--allowed-host`; anything else is 421. This defeats DNS
//!   rebinding, which would otherwise make an attacker's page same-origin with us.
//! - **State-changing requests** (POST, PUT, PATCH, DELETE) need `Content-Type: application/json`
//!   (415 otherwise: a cross-site form or `text/plain` fetch cannot send it without a CORS
//!   preflight, which we never answer) and, when an `Origin` header is present, our own origin
//!   (403). WebSocket upgrades follow the same `Origin` rule.
//! - **A secret on every API call**: a per-launch token on loopback (printed as the URL to open,
//!   traded on the first page load for an `HttpOnly; SameSite=Strict` cookie), the operator and
//!   admin tokens on other addresses; `Authorization: Bearer` for scripts, `?token=` only on
//!   WebSockets and on that first page load.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use nas_sync_engine::runtime::admin::random_secret;
use nas_sync_engine::runtime::{Caller, CallerKind};
use nas_sync_engine::{ErrorBody, ErrorCode};

/// The cookie a first page load with `?token=` trades the token for.
pub const SESSION_COOKIE: &str = "nas_sync_session";
/// The cookie holding an admin grant (after the PIN unlocked admin mode).
pub const ADMIN_COOKIE: &str = "nas_sync_admin";

/// The served UI's Content-Security-Policy: no inline script, nothing from elsewhere, never in
/// a frame.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'self'; form-action 'none'; frame-ancestors 'none'";

/// A token that does not meet the bar, and why.
pub fn token_problem(name: &str, token: &str) -> Option<String> {
    let len = token.chars().count();
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some(format!(
            "{name} must not contain spaces or control characters"
        ));
    }
    if len < 32 {
        return Some(format!(
            "{name} is too short ({len} characters; at least 32, e.g. `openssl rand -hex 32`)"
        ));
    }
    // Bits if every character were drawn at random from the classes it uses.
    let class_size = |c: char| match c {
        '0'..='9' => 0,
        'a'..='z' => 1,
        'A'..='Z' => 2,
        _ => 3,
    };
    let mut used = [false; 4];
    for c in token.chars() {
        used[class_size(c)] = true;
    }
    let alphabet: f64 = [10.0, 26.0, 26.0, 33.0]
        .iter()
        .zip(used)
        .filter(|(_, u)| *u)
        .map(|(n, _)| n)
        .sum();
    let bits = len as f64 * alphabet.log2();
    let mut distinct: Vec<char> = token.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    let chars: Vec<char> = token.chars().collect();
    let periodic = (1..=len / 2).any(|p| (p..len).all(|i| chars[i] == chars[i - p]));
    if bits < 128.0 || distinct.len() < 10 || periodic {
        return Some(format!(
            "{name} looks guessable (about {bits:.0} bits from {} distinct characters{}); use at least 128 random bits, e.g. `openssl rand -hex 32`",
            distinct.len(),
            if periodic { ", repeating" } else { "" }
        ));
    }
    None
}

/// How the server was started, for the checks below.
pub struct AccessConfig {
    pub bind: SocketAddr,
    /// Extra names the server may be reached by (`--allowed-host`, `NAS_SYNC_ALLOWED_HOSTS`).
    pub allowed_hosts: Vec<String>,
    /// The per-launch secret (loopback).
    pub local_token: Option<String>,
    pub operator_token: Option<String>,
    pub admin_token: Option<String>,
}

/// The request checks and the sessions of one server.
pub struct Access {
    loopback: bool,
    /// Lowercase `host[:port]` values the Host header may take.
    hosts: Vec<String>,
    /// A non-loopback server bound to every address with no names given: any Host (the
    /// tokens are the defence there).
    any_host: bool,
    tokens: Vec<(String, CallerKind)>,
    /// The session cookie's value for each token: derived from the token, so a server restarted
    /// with the same token (a fixed `NAS_SYNC_LOCAL_TOKEN`, the LAN tokens) keeps its open pages
    /// signed in, and a new random launch token signs every old page out.
    sessions: HashMap<String, CallerKind>,
}

/// The session cookie's value for `token`: a SHA-256 of it (the cookie is as good as the token
/// while the token is valid, and never reveals it).
fn session_id(token: &str, kind: CallerKind) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"nas-sync session v1\0");
    h.update(format!("{kind:?}").as_bytes());
    h.update(b"\0");
    h.update(token.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Why a request was turned away: the JSON error body (its status from the code's table,
/// [`ErrorCode::http_status`]).
pub struct Denied(pub ErrorBody);

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(self.0)).into_response()
    }
}

fn denied(code: ErrorCode, message: impl Into<String>) -> Denied {
    Denied(ErrorBody::new(code, message))
}

/// Constant-time comparison (the token's length is not secret).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A cookie's value from the `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
}

/// `?token=` from the query, percent-decoded.
pub fn query_token(uri: &Uri) -> Option<String> {
    uri.query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
    })
}

/// The query without its `token` parameter (for the redirect after the trade).
fn without_token(uri: &Uri) -> String {
    let rest: Vec<(String, String)> = uri
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .filter(|(k, _)| k != "token")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let mut out = uri.path().to_string();
    if !rest.is_empty() {
        out.push('?');
        out.push_str(
            &form_urlencoded::Serializer::new(String::new())
                .extend_pairs(rest)
                .finish(),
        );
    }
    out
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

fn is_state_changing(m: &Method) -> bool {
    matches!(
        *m,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/") || path.starts_with("/ws/")
}

impl Access {
    pub fn new(c: AccessConfig) -> Access {
        let loopback = c.bind.ip().is_loopback();
        let port = c.bind.port();
        let mut hosts: Vec<String> = Vec::new();
        let mut add = |h: &str| {
            let h = h.trim().to_ascii_lowercase();
            if !h.is_empty() && !hosts.contains(&h) {
                hosts.push(h);
            }
        };
        for name in ["127.0.0.1", "localhost", "[::1]"] {
            add(&format!("{name}:{port}"));
        }
        if !c.bind.ip().is_unspecified() {
            add(&c.bind.to_string());
        }
        for h in &c.allowed_hosts {
            // A name alone allows it on the bound port and on the default port (a reverse
            // proxy in front); `name:port` allows exactly that.
            if h.contains(':') && !h.starts_with('[') || h.contains("]:") {
                add(h);
            } else {
                add(&format!("{h}:{port}"));
                add(h);
            }
        }
        let any_host = !loopback && c.bind.ip().is_unspecified() && c.allowed_hosts.is_empty();
        let mut tokens = Vec::new();
        if let Some(t) = c.local_token {
            tokens.push((t, CallerKind::Local));
        }
        if let Some(t) = c.operator_token {
            tokens.push((t, CallerKind::Operator));
        }
        if let Some(t) = c.admin_token {
            tokens.push((t, CallerKind::Admin));
        }
        let sessions = tokens
            .iter()
            .map(|(t, kind)| (session_id(t, *kind), *kind))
            .collect();
        Access {
            loopback,
            hosts,
            any_host,
            tokens,
            sessions,
        }
    }

    fn kind_of_token(&self, given: &str) -> Option<CallerKind> {
        // Every token is compared (no early exit on the first match).
        let mut found = None;
        for (t, kind) in &self.tokens {
            if same(t, given) {
                found = Some(*kind);
            }
        }
        found
    }

    /// The caller kind of a session cookie `SESSION.BROWSER`: the session part derived from a
    /// token ([`session_id`]), the browser part random (so each browser is its own client for
    /// the PIN throttle).
    fn session(&self, cookie: &str) -> Option<CallerKind> {
        let (sid, browser) = cookie.split_once('.')?;
        if browser.is_empty()
            || browser.len() > 64
            || !browser.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return None;
        }
        self.sessions
            .iter()
            .find(|(s, _)| same(s, sid))
            .map(|(_, kind)| *kind)
    }

    fn host_ok(&self, headers: &HeaderMap, uri: &Uri) -> Option<String> {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .or_else(|| uri.authority().map(|a| a.to_string()))?
            .to_ascii_lowercase();
        (self.any_host || self.hosts.contains(&host)).then_some(host)
    }

    /// The request's credential, if any: Bearer header, the session cookie, or (WebSockets
    /// only) `?token=`. `Err` for a credential that is wrong.
    fn credential(&self, req: &Request) -> Result<Option<(CallerKind, String)>, Denied> {
        let wrong = || {
            denied(
                ErrorCode::Forbidden,
                "토큰이 올바르지 않습니다 / wrong token",
            )
        };
        if let Some(t) = bearer(req.headers()) {
            return match self.kind_of_token(&t) {
                Some(k) => Ok(Some((k, format!("token:{k:?}")))),
                None => Err(wrong()),
            };
        }
        if let Some(sid) = cookie(req.headers(), SESSION_COOKIE)
            && let Some(k) = self.session(&sid)
        {
            return Ok(Some((k, format!("session:{sid}"))));
        }
        if req.uri().path().starts_with("/ws/")
            && let Some(t) = query_token(req.uri())
        {
            return match self.kind_of_token(&t) {
                Some(k) => Ok(Some((k, format!("token:{k:?}")))),
                None => Err(wrong()),
            };
        }
        Ok(None)
    }

    /// The checks for one request; on success the request carries its [`Caller`] (API paths)
    /// or passes on (the UI's files, `/health`, the OpenAPI document).
    pub fn check(&self, req: &mut Request) -> Result<Option<Response>, Denied> {
        let Some(host) = self.host_ok(req.headers(), req.uri()) else {
            return Err(denied(
                ErrorCode::BadHost,
                "이 주소(Host)로는 접속할 수 없습니다. 서버가 출력한 주소로 여세요. / This server does not answer to that Host name; open the address it printed.",
            ));
        };
        let path = req.uri().path().to_string();
        let websocket = req
            .headers()
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
        if (is_state_changing(req.method()) || websocket)
            && let Some(origin) = req.headers().get(header::ORIGIN)
        {
            {
                let origin = origin.to_str().unwrap_or("").to_ascii_lowercase();
                let ours = [format!("http://{host}"), format!("https://{host}")];
                if !ours.contains(&origin) {
                    return Err(denied(
                        ErrorCode::BadOrigin,
                        "다른 사이트에서 온 요청은 받지 않습니다 / requests from another origin are refused",
                    ));
                }
            }
        }
        if path == "/health" || path == "/api/openapi.json" {
            if let Some((kind, client)) = self.credential(req).ok().flatten() {
                let caller = self.caller(req, kind, client);
                req.extensions_mut().insert(caller);
            }
            return Ok(None);
        }
        if !is_api(&path) {
            // The UI's files are public; a first visit with `?token=` trades it for a cookie.
            if req.method() == Method::GET
                && let Some(t) = query_token(req.uri())
            {
                return match self.kind_of_token(&t) {
                    Some(kind) => {
                        let sid = format!("{}.{}", session_id(&t, kind), &random_secret()[..16]);
                        Ok(Some(self.trade(req.uri(), &sid)))
                    }
                    None => Ok(Some(invalid_token_page())),
                };
            }
            return Ok(None);
        }
        match self.credential(req)? {
            Some((kind, client)) => {
                let caller = self.caller(req, kind, client);
                req.extensions_mut().insert(caller);
                Ok(None)
            }
            None => Err(denied(
                ErrorCode::Unauthorized,
                if self.loopback {
                    "접속 토큰이 필요합니다. 서버가 출력한 주소(http://…/?token=…)로 여세요. / A token is required: open the address the server printed (http://…/?token=…), or send Authorization: Bearer."
                } else {
                    "토큰이 필요합니다 / a token is required (Authorization: Bearer …)"
                },
            )),
        }
    }

    fn caller(&self, req: &Request, kind: CallerKind, client: String) -> Caller {
        Caller::new(kind, cookie(req.headers(), ADMIN_COOKIE), client)
    }

    /// Set the session cookie and send the browser to the same page without the token, so it
    /// leaves the address bar (and the history entry is the clean URL).
    fn trade(&self, uri: &Uri, sid: &str) -> Response {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = StatusCode::SEE_OTHER;
        if let Ok(v) = HeaderValue::from_str(&without_token(uri)) {
            res.headers_mut().insert(header::LOCATION, v);
        }
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}={sid}; HttpOnly; SameSite=Strict; Path=/"
        )) {
            res.headers_mut().insert(header::SET_COOKIE, v);
        }
        res
    }
}

/// The body of a state-changing request, which must be JSON (`Content-Type: application/json`,
/// else 415): a cross-site form or a `text/plain` fetch, which need no CORS preflight, cannot
/// send that header. An extractor rather than a middleware, so that a method the route does
/// not have is still a 405.
pub struct JsonBody(pub axum::body::Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for JsonBody {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(denied(
                ErrorCode::UnsupportedMediaType,
                "요청 본문은 JSON이어야 합니다 (Content-Type: application/json) / the body must be JSON (Content-Type: application/json)",
            )
            .into_response());
        }
        axum::body::Bytes::from_request(req, state)
            .await
            .map(JsonBody)
            .map_err(IntoResponse::into_response)
    }
}

/// The `Set-Cookie` of an admin grant.
pub fn admin_cookie(grant: &str, max_age_secs: u64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{ADMIN_COOKIE}={grant}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_secs}"
    ))
    .ok()
}

fn invalid_token_page() -> Response {
    let body = "<!doctype html><html lang=\"ko\"><head><meta charset=\"utf-8\">\
        <title>NAS 동기화 모니터</title></head><body><h1>접속 토큰이 올바르지 않습니다</h1>\
        <p>서버를 시작한 창에 출력된 주소(<code>http://…/?token=…</code>)를 그대로 여세요. \
        서버를 다시 시작했다면 새 주소가 출력됩니다.</p>\
        <p>The access token is wrong: open the exact address the server printed; a restarted \
        server prints a new one.</p></body></html>";
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Middleware: the checks above, then the security headers on every answer and a JSON body on
/// every error answer (axum's own rejections, such as 405 or 413, are plain text).
pub async fn guard(State(access): State<Arc<Access>>, mut req: Request, next: Next) -> Response {
    let api = is_api(req.uri().path());
    let mut res = match access.check(&mut req) {
        Ok(Some(early)) => early,
        Ok(None) => next.run(req).await,
        Err(d) => d.into_response(),
    };
    if res.status().is_client_error() || res.status().is_server_error() {
        res = jsonify(res).await;
    }
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    if api {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// An error answer whose body is not JSON gets the JSON error shape, its text as the message.
async fn jsonify(res: Response) -> Response {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if is_json {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let code = match parts.status {
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        s if s.is_client_error() => "invalid_argument",
        _ => "internal",
    };
    let message = if text.is_empty() {
        parts
            .status
            .canonical_reason()
            .unwrap_or("error")
            .to_string()
    } else {
        text
    };
    let mut out = (
        parts.status,
        axum::Json(json!({"code": code, "message": message})),
    )
        .into_response();
    for (k, v) in parts.headers.iter() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_tokens_are_refused_and_random_ones_pass() {
        for weak in [
            "1",
            "secret",
            "12345678901234567890123456789012",
            "abababababababababababababababab",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "abcdefghijabcdefghijabcdefghijabcdefghij",
        ] {
            assert!(token_problem("T", weak).is_some(), "{weak} passed");
        }
        for good in [
            "3f9c1a7e5b2d8f0461ac9e3b7d5f2a18c4e6b0d9a3f7c1e5",
            "Zq8+v/Rk2Lm9Xw4Tn7Pb3Hs6Jd1Fg5Ca0Ye==",
            &random_secret(),
        ] {
            assert_eq!(token_problem("T", good), None, "{good}");
        }
    }

    #[test]
    fn the_token_leaves_the_query_and_the_rest_stays() {
        let u: Uri = "/matching?status=new&token=abc%2Bdef&page=2"
            .parse()
            .expect("uri");
        assert_eq!(query_token(&u).as_deref(), Some("abc+def"));
        assert_eq!(without_token(&u), "/matching?status=new&page=2");
        let u: Uri = "/?token=x".parse().expect("uri");
        assert_eq!(without_token(&u), "/");
    }
}
