//! Read-only queries: dashboard, 1:1 matching, tree, history (PRD 7.2-7.4), as
//! `GET /api/dashboard`, `/api/matching`, `/api/matching/tree` and `/api/history` answer them.

use nas_sync_engine::Error;
use nas_sync_engine::matching::MatchingPage;
use nas_sync_engine::matching::{self, MatchingQuery};
use nas_sync_engine::query::{self, Dashboard, HistoryFilter, HistoryPage};
use serde::Deserialize;
use tauri::State;

use crate::error::{CmdError, CmdResult, blocking};
use crate::state::Shell;

#[tauri::command]
pub async fn get_dashboard(shell: State<'_, Shell>) -> CmdResult<Dashboard> {
    let cfg = shell.monitor.config();
    let mut d = blocking(move || query::dashboard(&cfg).map_err(CmdError::from)).await?;
    // A job of this process counts as running even before it takes the sync lock.
    if shell.monitor.status().job.is_some() {
        d.sync_status.is_running = true;
    }
    Ok(d)
}

/// `GET /api/matching`'s parameters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchingParams {
    pub status: Option<String>,
    pub catalog: Option<String>,
    pub search: Option<String>,
    pub sort: Option<String>,
    #[serde(default)]
    pub desc: bool,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

#[tauri::command]
pub async fn get_matching(
    shell: State<'_, Shell>,
    query: Option<MatchingParams>,
) -> CmdResult<MatchingPage> {
    let p = query.unwrap_or_default();
    let mq = MatchingQuery {
        status: p.status,
        catalog: p.catalog,
        search: p.search,
        sort: p.sort,
        desc: p.desc,
        page: p.page,
        per_page: p.per_page,
    };
    shell
        .with_index(move |index| matching::matching_in(index, &mq))
        .await
}

#[tauri::command]
pub async fn get_tree(shell: State<'_, Shell>) -> CmdResult<matching::Tree> {
    let cfg = shell.monitor.config();
    blocking(move || matching::tree(&cfg).map_err(CmdError::from)).await
}

/// `GET /api/matching/tree?path=`'s parameters: one directory of the lazy tree.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreeParams {
    pub path: String,
    #[serde(default)]
    pub offset: u64,
    pub limit: Option<u32>,
}

#[tauri::command]
pub async fn get_tree_node(
    shell: State<'_, Shell>,
    query: TreeParams,
) -> CmdResult<matching::TreeNode> {
    if let Some(l) = query.limit
        && !(1..=matching::MAX_NODE_FILES).contains(&l)
    {
        return Err(Error::Invalid {
            field: "limit".into(),
            message: format!(
                "limit must be between 1 and {} (got {l})",
                matching::MAX_NODE_FILES
            ),
        }
        .into());
    }
    let TreeParams {
        path,
        offset,
        limit,
    } = query;
    match shell
        .with_index(move |index| matching::tree_node_in(index, &path, offset, limit))
        .await
    {
        // An unknown directory is a missing resource, as the server's 404 says.
        Err(e) if e.field.as_deref() == Some("path") => Err(CmdError {
            code: "not_found".into(),
            ..e
        }),
        r => r,
    }
}

/// `GET /api/history`'s parameters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    pub event: Option<String>,
    pub catalog: Option<String>,
    pub since: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u64>,
}

#[tauri::command]
pub async fn get_history(
    shell: State<'_, Shell>,
    query: Option<HistoryParams>,
) -> CmdResult<HistoryPage> {
    let p = query.unwrap_or_default();
    let cfg = shell.monitor.config();
    let filter = HistoryFilter {
        event: p.event,
        catalog: p.catalog,
        since: p.since,
        limit: p.limit,
        offset: p.offset,
    };
    blocking(move || query::history(&cfg, &filter).map_err(CmdError::from)).await
}
