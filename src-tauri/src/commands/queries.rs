//! Read-only queries: dashboard, 1:1 matching (and its filters' values), tree, history (PRD
//! 7.2-7.4), problems and health, as `GET /api/dashboard`, `/api/matching`,
//! `/api/matching/facets`, `/api/matching/tree`, `/api/history`, `/api/problems` and `/health`
//! answer them (the same
//! [`Service`](nas_sync_engine::runtime::Service) calls).

use nas_sync_engine::archive::ProblemList;
use nas_sync_engine::matching::{MatchingPage, MatchingQuery, Tree, TreeNode};
use nas_sync_engine::query::filters::MatchingFacets;
use nas_sync_engine::query::{Dashboard, HistoryFilter, HistoryPage};
use nas_sync_engine::runtime::service::{Health, TreeQuery};
use tauri::State;

use crate::error::CmdResult;
use crate::state::Shell;

#[tauri::command]
pub async fn get_dashboard(shell: State<'_, Shell>) -> CmdResult<Dashboard> {
    shell.call(|s| s.dashboard()).await
}

#[tauri::command]
pub async fn get_matching(
    shell: State<'_, Shell>,
    query: Option<MatchingQuery>,
) -> CmdResult<MatchingPage> {
    let q = query.unwrap_or_default();
    shell.call(move |s| s.matching(&q)).await
}

/// The values the matching table's filters offer, with their counts.
#[tauri::command]
pub async fn get_matching_facets(shell: State<'_, Shell>) -> CmdResult<MatchingFacets> {
    shell.call(|s| s.matching_facets()).await
}

#[tauri::command]
pub async fn get_tree(shell: State<'_, Shell>) -> CmdResult<Tree> {
    shell.call(|s| s.tree()).await
}

#[tauri::command]
pub async fn get_tree_node(shell: State<'_, Shell>, query: TreeQuery) -> CmdResult<TreeNode> {
    shell.call(move |s| s.tree_node(&query)).await
}

#[tauri::command]
pub async fn get_history(
    shell: State<'_, Shell>,
    query: Option<HistoryFilter>,
) -> CmdResult<HistoryPage> {
    let f = query.unwrap_or_default();
    shell.call(move |s| s.history(&f)).await
}

/// The problems that last, newest first.
#[tauri::command]
pub async fn get_problems(shell: State<'_, Shell>) -> CmdResult<ProblemList> {
    shell.call(|s| s.problems()).await
}

/// The window is the local user: the health with its details (last sync, last error).
#[tauri::command]
pub async fn get_health(shell: State<'_, Shell>) -> CmdResult<Health> {
    shell.call(|s| Ok(s.health(true))).await
}
