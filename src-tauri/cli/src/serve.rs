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
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use nas_sync_engine::index::{Index, SharedIndex};
use nas_sync_engine::matching::{self, MatchingQuery};
use nas_sync_engine::runtime::actions::{self, PatchError};
use nas_sync_engine::runtime::logs::{LogLine, LogSink, Push};
use nas_sync_engine::runtime::monitor::StatusSink;
use nas_sync_engine::runtime::settings::SettingsStore;
use nas_sync_engine::runtime::{
    Caller, ForceApproval, JobKind, LogHub, Monitor, Status, StatusKind,
};

use crate::access::{self, Access, AccessConfig, JsonBody};
use crate::static_files::{UiDir, serve_ui};
use nas_sync_engine::{Config, Error, query};

pub const DEFAULT_BIND: &str = "127.0.0.1:8787";
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

#[derive(Clone)]
struct AppState {
    monitor: Monitor,
    /// One long-lived match index (its connection is not shared between threads at once).
    index: SharedIndex,
    settings: Option<SettingsStore>,
    settings_warning: Arc<Mutex<Option<String>>>,
}

/// An error as JSON `{code, message, field?}` with a status that says what kind it is.
struct ApiError {
    status: StatusCode,
    body: Value,
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match e.code() {
            "invalid_argument" => StatusCode::BAD_REQUEST,
            "config_invalid" => StatusCode::CONFLICT,
            "too_large" => StatusCode::PAYLOAD_TOO_LARGE,
            "target_busy" | "sync_running" | "root_unreachable" => StatusCode::SERVICE_UNAVAILABLE,
            "admin_required" | "admin_pin_not_set" => StatusCode::FORBIDDEN,
            "not_found" => StatusCode::NOT_FOUND,
            "stale_review" => StatusCode::CONFLICT,
            "guard_offline" | "guard_mass_delete" => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut body = json!({"code": e.code(), "message": e.to_string()});
        if let Error::Invalid { field, .. } | Error::Config { field, .. } = &e {
            body["field"] = json!(field);
        }
        ApiError { status, body }
    }
}

impl ApiError {
    fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: json!({"code": code, "message": message.into()}),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

fn ok<T: serde::Serialize>(v: T) -> ApiResult {
    Ok(Json(v).into_response())
}

/// Run blocking engine work off the async executor.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(ApiError::from),
        Err(e) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("worker failed: {e}"),
        )),
    }
}

fn query_error(e: QueryRejection) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_argument", e.body_text())
}

/// Run `f` on the long-lived match index, opening or refreshing it first.
async fn with_index<T: Send + 'static>(
    st: &AppState,
    f: impl FnOnce(&Index) -> Result<T, Error> + Send + 'static,
) -> Result<T, ApiError> {
    let (index, cfg) = (st.index.clone(), st.monitor.config());
    blocking(move || index.with(&cfg, f)).await
}

pub fn serve(cfg: Config, mut args: ServeArgs, hub: LogHub) -> Result<(), Error> {
    let loopback = args.bind.ip().is_loopback();
    let bad = |field: &str, message: String| Error::Invalid {
        field: field.into(),
        message,
    };
    if !loopback && (args.operator_token.is_none() || args.admin_token.is_none()) {
        return Err(bad(
            "bind",
            format!(
                "binding to {} (not loopback) needs both tokens: set NAS_SYNC_OPERATOR_TOKEN and \
                 NAS_SYNC_ADMIN_TOKEN (e.g. `openssl rand -hex 32` each), or bind to 127.0.0.1",
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
    runtime.block_on(run_server(cfg, args, hub))
}

async fn run_server(cfg: Config, args: ServeArgs, hub: LogHub) -> Result<(), Error> {
    let settings = args.settings_path.clone().map(SettingsStore::new);
    let monitor = Monitor::new(
        cfg,
        Arc::new(nas_sync_engine::clock::SystemClock),
        hub,
        nas_sync_engine::runtime::MonitorOptions {
            schedule: args.schedule,
            ..Default::default()
        },
    );
    // The monitor keeps the watcher (restarted when the settings it depends on change); a
    // root that cannot be watched is logged there and left to the schedule.
    if args.watch {
        let _ = monitor.start_watching();
    }
    // The first screen after a start should not wait for an index rebuild.
    let index = SharedIndex::default();
    index.warm_in_background(monitor.config());
    let state = AppState {
        monitor: monitor.clone(),
        index,
        settings,
        settings_warning: Arc::new(Mutex::new(None)),
    };
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
    let app = router(state, access, args.ui_dir.as_deref());
    // The first stdout line says where we listen (tests and scripts read it; port 0 works); the
    // second is the address to open (with the launch token on loopback).
    println!("listening on http://{addr}");
    match &args.local_token {
        Some(t) => println!(
            "open http://{addr}/?token={}",
            form_urlencoded::byte_serialize(t.as_bytes()).collect::<String>()
        ),
        None => println!("open http://{addr}/?token=YOUR_TOKEN (the operator or admin token)"),
    }
    {
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }
    tracing::info!("서버 시작 / serving on http://{addr}");
    let m = monitor.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("서버 종료 중 / shutting down: cancelling the running job");
            let _ = tokio::task::spawn_blocking(move || m.shutdown(Duration::from_secs(60))).await;
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

fn router(state: AppState, access: Arc<Access>, ui_dir: Option<&std::path::Path>) -> Router {
    let api = Router::new()
        .route("/health", get(health))
        .route("/api/openapi.json", get(openapi))
        .route("/api/dashboard", get(dashboard))
        .route("/api/matching", get(matching_page))
        .route("/api/matching/tree", get(tree))
        .route("/api/history", get(history))
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
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

/// `{status, label, code}` for anyone (a health check); with credentials also the last sync and
/// the last error's message (which may name the share's path).
async fn health(State(st): State<AppState>, caller: Option<Extension<Caller>>) -> Response {
    let m = st.monitor.clone();
    let (status, target_fs) = tokio::task::spawn_blocking(move || {
        m.check_root();
        let target = m.config().target_db;
        (
            m.status(),
            target.and_then(|t| nas_sync_engine::fsinfo::network_fs(&t)),
        )
    })
    .await
    .unwrap_or_else(|_| (st.monitor.status(), None));
    let code = if status.status == StatusKind::Error {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let mut body = json!({
        "status": status.status,
        "label": status.label,
        "code": status.last_error.as_ref().map(|e| e.code.clone()),
        // The catalog on a network file system: supported in its own journal mode, never WAL.
        "target_network_fs": target_fs,
    });
    if caller.is_some() {
        body["last_sync"] = json!(status.last_sync);
        body["last_error"] = json!(status.last_error);
    }
    (code, Json(body)).into_response()
}

async fn status(State(st): State<AppState>) -> ApiResult {
    ok(st.monitor.status())
}

async fn dashboard(State(st): State<AppState>) -> ApiResult {
    let cfg = st.monitor.config();
    let mut d = blocking(move || query::dashboard(&cfg)).await?;
    // A job of this process counts as running even before it takes the sync lock.
    if st.monitor.status().job.is_some() {
        d.sync_status.is_running = true;
    }
    ok(d)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchingParams {
    status: Option<String>,
    catalog: Option<String>,
    search: Option<String>,
    sort: Option<String>,
    #[serde(default)]
    desc: bool,
    page: Option<u32>,
    per_page: Option<u32>,
}

async fn matching_page(
    State(st): State<AppState>,
    q: Result<Query<MatchingParams>, QueryRejection>,
) -> ApiResult {
    let Query(p) = q.map_err(query_error)?;
    let mq = MatchingQuery {
        status: p.status,
        catalog: p.catalog,
        search: p.search,
        sort: p.sort,
        desc: p.desc,
        page: p.page,
        per_page: p.per_page,
    };
    ok(with_index(&st, move |index| matching::matching_in(index, &mq)).await?)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TreeParams {
    path: Option<String>,
    #[serde(default)]
    offset: u64,
    limit: Option<u32>,
}

async fn tree(
    State(st): State<AppState>,
    q: Result<Query<TreeParams>, QueryRejection>,
) -> ApiResult {
    let Query(p) = q.map_err(query_error)?;
    if let Some(l) = p.limit
        && !(1..=matching::MAX_NODE_FILES).contains(&l)
    {
        return Err(ApiError::from(Error::Invalid {
            field: "limit".into(),
            message: format!(
                "limit must be between 1 and {} (got {l})",
                matching::MAX_NODE_FILES
            ),
        }));
    }
    match p.path {
        Some(path) => {
            let node = with_index(&st, move |index| {
                matching::tree_node_in(index, &path, p.offset, p.limit)
            })
            .await;
            match node {
                Ok(n) => ok(n),
                // An unknown directory is a missing resource, not a malformed request.
                Err(mut e) if e.body["field"] == "path" => {
                    e.status = StatusCode::NOT_FOUND;
                    e.body["code"] = json!("not_found");
                    Err(e)
                }
                Err(e) => Err(e),
            }
        }
        None => {
            let cfg = st.monitor.config();
            ok(blocking(move || matching::tree(&cfg)).await?)
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryParams {
    event: Option<String>,
    catalog: Option<String>,
    since: Option<String>,
    limit: Option<u32>,
    offset: Option<u64>,
}

async fn history(
    State(st): State<AppState>,
    q: Result<Query<HistoryParams>, QueryRejection>,
) -> ApiResult {
    let Query(p) = q.map_err(query_error)?;
    let cfg = st.monitor.config();
    let filter = query::HistoryFilter {
        event: p.event,
        catalog: p.catalog,
        since: p.since,
        limit: p.limit,
        offset: p.offset,
    };
    ok(blocking(move || query::history(&cfg, &filter)).await?)
}

async fn jobs(State(st): State<AppState>) -> ApiResult {
    ok(st.monitor.jobs())
}

fn job_id(raw: &str) -> Result<u64, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_argument",
            format!("job id must be a positive number (got `{raw}`)"),
        )
    })
}

async fn job(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let id = job_id(&id)?;
    match st.monitor.job(id) {
        Some(j) => ok(j),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no job {id}"),
        )),
    }
}

async fn cancel_job(
    State(st): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    empty_body(&body)?;
    let id = job_id(&id)?;
    if st.monitor.cancel(id) {
        ok(json!({"message": "취소 요청됨 / cancel requested", "job_id": id}))
    } else if st.monitor.job(id).is_some() {
        Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_running",
            format!("job {id} has already finished"),
        ))
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no job {id}"),
        ))
    }
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
            _ => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_argument",
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
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_argument",
            format!(
                "request body must be a JSON object like {{}} or {{\"force\": true, \"refused_job\": 12, \"deletions\": 34}}: {e}"
            ),
        )
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
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_argument",
            "this request takes no parameters: send {}",
        )),
    }
}

fn start_message(s: &nas_sync_engine::runtime::Started, kind: JobKind) -> String {
    if s.started {
        format!("{} 시작 / started", kind.label_ko())
    } else {
        format!(
            "이미 {} 작업이 진행 중입니다 / a job is already running",
            s.kind.label_ko()
        )
    }
}

/// Start a job for `caller` (the engine refuses what it may not do), or answer with the
/// running one: 202 `{message, job_id, started, kind}`.
async fn started(
    st: &AppState,
    kind: JobKind,
    force: Option<ForceApproval>,
    caller: Caller,
) -> ApiResult {
    // Starting may wait a moment for a job that only runs its background passes to yield.
    let m = st.monitor.clone();
    let s = blocking(move || m.request(kind, force, &caller)).await?;
    let message = start_message(&s, kind);
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"message": message, "job_id": s.job_id, "started": s.started, "kind": s.kind})),
    )
        .into_response())
}

async fn start_sync(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let force = start_body(&body)?.approval()?;
    started(&st, JobKind::Sync, force, caller).await
}

async fn start_scan(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    empty_body(&body)?;
    started(&st, JobKind::Scan, None, caller).await
}

/// PRD 7.1: `{result}`. Runs the read-only comparison as a job and waits for it (up to a
/// minute; after that, or when another job runs, answers 202 with the job id to poll).
async fn reconcile(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    empty_body(&body)?;
    let (m, c) = (st.monitor.clone(), caller.clone());
    let s = blocking(move || m.request(JobKind::Reconcile, None, &c)).await?;
    if !s.started {
        return started(&st, JobKind::Reconcile, None, caller).await;
    }
    let m = st.monitor.clone();
    let done = tokio::task::spawn_blocking(move || m.wait(s.job_id, Duration::from_secs(60)))
        .await
        .unwrap_or(false);
    let job = st.monitor.job(s.job_id);
    match job {
        Some(j) if done => match (&j.result, &j.error) {
            (Some(nas_sync_engine::runtime::monitor::JobResult::Reconcile(r)), _) => {
                ok(json!({"result": r, "job_id": s.job_id}))
            }
            (_, Some(e)) => Err(ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                body: json!({"code": e.code, "message": e.message, "job_id": s.job_id}),
            }),
            _ => ok(json!({"result": null, "job_id": s.job_id, "state": j.state})),
        },
        _ => Ok((
            StatusCode::ACCEPTED,
            Json(json!({"message": "정합성 검증 진행 중 / still running", "job_id": s.job_id})),
        )
            .into_response()),
    }
}

async fn pause(State(st): State<AppState>, JsonBody(body): JsonBody) -> ApiResult {
    empty_body(&body)?;
    st.monitor.pause();
    ok(st.monitor.status())
}

async fn resume(State(st): State<AppState>, JsonBody(body): JsonBody) -> ApiResult {
    empty_body(&body)?;
    st.monitor.resume();
    ok(st.monitor.status())
}

async fn get_settings(State(st): State<AppState>) -> ApiResult {
    let warning = st
        .settings_warning
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    ok(actions::SettingsView::new(
        &st.monitor,
        st.settings.as_ref(),
        warning,
    ))
}

/// The fields given replace the current ones; fields left out keep their values.
async fn put_settings(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let bad = |e: String| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_argument",
            format!("settings must be a JSON object of the config's fields: {e}"),
        )
    };
    let patch: Value = serde_json::from_slice(&body).map_err(|e| bad(e.to_string()))?;
    let (monitor, store) = (st.monitor.clone(), st.settings.clone());
    let applied = tokio::task::spawn_blocking(move || {
        actions::apply_settings_patch(&monitor, store.as_ref(), patch, &caller)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    match applied {
        Ok(config) => {
            st.index.reset();
            ok(actions::SettingsSaved::new(config, st.settings.as_ref()))
        }
        Err(PatchError::Malformed(e)) => Err(bad(e)),
        Err(PatchError::Invalid(errors)) => Err(ApiError {
            status: StatusCode::BAD_REQUEST,
            body: json!({
                "code": "invalid_settings",
                "message": "설정에 문제가 있습니다 / some settings are invalid",
                "errors": errors,
            }),
        }),
        Err(PatchError::Forbidden(e) | PatchError::Io(e)) => Err(e.into()),
    }
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
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let b: PinBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_argument",
            format!("request body must be {{\"pin\": \"…\"}}: {e}"),
        )
    })?;
    let m = st.monitor.clone();
    let (check, grant) = blocking(move || Ok(m.unlock_admin(&caller.client, &b.pin))).await?;
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
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let b: TestRootBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_argument",
            format!("request body must be {{\"root\": \"…\"}}: {e}"),
        )
    })?;
    actions::require_setup_access(&st.monitor, &caller, "연결 테스트 / test root")?;
    let cfg = st.monitor.config();
    let answer =
        tokio::task::spawn_blocking(move || actions::test_root(&cfg, &b.root, b.marker_file))
            .await
            .map_err(|e| {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            })?;
    ok(answer)
}

/// Onboarding's "start with the demo archive" (see `actions::use_demo`); 409 once a root is
/// configured, so it can never replace a real NAS.
async fn create_demo(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    empty_body(&body)?;
    actions::require_setup_access(&st.monitor, &caller, "데모 / demo archive")?;
    let (monitor, store) = (st.monitor.clone(), st.settings.clone());
    let started = blocking(move || actions::use_demo(&monitor, store.as_ref())).await?;
    st.index.reset();
    match started {
        Some(d) => ok(d),
        None => Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_configured",
            "NAS 루트가 이미 설정되어 있습니다 / a root is already configured",
        )),
    }
}

async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        crate::openapi::DOCUMENT,
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

async fn ws_logs(State(st): State<AppState>, ws: WebSocketUpgrade) -> Response {
    let hub = st.monitor.logs().clone();
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

async fn ws_status(State(st): State<AppState>, ws: WebSocketUpgrade) -> Response {
    let monitor = st.monitor.clone();
    ws.on_upgrade(move |socket| async move {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        // The sink is dropped by the monitor on its next push after `rx` is gone.
        monitor.subscribe_status(Box::new(StatusWsSink(tx)));
        pump(socket, rx).await;
    })
}
