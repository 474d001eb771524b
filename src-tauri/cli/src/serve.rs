//! `nas-sync serve`: the PRD's HTTP/WebSocket API (section 7.1) over the engine's runtime, for
//! the web UI and headless (Docker) deployments. Each handler parses, calls the engine (blocking
//! work on `spawn_blocking`) and maps the error; no sync logic lives here.
//!
//! Security (README "Security"): every request passes [`crate::access::guard`] (Host, Origin,
//! Content-Type, a token or the session cookie; security headers; JSON errors), and every
//! handler hands the request's [`Caller`] to the engine, which enforces the admin boundary.
//! Loopback by default, with a per-launch token; a non-loopback bind needs the operator and
//! admin tokens. `/health` answers without credentials, with the status and an error code only.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, Path, Query, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use nas_sync_engine::export::{CsvLang, CsvOptions, Zone};
use nas_sync_engine::matching::MatchingQuery;
use nas_sync_engine::query::HistoryFilter;
use nas_sync_engine::runtime::logs::{LogLine, LogSink, Push};
use nas_sync_engine::runtime::monitor::StatusSink;
use nas_sync_engine::runtime::service::{
    self, Answer, HostOptions, RECONCILE_WAIT, Service, TreeQuery,
};
use nas_sync_engine::runtime::{Caller, ForceApproval, JobKind, LogHub, Status};

use crate::access::{self, Access, AccessConfig, JsonBody};
use crate::static_files::{UiDir, serve_ui};
use nas_sync_engine::{Config, Error, ErrorBody, ErrorCode};

/// Where `serve` listens without `--bind` or `NAS_SYNC_BIND`.
pub const DEFAULT_BIND: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8787);
/// Lines a WebSocket client may be behind before lines are dropped for it (and counted).
const WS_BUFFER: usize = 2_048;

/// What `serve` needs besides the config.
pub struct ServeArgs {
    pub bind: SocketAddr,
    /// The built web UI (index.html + assets), served at `/` when present.
    pub ui_dir: Option<PathBuf>,
    /// Where settings are read from and written to.
    pub settings_path: Option<PathBuf>,
    pub operator_token: Option<String>,
    pub admin_token: Option<String>,
    /// The per-launch secret on loopback (`NAS_SYNC_LOCAL_TOKEN` for scripts and tests; random
    /// when `None`).
    pub local_token: Option<String>,
    /// More names the server may be reached by (reverse proxy, LAN name).
    pub allowed_hosts: Vec<String>,
    /// Run the automatic schedule (default on).
    pub schedule: bool,
    /// Watch the root for changes (default on; network shares are left to the schedule).
    pub watch: bool,
}

/// An error answer: the engine's [`ErrorBody`], its status from the code's table.
struct ApiError(ErrorBody);

impl From<ErrorBody> for ApiError {
    fn from(e: ErrorBody) -> Self {
        ApiError(e)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self.0)).into_response()
    }
}

/// A malformed request (400 `invalid_argument`).
fn invalid(message: impl Into<String>) -> ApiError {
    ApiError(ErrorBody::new(ErrorCode::InvalidArgument, message))
}

type ApiResult = Result<Response, ApiError>;

fn ok<T: serde::Serialize>(v: T) -> ApiResult {
    Ok(Json(v).into_response())
}

/// Call the service off the async executor (it may block on SQLite or the share).
async fn call<T: Send + 'static>(
    s: &Service,
    f: impl FnOnce(&Service) -> Answer<T> + Send + 'static,
) -> Result<T, ApiError> {
    let s = s.clone();
    tokio::task::spawn_blocking(move || f(&s))
        .await
        .unwrap_or_else(|e| {
            Err(ErrorBody::new(
                ErrorCode::Internal,
                format!("worker failed: {e}"),
            ))
        })
        .map_err(ApiError)
}

fn query_error(e: QueryRejection) -> ApiError {
    invalid(e.body_text())
}

/// Check the flags and tokens, start the engine the way every host does
/// ([`Service::start`]: the settings file read leniently, `overrides` applied), then serve
/// until Ctrl-C or SIGTERM.
pub fn serve(
    mut args: ServeArgs,
    hub: LogHub,
    overrides: impl FnOnce(&mut Config),
) -> Result<(), Error> {
    let loopback = args.bind.ip().is_loopback();
    let bad = |field: &str, message: String| Error::Invalid {
        field: field.into(),
        message,
    };
    if !loopback && (args.operator_token.is_none() || args.admin_token.is_none()) {
        let missing: Vec<&str> = [
            ("NAS_SYNC_OPERATOR_TOKEN", &args.operator_token),
            ("NAS_SYNC_ADMIN_TOKEN", &args.admin_token),
        ]
        .into_iter()
        .filter(|(_, t)| t.is_none())
        .map(|(name, _)| name)
        .collect();
        let missing = missing.join(", ");
        return Err(bad(
            "bind",
            format!(
                "토큰이 필요합니다: {missing} 환경 변수를 설정하세요 / binding to {} (not \
                 loopback) needs both tokens; set {missing} in the environment (the container's \
                 env file), each a different random value of at least 32 characters (e.g. \
                 `openssl rand -hex 32`), or bind to 127.0.0.1 (--bind / NAS_SYNC_BIND)",
                args.bind
            ),
        ));
    }
    for (name, token) in [
        ("NAS_SYNC_OPERATOR_TOKEN", &args.operator_token),
        ("NAS_SYNC_ADMIN_TOKEN", &args.admin_token),
    ] {
        if let Some(problem) = token
            .as_deref()
            .and_then(|t| access::token_problem(name, t))
        {
            return Err(bad("token", problem));
        }
    }
    if args.operator_token.is_some() && args.operator_token == args.admin_token {
        return Err(bad(
            "token",
            "NAS_SYNC_OPERATOR_TOKEN and NAS_SYNC_ADMIN_TOKEN are the same; give each role its own"
                .into(),
        ));
    }
    if loopback {
        match &args.local_token {
            Some(t) if t.chars().count() < 16 || t.chars().any(char::is_whitespace) => {
                return Err(bad(
                    "token",
                    "NAS_SYNC_LOCAL_TOKEN must be at least 16 characters without spaces".into(),
                ));
            }
            Some(_) => {}
            None => args.local_token = Some(nas_sync_engine::runtime::admin::random_secret()),
        }
    } else {
        args.local_token = None;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Io {
            path: PathBuf::from("tokio"),
            source: e,
        })?;
    let service = Service::start(
        HostOptions {
            settings_path: args.settings_path.clone(),
            schedule: args.schedule,
            watch: args.watch,
            // The first screen after a start should not wait for an index rebuild.
            warm_index: true,
        },
        hub,
        overrides,
    );
    runtime.block_on(run_server(service, args))
}

async fn run_server(state: Service, args: ServeArgs) -> Result<(), Error> {
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .map_err(|e| Error::Io {
            path: PathBuf::from(args.bind.to_string()),
            source: e,
        })?;
    let addr = listener.local_addr().map_err(|e| Error::Io {
        path: PathBuf::from(args.bind.to_string()),
        source: e,
    })?;
    // The Host check needs the port actually bound (`--bind 127.0.0.1:0` picks one).
    let access = Arc::new(Access::new(AccessConfig {
        bind: addr,
        allowed_hosts: args.allowed_hosts.clone(),
        local_token: args.local_token.clone(),
        operator_token: args.operator_token.clone(),
        admin_token: args.admin_token.clone(),
    }));
    let monitor = state.monitor().clone();
    let app = router(state, access, args.ui_dir.as_deref());
    // The first stdout line says where we listen (tests and scripts read it; port 0 works); the
    // second is the address to open (with the launch token on loopback).
    {
        // A closed stdout (a caller that read the first line and went) must not stop the server.
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{addr}");
        let _ = match &args.local_token {
            Some(t) => writeln!(
                out,
                "open http://{addr}/?token={}",
                form_urlencoded::byte_serialize(t.as_bytes()).collect::<String>()
            ),
            None => writeln!(
                out,
                "open http://{}/?token=YOUR_TOKEN (the operator or admin token)",
                open_host(addr, &args.allowed_hosts)
            ),
        };
        let _ = out.flush();
    }
    tracing::info!("서버 시작 / serving on http://{addr}");
    let m = monitor.clone();
    // Live-log and status lines are small WebSocket frames: without TCP_NODELAY each waits for
    // the peer's delayed ACK (Nagle), about 40 ms a line.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("서버 종료 중 / shutting down: cancelling the running job");
            let _ =
                tokio::task::spawn_blocking(move || m.shutdown(std::time::Duration::from_secs(60)))
                    .await;
        })
        .await
        .map_err(|e| Error::Io {
            path: PathBuf::from(addr.to_string()),
            source: e,
        })?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

fn router(state: Service, access: Arc<Access>, ui_dir: Option<&std::path::Path>) -> Router {
    let api = Router::new()
        .route("/health", get(health))
        .route("/api/openapi.json", get(openapi))
        .route("/api/dashboard", get(dashboard))
        .route("/api/matching", get(matching_page))
        .route("/api/matching/tree", get(tree))
        .route("/api/matching/facets", get(matching_facets))
        .route("/api/matching/export.csv", get(export_matching))
        .route("/api/history", get(history))
        .route("/api/history/export.csv", get(export_history))
        .route("/api/reconcile/export.csv", get(export_reconcile))
        .route("/api/problems", get(problems))
        .route("/api/problems/{id}/retry", post(retry_problem))
        .route("/api/status", get(status))
        .route("/api/jobs", get(jobs))
        .route("/api/jobs/{id}", get(job))
        .route("/api/jobs/{id}/cancel", post(cancel_job))
        .route("/api/sync", post(start_sync))
        .route("/api/reconcile", post(reconcile))
        .route("/api/scan", post(start_scan))
        .route("/api/schedule/pause", post(pause))
        .route("/api/schedule/resume", post(resume))
        .route("/api/settings", get(get_settings).put(put_settings))
        .route("/api/settings/test-root", post(test_root))
        .route("/api/admin/verify-pin", post(verify_pin))
        .route("/api/demo", post(create_demo))
        .route("/ws/logs", get(ws_logs))
        .route("/ws/status", get(ws_status))
        // Unknown API paths are a JSON 404, never the UI's index.html.
        .route("/api/{*rest}", axum::routing::any(no_such_endpoint))
        .route("/ws/{*rest}", axum::routing::any(no_such_endpoint))
        .with_state(state);
    let app = match ui_dir.and_then(UiDir::new) {
        Some(ui) => api.fallback_service(axum::routing::get(serve_ui).with_state(ui)),
        None => api.fallback(no_such_endpoint),
    };
    app.layer(middleware::from_fn_with_state(access, access::guard))
}

async fn no_such_endpoint() -> ApiError {
    ApiError(ErrorBody::new(ErrorCode::NotFound, "no such endpoint"))
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

/// `{status, label, code, target_network_fs}` for anyone (a health check); with credentials
/// also the last sync and the last error's message (which may name the share's path). 503 while
/// in error.
async fn health(State(s): State<Service>, caller: Option<Extension<Caller>>) -> ApiResult {
    let details = caller.is_some();
    let h = call(&s, move |s| Ok(s.health(details))).await?;
    let code = if h.ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((code, Json(h)).into_response())
}

async fn status(State(s): State<Service>) -> ApiResult {
    ok(s.status())
}

async fn dashboard(State(s): State<Service>) -> ApiResult {
    ok(call(&s, |s| s.dashboard()).await?)
}

async fn matching_page(
    State(s): State<Service>,
    q: Result<Query<MatchingQuery>, QueryRejection>,
) -> ApiResult {
    let Query(q) = q.map_err(query_error)?;
    ok(call(&s, move |s| s.matching(&q)).await?)
}

/// The values the matching table's filters offer, with their counts.
async fn matching_facets(State(s): State<Service>) -> ApiResult {
    ok(call(&s, |s| s.matching_facets()).await?)
}

/// `?path=` asks for one folder of the lazy tree; without it, the whole tree.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TreeParams {
    path: Option<String>,
    #[serde(default)]
    offset: u64,
    limit: Option<u32>,
}

async fn tree(State(s): State<Service>, q: Result<Query<TreeParams>, QueryRejection>) -> ApiResult {
    let Query(p) = q.map_err(query_error)?;
    match p.path {
        Some(path) => {
            let q = TreeQuery {
                path,
                offset: p.offset,
                limit: p.limit,
            };
            ok(call(&s, move |s| s.tree_node(&q)).await?)
        }
        None => {
            // The limit is checked the same way as for a folder.
            service::check_tree_limit(p.limit)?;
            ok(call(&s, |s| s.tree()).await?)
        }
    }
}

async fn history(
    State(s): State<Service>,
    q: Result<Query<HistoryFilter>, QueryRejection>,
) -> ApiResult {
    let Query(f) = q.map_err(query_error)?;
    ok(call(&s, move |s| s.history(&f)).await?)
}

// ---------------------------------------------------------------------------------------------
// CSV exports: streamed. A blocking task writes the CSV into a small bounded channel of chunks
// and the response body reads from it, so an export of any size holds a few chunks in memory
// and a slow reader slows the writer instead of filling the memory. An invalid query (or a
// missing report) is an ordinary JSON error: nothing is sent before the first chunk.
// ---------------------------------------------------------------------------------------------

/// Bytes per chunk of an export's body.
const EXPORT_CHUNK: usize = 64 * 1024;
/// Chunks written ahead of the reader.
const EXPORT_AHEAD: usize = 4;

enum ExportMsg {
    Data(Bytes),
    Failed(ErrorBody),
}

/// The writing end of an export: chunks into the channel, blocking while the reader is behind.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<ExportMsg>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(EXPORT_CHUNK));
        self.tx
            .blocking_send(ExportMsg::Data(Bytes::from(chunk)))
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
            })
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= EXPORT_CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            self.send()
        }
    }
}

/// `lang` and `utc_offset` (minutes east of UTC: the reader's zone; default the server's) of an
/// export, and the rest of the query (the screen's filters).
fn export_params(raw: Option<&str>) -> Result<(CsvOptions, String), ApiError> {
    let mut lang = None;
    let mut offset = None;
    let mut rest = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "lang" => lang = Some(v.into_owned()),
            "utc_offset" => {
                offset = Some(v.parse::<i32>().map_err(|_| {
                    invalid(format!(
                        "utc_offset must be whole minutes east of UTC, e.g. 540 (got `{v}`)"
                    ))
                })?)
            }
            _ => {
                rest.append_pair(&k, &v);
            }
        }
    }
    let opts = CsvOptions {
        lang: CsvLang::parse(lang.as_deref().unwrap_or("ko"))?,
        zone: Zone::from_minutes(offset)?,
    };
    Ok((opts, rest.finish()))
}

/// The screen's query from the rest of an export's query string, checked as the screen's is.
fn screen_query<T: serde::de::DeserializeOwned>(rest: &str) -> Result<T, ApiError> {
    let uri: axum::http::Uri = format!("/?{rest}")
        .parse()
        .map_err(|_| invalid("malformed query string"))?;
    Query::<T>::try_from_uri(&uri)
        .map(|Query(q)| q)
        .map_err(query_error)
}

/// Stream what `export` writes as a CSV download named `nas-sync-WHAT-DATE.csv`.
async fn csv_download(
    s: Service,
    what: &str,
    opts: CsvOptions,
    export: impl FnOnce(&Service, &CsvOptions, &mut dyn std::io::Write) -> Answer<u64> + Send + 'static,
) -> ApiResult {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<ExportMsg>(EXPORT_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut w = ChannelWriter {
            tx,
            buf: Vec::with_capacity(EXPORT_CHUNK),
        };
        let done = export(&s, &opts, &mut w).and_then(|rows| {
            std::io::Write::flush(&mut w)
                .map(|_| rows)
                .map_err(|e| ErrorBody::new(ErrorCode::Io, e.to_string()))
        });
        if let Err(e) = done {
            tracing::debug!("CSV 내보내기 중단 / CSV export stopped: {}", e.message);
            let _ = w.tx.blocking_send(ExportMsg::Failed(e));
        }
    });
    let first = match rx.recv().await {
        Some(ExportMsg::Data(b)) => b,
        Some(ExportMsg::Failed(e)) => return Err(ApiError(e)),
        None => {
            return Err(ApiError(ErrorBody::new(
                ErrorCode::Internal,
                "the export stopped before writing anything",
            )));
        }
    };
    // A failure after the first chunk can only cut the body short: the connection is reset, so
    // the browser marks the download failed rather than keeping half a file.
    let body = futures_util::stream::unfold((Some(first), rx), |(first, mut rx)| async move {
        if let Some(b) = first {
            return Some((Ok(b), (None, rx)));
        }
        match rx.recv().await {
            Some(ExportMsg::Data(b)) => Some((Ok(b), (None, rx))),
            Some(ExportMsg::Failed(e)) => Some((Err(std::io::Error::other(e.message)), (None, rx))),
            None => None,
        }
    });
    let name = nas_sync_engine::export::file_name(what, opts.zone, chrono::Utc::now());
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}

/// The matching table with the screen's filters, every page, as CSV (`page`, `per_page` are
/// accepted and ignored).
async fn export_matching(State(s): State<Service>, RawQuery(raw): RawQuery) -> ApiResult {
    let (opts, rest) = export_params(raw.as_deref())?;
    let q: MatchingQuery = screen_query(&rest)?;
    csv_download(s, "matching", opts, move |s, o, out| {
        s.export_matching(&q, o, out)
    })
    .await
}

/// The change history with the screen's filters (search included), every row, as CSV.
async fn export_history(State(s): State<Service>, RawQuery(raw): RawQuery) -> ApiResult {
    let (opts, rest) = export_params(raw.as_deref())?;
    let f: HistoryFilter = screen_query(&rest)?;
    csv_download(s, "history", opts, move |s, o, out| {
        s.export_history(&f, o, out)
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReconcileExport {
    /// The reconcile job whose report to export (default: the latest with a report).
    job_id: Option<u64>,
}

/// A reconcile job's report (the latest by default), one row per listed finding, as CSV.
async fn export_reconcile(State(s): State<Service>, RawQuery(raw): RawQuery) -> ApiResult {
    let (opts, rest) = export_params(raw.as_deref())?;
    let p: ReconcileExport = screen_query(&rest)?;
    csv_download(s, "reconcile", opts, move |s, o, out| {
        let (_, report) = s.reconcile_report(p.job_id)?;
        Ok(nas_sync_engine::export::reconcile_csv(&report, o, out)?)
    })
    .await
}

async fn problems(State(s): State<Service>) -> ApiResult {
    ok(call(&s, |s| s.problems()).await?)
}

/// 문제 목록's 다시 시도 on one row: 202 with the sync job (or the job already running).
async fn retry_problem(
    State(s): State<Service>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    empty_body(&body)?;
    let id: i64 = id
        .parse()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| invalid(format!("problem id must be a positive number (got `{id}`)")))?;
    let r = call(&s, move |s| s.retry_problem(id)).await?;
    Ok((StatusCode::ACCEPTED, Json(r)).into_response())
}

async fn jobs(State(s): State<Service>) -> ApiResult {
    ok(s.jobs())
}

fn job_id(raw: &str) -> Result<u64, ApiError> {
    raw.parse()
        .map_err(|_| invalid(format!("job id must be a positive number (got `{raw}`)")))
}

async fn job(State(s): State<Service>, Path(id): Path<String>) -> ApiResult {
    let id = job_id(&id)?;
    ok(s.job(id)?)
}

async fn cancel_job(
    State(s): State<Service>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    empty_body(&body)?;
    let id = job_id(&id)?;
    ok(s.cancel(id)?)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartBody {
    /// Apply past the guard that refused `refused_job` (admin), while the sync deletes at most
    /// `deletions` rows, the number that was reviewed.
    #[serde(default)]
    force: bool,
    #[serde(default, deserialize_with = "whole_number")]
    refused_job: Option<u64>,
    #[serde(default, deserialize_with = "whole_number")]
    deletions: Option<u64>,
}

/// A non-negative whole number, also when written `12.0` (JSON does not tell them apart).
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = Option::<f64>::deserialize(d)?;
    match v {
        None => Ok(None),
        // Up to 2^53 - 1, where a JSON number is still exact.
        Some(x) if (0.0..=9_007_199_254_740_991.0).contains(&x) && x.fract() == 0.0 => {
            Ok(Some(x as u64))
        }
        Some(x) => Err(serde::de::Error::custom(format!(
            "expected a whole number >= 0, got {x}"
        ))),
    }
}

impl StartBody {
    fn approval(&self) -> Result<Option<ForceApproval>, ApiError> {
        match (self.force, self.refused_job, self.deletions) {
            (false, None, None) => Ok(None),
            (true, Some(refused_job), Some(deletions)) => Ok(Some(ForceApproval {
                refused_job,
                deletions,
            })),
            _ => Err(invalid(
                "force needs refused_job and deletions: the refused sync you reviewed and its \
                 deletions, e.g. {\"force\": true, \"refused_job\": 12, \"deletions\": 34}",
            )),
        }
    }
}

fn start_body(body: &Bytes) -> Result<StartBody, ApiError> {
    if body.is_empty() {
        return Ok(StartBody::default());
    }
    let bad = |e: String| {
        invalid(format!(
            "request body must be a JSON object like {{}} or {{\"force\": true, \"refused_job\": 12, \"deletions\": 34}}: {e}"
        ))
    };
    // Parsed as a value first: serde would also take an array for a struct.
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => serde_json::from_value(v).map_err(|e| bad(e.to_string())),
        Ok(_) => Err(bad("not an object".into())),
        Err(e) => Err(bad(e.to_string())),
    }
}

/// A request without parameters: no body, or `{}`.
fn empty_body(body: &Bytes) -> Result<(), ApiError> {
    if body.is_empty() {
        return Ok(());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) if m.is_empty() => Ok(()),
        _ => Err(invalid("this request takes no parameters: send {}")),
    }
}

/// Start a job for `caller` (the engine refuses what it may not do), or answer with the
/// running one: 202 `{message, job_id, started, kind}`.
async fn started(
    s: &Service,
    kind: JobKind,
    force: Option<ForceApproval>,
    caller: Caller,
) -> ApiResult {
    let r = call(s, move |s| s.start_job(kind, force, &caller)).await?;
    Ok((StatusCode::ACCEPTED, Json(r)).into_response())
}

async fn start_sync(
    State(s): State<Service>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let force = start_body(&body)?.approval()?;
    started(&s, JobKind::Sync, force, caller).await
}

async fn start_scan(
    State(s): State<Service>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    empty_body(&body)?;
    started(&s, JobKind::Scan, None, caller).await
}

/// PRD 7.1: `{result, job_id}` when the read-only comparison finishes within a minute; 202 with
/// the job to poll otherwise (or the job already running).
async fn reconcile(
    State(s): State<Service>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    empty_body(&body)?;
    let out = call(&s, move |s| s.reconcile(&caller, RECONCILE_WAIT)).await?;
    let code = if out.finished() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((code, Json(out)).into_response())
}

async fn pause(State(s): State<Service>, JsonBody(body): JsonBody) -> ApiResult {
    empty_body(&body)?;
    ok(s.pause())
}

async fn resume(State(s): State<Service>, JsonBody(body): JsonBody) -> ApiResult {
    empty_body(&body)?;
    ok(s.resume())
}

async fn get_settings(State(s): State<Service>) -> ApiResult {
    ok(s.settings())
}

/// The fields given replace the current ones; fields left out keep their values.
async fn put_settings(
    State(s): State<Service>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let patch: Value = serde_json::from_slice(&body).map_err(|e| {
        invalid(format!(
            "settings must be a JSON object of the config's fields: {e}"
        ))
    })?;
    ok(call(&s, move |s| s.save_settings(patch, &caller)).await?)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PinBody {
    pin: String,
}

/// Unlock admin mode with the PIN: always 200 with `{ok, admin_pin_set, message,
/// retry_after_secs, admin_for_secs}`; when right, the admin grant comes back as an
/// `HttpOnly; SameSite=Strict` cookie the engine checks on every admin action. Wrong guesses
/// are throttled per client by the engine.
async fn verify_pin(
    State(s): State<Service>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let b: PinBody = serde_json::from_slice(&body)
        .map_err(|e| invalid(format!("request body must be {{\"pin\": \"…\"}}: {e}")))?;
    let (check, grant) = call(&s, move |s| Ok(s.unlock_admin(&caller.client, &b.pin))).await?;
    let mut res = Json(check).into_response();
    if let Some(g) = grant
        && let Some(cookie) = access::admin_cookie(&g.id, g.expires_in.as_secs())
    {
        res.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(res)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestRootBody {
    root: String,
    /// Checked too when given (else the configured one).
    marker_file: Option<String>,
}

/// The settings screen's "test connection": can this root be listed (and its marker found)?
/// Always 200 with `{ok, code, message, entries}`; nothing is saved.
async fn test_root(
    State(s): State<Service>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let b: TestRootBody = serde_json::from_slice(&body)
        .map_err(|e| invalid(format!("request body must be {{\"root\": \"…\"}}: {e}")))?;
    ok(call(&s, move |s| s.test_root(&caller, &b.root, b.marker_file)).await?)
}

/// Onboarding's "start with the demo archive"; 409 `already_configured` once a root is
/// configured, so it can never replace a real NAS.
async fn create_demo(
    State(s): State<Service>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    empty_body(&body)?;
    ok(call(&s, move |s| s.create_demo(&caller)).await?)
}

async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        crate::openapi::DOCUMENT.as_str(),
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// WebSockets
// ---------------------------------------------------------------------------------------------

/// A log sink feeding a tokio channel without blocking the engine.
struct WsSink(tokio::sync::mpsc::Sender<LogLine>);

impl LogSink for WsSink {
    fn push(&self, line: &LogLine) -> Push {
        match self.0.try_send(line.clone()) {
            Ok(()) => Push::Delivered,
            Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => Push::Full,
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => Push::Closed,
        }
    }
}

async fn ws_logs(State(s): State<Service>, ws: WebSocketUpgrade) -> Response {
    let hub = s.monitor().logs().clone();
    ws.on_upgrade(move |socket| stream_logs(socket, hub))
}

async fn stream_logs(socket: WebSocket, hub: LogHub) {
    let (tx, rx) = tokio::sync::mpsc::channel(WS_BUFFER);
    let id = hub.subscribe(Box::new(WsSink(tx)));
    pump(socket, rx).await;
    hub.unsubscribe(id);
}

/// Send each value of `rx` as a JSON text message until either side goes away.
async fn pump<T: serde::Serialize>(mut socket: WebSocket, mut rx: tokio::sync::mpsc::Receiver<T>) {
    loop {
        tokio::select! {
            value = rx.recv() => {
                let Some(value) = value else { break };
                let text = serde_json::to_string(&value).unwrap_or_default();
                if socket.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => {
                match incoming {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    _ => {}
                }
            }
        }
    }
}

struct StatusWsSink(tokio::sync::mpsc::Sender<Status>);

impl StatusSink for StatusWsSink {
    fn push(&self, status: &Status) -> bool {
        // A client far behind on status changes only needs the latest; drop, do not block.
        !matches!(
            self.0.try_send(status.clone()),
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_))
        )
    }
}

async fn ws_status(State(s): State<Service>, ws: WebSocketUpgrade) -> Response {
    let monitor = s.monitor().clone();
    ws.on_upgrade(move |socket| async move {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        // The sink is dropped by the monitor on its next push after `rx` is gone.
        monitor.subscribe_status(Box::new(StatusWsSink(tx)));
        pump(socket, rx).await;
    })
}

/// The `HOST:PORT` a browser opens for a server bound to `addr`: the bound address, or for an
/// unspecified one (`0.0.0.0` in a container, which no browser can open) the first
/// `--allowed-host`, else a placeholder for the NAS's own address.
fn open_host(addr: SocketAddr, allowed_hosts: &[String]) -> String {
    if !addr.ip().is_unspecified() {
        return addr.to_string();
    }
    let port = addr.port();
    match allowed_hosts
        .iter()
        .map(|h| h.trim())
        .find(|h| !h.is_empty())
    {
        Some(h) if h.contains("]:") || (h.contains(':') && !h.starts_with('[')) => h.to_string(),
        Some(h) => format!("{h}:{port}"),
        None => format!("NAS_ADDRESS:{port}"),
    }
}

#[cfg(test)]
mod tests {
    use super::open_host;

    #[test]
    fn the_address_to_open_is_never_an_unspecified_one() {
        let hosts = |h: &[&str]| h.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let open = |bind: &str, h: &[&str]| open_host(bind.parse().expect("addr"), &hosts(h));
        assert_eq!(open("192.168.0.5:8787", &[]), "192.168.0.5:8787");
        assert_eq!(open("0.0.0.0:8787", &[]), "NAS_ADDRESS:8787");
        assert_eq!(open("[::]:8787", &["nas.lan"]), "nas.lan:8787");
        assert_eq!(open("0.0.0.0:8787", &[" ", "nas.lan:443"]), "nas.lan:443");
        assert_eq!(open("0.0.0.0:8787", &["[fd00::5]"]), "[fd00::5]:8787");
        assert_eq!(open("0.0.0.0:8787", &["[fd00::5]:80"]), "[fd00::5]:80");
    }
}
