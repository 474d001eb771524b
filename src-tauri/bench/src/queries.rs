//! Step 7: latency of the screens' queries, each measured two ways — through the per-call
//! functions that take `&Config` (each opens the match index and checks that it is fresh, as a
//! CLI call or a server request does) and on one long-lived [`Index`] (`refresh_if_stale` +
//! `*_in` per query, as a long-running server or the tray app can do).

use std::collections::BTreeMap;

use nas_sync_engine::Config;
use nas_sync_engine::index::{Index, Status};
use nas_sync_engine::matching::{self, MatchingPage, MatchingQuery};
use nas_sync_engine::query::filters;
use nas_sync_engine::query::{self, HistoryFilter};
use serde_json::json;

use crate::Log;
use crate::error::{BenchError, Result, StepContext};
use crate::measure::{Latency, fmt_count, sample_ms};
use crate::report::Row;
use crate::tree::{COMMON_TERM, Generated};

/// Page asked for by the deep-page measurements (20 items per page: item 400,000).
const DEEP_PAGE: u64 = 20_000;
const DASHBOARD_P95_MS: f64 = 20.0;
const MATCHING_P95_MS: f64 = 50.0;
const SEARCH_P95_MS: f64 = 150.0;
const TREE_P95_MS: f64 = 10.0;
/// A value filter (reason, extension, codec, name collision) or the list of their values: the
/// slowest the screen may feel at a million items.
const FILTER_P95_MS: f64 = 300.0;

pub struct QueryResults {
    pub rows: Vec<Row>,
    pub counts: serde_json::Value,
    pub notes: Vec<String>,
}

/// The long-lived index and how often it had to rebuild while queries ran (should be 0: nothing
/// changes the inputs during step 7).
struct LongLived<'a> {
    cfg: &'a Config,
    index: Index,
    rebuilds: u64,
}

impl LongLived<'_> {
    fn refresh(&mut self) -> Result<()> {
        self.index
            .refresh_if_stale(self.cfg)
            .step("refresh the long-lived index")?;
        if self.index.rebuilt {
            self.rebuilds += 1;
        }
        Ok(())
    }
}

/// Latency of each query in `variants` over `q` rounds, interleaved (round 1 of every variant,
/// then round 2, …) so no variant runs on a cache warmed by its own previous call only. Returns
/// per variant: per-call latency, long-lived latency and the first round's page.
fn measure_matching(
    ll: &mut LongLived<'_>,
    q: u32,
    variants: &[&dyn Fn(u32) -> MatchingQuery],
) -> Result<Vec<(Latency, Latency, MatchingPage)>> {
    let mut per_call: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    let mut long_lived: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    let mut first: Vec<Option<MatchingPage>> = vec![None; variants.len()];
    for i in 0..q {
        for (v, make) in variants.iter().enumerate() {
            let query = make(i);
            let keep = &mut first[v];
            per_call[v].push(sample_ms(|| {
                let page = matching::matching(ll.cfg, &query).step("matching")?;
                if keep.is_none() {
                    *keep = Some(page);
                }
                Ok(())
            })?);
            long_lived[v].push(sample_ms(|| {
                ll.refresh()?;
                matching::matching_in(&ll.index, &query).step("matching_in")?;
                Ok(())
            })?);
        }
    }
    per_call
        .into_iter()
        .zip(long_lived)
        .zip(first)
        .map(|((p, l), f)| {
            let page = f.ok_or_else(|| BenchError::Check("no query ran (--queries 0?)".into()))?;
            Ok((Latency::from_samples(p), Latency::from_samples(l), page))
        })
        .collect()
}

/// Latency of `tree_node` for `path(i)`, both ways.
fn measure_tree(
    ll: &mut LongLived<'_>,
    q: u32,
    path: &dyn Fn(u32) -> String,
) -> Result<(Latency, Latency)> {
    let mut per_call = Vec::new();
    let mut long_lived = Vec::new();
    for i in 0..q {
        let p = path(i);
        per_call.push(sample_ms(|| {
            matching::tree_node(ll.cfg, &p, 0, None).step("tree_node")?;
            Ok(())
        })?);
        long_lived.push(sample_ms(|| {
            ll.refresh()?;
            matching::tree_node_in(&ll.index, &p, 0, None).step("tree_node_in")?;
            Ok(())
        })?);
    }
    Ok((
        Latency::from_samples(per_call),
        Latency::from_samples(long_lived),
    ))
}

/// Catalog paths and one leaf directory per catalog, found by walking down with `tree_node_in`.
fn tree_paths(index: &Index) -> Result<(Vec<String>, Vec<String>)> {
    let root = matching::tree_node_in(index, "", 0, Some(1)).step("tree root")?;
    let catalogs: Vec<String> = root.directories.iter().map(|d| d.path.clone()).collect();
    let mut leaves = Vec::new();
    for (k, cat) in catalogs.iter().enumerate() {
        let mut path = cat.clone();
        for depth in 0.. {
            let node = matching::tree_node_in(index, &path, 0, Some(1)).step("tree descent")?;
            if node.directories.is_empty() {
                break;
            }
            let i = (k * 7 + depth * 3) % node.directories.len();
            path = node.directories[i].path.clone();
        }
        leaves.push(path);
    }
    Ok((catalogs, leaves))
}

fn page_counts(page: &MatchingPage) -> serde_json::Value {
    json!({"total": page.total, "first_page_items": page.items.len()})
}

/// The matching table's value filters (first pages, a combination on a deeper page) and the
/// list of their values (`facets`), both ways.
fn measure_filters(ll: &mut LongLived<'_>, q: u32) -> Result<(Vec<Row>, serde_json::Value)> {
    let base = MatchingQuery::default;
    let reason = |i: u32| MatchingQuery {
        reason: Some(if i.is_multiple_of(2) { "mxf" } else { "mkv" }.into()),
        ..base()
    };
    let ext_common = |_| MatchingQuery {
        ext: Some("mp4".into()),
        ..base()
    };
    let ext_rare = |_| MatchingQuery {
        ext: Some("ts".into()),
        ..base()
    };
    let codec = |_| MatchingQuery {
        codec: Some("hevc".into()),
        ..base()
    };
    let collision = |_| MatchingQuery {
        collision: true,
        ..base()
    };
    let combined = |i: u32| MatchingQuery {
        ext: Some("mp4".into()),
        codec: Some("h264".into()),
        catalog: Some("WSOP".into()),
        sort: Some("size".into()),
        desc: true,
        page: Some(50 + i % 10),
        ..base()
    };
    let searched = |_| MatchingQuery {
        search: Some(COMMON_TERM.into()),
        codec: Some("hevc".into()),
        ..base()
    };
    let measured = measure_matching(
        ll,
        q,
        &[
            &reason,
            &ext_common,
            &ext_rare,
            &codec,
            &collision,
            &combined,
            &searched,
        ],
    )?;
    let mut rows = Vec::new();
    let mut counts = serde_json::Map::new();
    for ((key, name), (per, long, page)) in [
        (
            "filter_reason",
            "matching: first page, reason mxf / mkv in turn",
        ),
        ("filter_ext_common", "matching: first page, extension mp4"),
        ("filter_ext_rare", "matching: first page, extension ts"),
        ("filter_codec", "matching: first page, codec hevc"),
        (
            "filter_collision",
            "matching: first page, 같은 이름, 다른 크기 (name collisions)",
        ),
        (
            "filter_combined",
            "matching: mp4 + h264 + catalog WSOP, by size desc, pages 50–59",
        ),
        (
            "filter_search_codec",
            "matching: search `하이라이트` + codec hevc, first page",
        ),
    ]
    .into_iter()
    .zip(measured)
    {
        counts.insert(key.to_string(), page_counts(&page));
        rows.push(Row::query(
            key,
            &format!("{name} ({} items)", fmt_count(page.total)),
            per,
            Some(long),
            Some(FILTER_P95_MS),
        ));
    }
    let mut per_call = Vec::new();
    let mut long_lived = Vec::new();
    let mut first = None;
    for _ in 0..q {
        per_call.push(sample_ms(|| {
            let f = filters::facets(ll.cfg).step("facets")?;
            first.get_or_insert(f);
            Ok(())
        })?);
        long_lived.push(sample_ms(|| {
            ll.refresh()?;
            filters::facets_in(&ll.index).step("facets_in")?;
            Ok(())
        })?);
    }
    let facets = first.ok_or_else(|| BenchError::Check("no query ran (--queries 0?)".into()))?;
    rows.push(Row::query(
        "filter_facets",
        &format!(
            "filter values (`facets`: {} extensions, {} codecs, {} name collisions)",
            facets.extensions.len(),
            facets.codecs.len(),
            fmt_count(facets.name_collisions)
        ),
        Latency::from_samples(per_call),
        Some(Latency::from_samples(long_lived)),
        Some(FILTER_P95_MS),
    ));
    counts.insert(
        "facets".into(),
        serde_json::to_value(&facets).unwrap_or_default(),
    );
    Ok((rows, serde_json::Value::Object(counts)))
}

pub fn run(
    cfg: &Config,
    index: Index,
    q: u32,
    generated: &Generated,
    log: &Log,
) -> Result<QueryResults> {
    let mut ll = LongLived {
        cfg,
        index,
        rebuilds: 0,
    };
    let mut rows = Vec::new();
    let mut notes = Vec::new();

    let overview = matching::matching_in(&ll.index, &MatchingQuery::default()).step("matching")?;
    let items_total = overview.total;
    let (deep_page, deep_label) = if overview.pages >= DEEP_PAGE {
        (DEEP_PAGE, format!("page {} × 20", fmt_count(DEEP_PAGE)))
    } else {
        notes.push(format!(
            "Only {} pages at this N: the deep-page measurements use the last page instead of page {}.",
            fmt_count(overview.pages),
            fmt_count(DEEP_PAGE)
        ));
        (
            overview.pages.max(1),
            format!("last page {} × 20", fmt_count(overview.pages)),
        )
    };
    // Pages near the deep page, so consecutive calls do not ask for the same rows.
    let deep = move |i: u32| -> Option<u32> {
        u32::try_from(deep_page.saturating_sub(u64::from(i % 10)).max(1)).ok()
    };

    log.say("query: dashboard");
    let mut per_call = Vec::new();
    for _ in 0..q {
        per_call.push(sample_ms(|| {
            query::dashboard(cfg).step("dashboard")?;
            Ok(())
        })?);
    }
    rows.push(Row::query(
        "dashboard",
        "dashboard (`query::dashboard`)",
        Latency::from_samples(per_call),
        None,
        Some(DASHBOARD_P95_MS),
    ));

    log.say("query: matching, first page of each status");
    let makers: Vec<Box<dyn Fn(u32) -> MatchingQuery>> = Status::ALL
        .iter()
        .map(|s| {
            let status = s.as_str().to_string();
            Box::new(move |_| MatchingQuery {
                status: Some(status.clone()),
                ..MatchingQuery::default()
            }) as Box<dyn Fn(u32) -> MatchingQuery>
        })
        .collect();
    let refs: Vec<&dyn Fn(u32) -> MatchingQuery> = makers.iter().map(|m| m.as_ref()).collect();
    let mut statuses = BTreeMap::new();
    for (s, (per, long, page)) in Status::ALL.iter().zip(measure_matching(&mut ll, q, &refs)?) {
        statuses.insert(s.as_str(), page_counts(&page));
        if page.total == 0 {
            notes.push(format!(
                "Status `{}` is empty at this N: its first page returns no items.",
                s.as_str()
            ));
        }
        rows.push(Row::query(
            &format!("matching_status_{}", s.as_str()),
            &format!(
                "matching: first page, status {} ({} items)",
                s.as_str(),
                fmt_count(page.total)
            ),
            per,
            Some(long),
            Some(MATCHING_P95_MS),
        ));
    }

    log.say("query: matching, deep page and size sort");
    let deep_any = move |i: u32| MatchingQuery {
        page: deep(i),
        ..MatchingQuery::default()
    };
    // First page by size: largest first and smallest first in turn.
    let size_first = |i: u32| MatchingQuery {
        sort: Some("size".into()),
        desc: i.is_multiple_of(2),
        ..MatchingQuery::default()
    };
    let size_deep = move |i: u32| MatchingQuery {
        sort: Some("size".into()),
        desc: true,
        page: deep(i),
        ..MatchingQuery::default()
    };
    let measured = measure_matching(&mut ll, q, &[&deep_any, &size_first, &size_deep])?;
    let mut pages = serde_json::Map::new();
    for ((key, name), (per, long, page)) in [
        (
            "matching_deep_page",
            format!("matching: deep page ({deep_label}), no filter"),
        ),
        (
            "sort_size_first_page",
            "matching: sort by size, first page".to_string(),
        ),
        (
            "sort_size_deep_page",
            format!("matching: sort by size, deep page ({deep_label})"),
        ),
    ]
    .into_iter()
    .zip(measured)
    {
        pages.insert(key.to_string(), page_counts(&page));
        rows.push(Row::query(
            key,
            &name,
            per,
            Some(long),
            Some(MATCHING_P95_MS),
        ));
    }

    log.say("query: search");
    let rare_terms: Vec<String> = generated
        .rare_terms
        .iter()
        .map(|t| t.term.clone())
        .collect();
    if rare_terms.is_empty() {
        return Err(BenchError::Check(
            "the generated tree has no rare search term (too few files?)".into(),
        ));
    }
    let mut rare_counts = Vec::new();
    for t in &generated.rare_terms {
        let page = matching::matching_in(
            &ll.index,
            &MatchingQuery {
                search: Some(t.term.clone()),
                ..MatchingQuery::default()
            },
        )
        .step("search")?;
        rare_counts.push(json!({
            "term": t.term,
            "generated_files": t.files,
            "total": page.total,
            "first_page_items": page.items.len(),
        }));
    }
    let rare = |i: u32| MatchingQuery {
        search: Some(rare_terms[i as usize % rare_terms.len()].clone()),
        ..MatchingQuery::default()
    };
    let common = |_| MatchingQuery {
        search: Some(COMMON_TERM.to_string()),
        ..MatchingQuery::default()
    };
    let mut measured = measure_matching(&mut ll, q, &[&rare, &common])?.into_iter();
    let (Some((rare_per, rare_long, rare_page)), Some((common_per, common_long, common_page))) =
        (measured.next(), measured.next())
    else {
        return Err(BenchError::Check("search measurements missing".into()));
    };
    let share = if items_total == 0 {
        0.0
    } else {
        common_page.total as f64 * 100.0 / items_total as f64
    };
    rows.push(Row::query(
        "search_rare",
        &format!(
            "search, first page: rare term ({} terms in turn, e.g. `{}`: {} matches)",
            rare_terms.len(),
            rare_terms[0],
            fmt_count(rare_page.total)
        ),
        rare_per,
        Some(rare_long),
        Some(SEARCH_P95_MS),
    ));
    rows.push(Row::query(
        "search_common",
        &format!(
            "search, first page: common term `{COMMON_TERM}` ({} matches = {share:.1} %)",
            fmt_count(common_page.total)
        ),
        common_per,
        Some(common_long),
        Some(SEARCH_P95_MS),
    ));

    log.say("query: matching, value filters");
    let (filter_rows, filter_counts) = measure_filters(&mut ll, q)?;
    rows.extend(filter_rows);

    log.say("query: tree nodes");
    let (catalogs, leaves) = tree_paths(&ll.index)?;
    if catalogs.is_empty() || leaves.is_empty() {
        return Err(BenchError::Check("the tree has no catalogs".into()));
    }
    let root = |_| String::new();
    let catalog = |i: u32| catalogs[i as usize % catalogs.len()].clone();
    let leaf = |i: u32| leaves[i as usize % leaves.len()].clone();
    for (key, name, path) in [
        (
            "tree_root",
            "tree node: root \"\" (the catalogs)".to_string(),
            &root as &dyn Fn(u32) -> String,
        ),
        (
            "tree_catalog",
            format!("tree node: a catalog ({} in turn)", catalogs.len()),
            &catalog,
        ),
        (
            "tree_leaf",
            format!("tree node: a leaf directory ({} in turn)", leaves.len()),
            &leaf,
        ),
    ] {
        let (per, long) = measure_tree(&mut ll, q, path)?;
        rows.push(Row::query(key, &name, per, Some(long), Some(TREE_P95_MS)));
    }

    log.say("query: history");
    let mut per_call = Vec::new();
    let mut history_items = 0;
    for _ in 0..q {
        per_call.push(sample_ms(|| {
            history_items = query::history(cfg, &HistoryFilter::default())
                .step("history")?
                .items
                .len();
            Ok(())
        })?);
    }
    rows.push(Row::query(
        "history",
        "history page (`query::history`, default filter: newest 100)",
        Latency::from_samples(per_call),
        None,
        None,
    ));

    if ll.rebuilds > 0 {
        notes.push(format!(
            "The long-lived index rebuilt {} times during the queries (nothing changed its inputs).",
            ll.rebuilds
        ));
    }
    let counts = json!({
        "items_total": items_total,
        "pages": overview.pages,
        "deep_page": deep_page,
        "statuses": statuses,
        "pages_measured": pages,
        "search_rare": {
            "terms": rare_counts,
            "first_page_items": rare_page.items.len(),
        },
        "search_common": {
            "term": COMMON_TERM,
            "generated_files": generated.common_term_files,
            "total": common_page.total,
            "first_page_items": common_page.items.len(),
            "share_of_items_percent": share,
        },
        "tree": {"catalogs": catalogs, "leaves": leaves},
        "history_items": history_items,
        "filters": filter_counts,
        "index_rebuilds_during_queries": ll.rebuilds,
    });
    Ok(QueryResults {
        rows,
        counts,
        notes,
    })
}
