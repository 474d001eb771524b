//! The matching table's value filters — exclusion reason (제외 사유), extension (확장자), codec
//! (코덱) and the name-collision flag (같은 이름, 다른 크기) — and the values an operator can pick
//! from ([`MatchingFacets`]). Everything is computed at query time from the match index as it
//! is: the extension from the packed name column the search already keeps in memory, the rest
//! with a few SQL reads over the index's own indexes.
//!
//! A *name collision* is a duplicate-name group whose members differ in size: not copies of one
//! file, but different files that happen to share a name (`Part1.mp4` of two events). Only one
//! of them reaches the Target, so the operator must look. Per item: a duplicate is flagged when
//! its size differs from its group's primary; a primary when any of its duplicates differs. A
//! true copy (same size as the primary) in a group that also holds a collision is not flagged.

use rustc_hash::FxHashMap;

use rusqlite::Connection;
use serde::Serialize;

use crate::error::{Error, Result, SqlContext};
use crate::index::{Index, SearchData};

/// 제외 사유: why a not-synced file is excluded, grouped as the operator thinks of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// An `.mxf` file (a video format HLS cannot play).
    Mxf,
    /// An `.mkv` file (a video format HLS cannot play).
    Mkv,
    /// An HLS extension whose probed codec HLS cannot play (`strict_codec_check`).
    Codec,
    /// A subtitle file.
    Subtitle,
    /// Any other video format HLS cannot play, or not a video at all.
    Other,
}

impl Reason {
    pub const ALL: [Reason; 5] = [
        Reason::Mxf,
        Reason::Mkv,
        Reason::Codec,
        Reason::Subtitle,
        Reason::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Mxf => "mxf",
            Reason::Mkv => "mkv",
            Reason::Codec => "codec",
            Reason::Subtitle => "subtitle",
            Reason::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The reason of a not-synced item from its reason code and its (lowercase) extension;
    /// `None` for an item that is not excluded.
    pub fn of(code: &str, ext: &[u8]) -> Option<Reason> {
        Some(match code {
            "codec_not_hls" => Reason::Codec,
            "subtitle" => Reason::Subtitle,
            "not_hls" if ext == b"mxf" => Reason::Mxf,
            "not_hls" if ext == b"mkv" => Reason::Mkv,
            "not_hls" | "not_video" => Reason::Other,
            _ => return None,
        })
    }
}

/// Lowercase extension of a name key (already lowercase NFC): what follows its last `.`, none
/// for `README` or `.hidden` (the same rule as [`crate::names::extension`]).
pub(crate) fn ext_of(name: &[u8]) -> &[u8] {
    match memchr::memrchr(b'.', name) {
        Some(i) if i > 0 && i + 1 < name.len() => &name[i + 1..],
        _ => &[],
    }
}

/// The value filters of one query, validated.
#[derive(Debug, Clone, Default)]
pub(crate) struct ValueFilters {
    pub reason: Option<Reason>,
    /// Lowercase, without a dot.
    pub ext: Option<String>,
    pub codec: Option<String>,
    pub collision: bool,
}

impl ValueFilters {
    /// Validate the raw values (empty means no filter). A wrong value is a field-level error.
    pub fn parse(
        reason: Option<&str>,
        ext: Option<&str>,
        codec: Option<&str>,
        collision: bool,
    ) -> Result<ValueFilters> {
        fn nonempty(v: Option<&str>) -> Option<&str> {
            v.map(str::trim).filter(|s| !s.is_empty())
        }
        // Exactly a reason or empty, as the OpenAPI document's enum says.
        let reason = match reason.filter(|r| !r.is_empty()) {
            None => None,
            Some(r) => Some(Reason::parse(r).ok_or_else(|| {
                Error::invalid(
                    "reason",
                    format!(
                        "reason must be one of {} (got `{r}`)",
                        Reason::ALL.map(Reason::as_str).join(", ")
                    ),
                )
            })?),
        };
        // The OpenAPI document states the same rule as a pattern: `^\s*\.?[^./\\]{0,32}\s*$`.
        let ext = match nonempty(ext).map(|e| e.strip_prefix('.').unwrap_or(e)) {
            None | Some("") => None,
            Some(e) if e.contains(['.', '/', '\\']) || e.chars().count() > 32 => {
                return Err(Error::invalid(
                    "ext",
                    format!(
                        "ext is one file extension (at most 32 characters) without dots or \
                         slashes, e.g. mp4 (got `{}`)",
                        ext.unwrap_or_default()
                    ),
                ));
            }
            Some(e) => Some(e.to_lowercase()),
        };
        let codec = nonempty(codec).map(str::to_string);
        Ok(ValueFilters {
            reason,
            ext,
            codec,
            collision,
        })
    }

    pub fn any(&self) -> bool {
        self.reason.is_some() || self.ext.is_some() || self.codec.is_some() || self.collision
    }

    /// Which items pass every value filter (`mask[i]` for the item at position `i` of `data`). Cheapest first; each later step
    /// only clears entries.
    pub fn mask(&self, index: &Index, data: &SearchData) -> Result<Vec<bool>> {
        let n = data.status.len();
        let mut mask = vec![true; n];
        if let Some(ext) = &self.ext {
            let want = ext.as_bytes();
            for (i, m) in mask.iter_mut().enumerate() {
                *m = ext_of(data.name(i)) == want;
            }
        }
        if let Some(reason) = self.reason {
            let mut keep = vec![false; n];
            for (id, r) in excluded(index.conn(), data)? {
                if r == reason {
                    set(&mut keep, data, id);
                }
            }
            and(&mut mask, &keep);
        }
        if let Some(codec) = &self.codec {
            codec_mask(index.conn(), data, codec, &mut mask)?;
        }
        if self.collision {
            and(&mut mask, &collisions(index.conn(), data)?.0);
        }
        Ok(mask)
    }
}

/// Clear from `mask` the items whose codec is not `codec`: the ids with that codec come from
/// the `items_codec` index alone (one index entry per match: ~0.1 s for the 765,000 h264 files
/// of a probed million, docs/benchmarks.md).
fn codec_mask(conn: &Connection, data: &SearchData, codec: &str, mask: &mut [bool]) -> Result<()> {
    let ctx = "matching codec filter";
    let mut keep = vec![false; mask.len()];
    let mut stmt = conn
        .prepare_cached("SELECT id FROM items INDEXED BY items_codec WHERE codec = ?1")
        .ctx(ctx)?;
    let mut rows = stmt.query([codec]).ctx(ctx)?;
    while let Some(r) = rows.next().ctx(ctx)? {
        set(&mut keep, data, r.get::<_, i64>(0).ctx(ctx)?);
    }
    and(mask, &keep);
    Ok(())
}

/// The position of item `id` in the packed columns (ids there are ascending, with gaps where
/// the incremental update removed items).
fn pos(data: &SearchData, id: i64) -> Option<usize> {
    data.ids.binary_search(&id).ok()
}

fn set(mask: &mut [bool], data: &SearchData, id: i64) {
    if let Some(m) = pos(data, id).and_then(|i| mask.get_mut(i)) {
        *m = true;
    }
}

fn and(mask: &mut [bool], keep: &[bool]) {
    for (m, k) in mask.iter_mut().zip(keep) {
        *m &= *k;
    }
}

/// Every not-synced item with its [`Reason`]: the not-synced items are exactly those with one
/// of these reason codes, which the partial index `items_excluded` holds (so the ids and codes
/// come from the index alone; its `WHERE` must stay the same text).
fn excluded(conn: &Connection, data: &SearchData) -> Result<Vec<(i64, Reason)>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, reason_code FROM items INDEXED BY items_excluded
             WHERE reason_code IN ('not_hls', 'codec_not_hls', 'subtitle', 'not_video')",
        )
        .ctx("matching reason filter")?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
        .ctx("matching reason filter")?;
    let mut out = Vec::new();
    for row in rows {
        let (id, code) = row.ctx("matching reason filter")?;
        let name = pos(data, id).map(|i| data.name(i)).unwrap_or_default();
        if let Some(r) = Reason::of(&code, ext_of(name)) {
            out.push((id, r));
        }
    }
    Ok(out)
}

/// Every duplicate with its primary (item ids): the covering `items_primary` index only; the
/// sizes come from the search columns in memory (no table reads).
fn duplicate_pairs(conn: &Connection) -> Result<Vec<(i64, i64)>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, primary_item FROM items INDEXED BY items_primary
             WHERE primary_item IS NOT NULL",
        )
        .ctx("name collisions")?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
        .ctx("name collisions")?;
    rows.collect::<rusqlite::Result<Vec<_>>>()
        .ctx("name collisions")
}

/// The items flagged 같은 이름, 다른 크기 (by position, as [`ValueFilters::mask`]): each duplicate whose size differs from
/// its primary's, and those primaries. Also returns how many groups have a collision.
pub(crate) fn collisions(conn: &Connection, data: &SearchData) -> Result<(Vec<bool>, u64)> {
    let n = data.size.len();
    let size = |id: i64| pos(data, id).and_then(|i| data.size.get(i)).copied();
    let mut flagged = vec![false; n];
    let mut groups = 0u64;
    for (d, p) in duplicate_pairs(conn)? {
        if size(d) != size(p) {
            set(&mut flagged, data, d);
            if let Some(f) = pos(data, p).and_then(|i| flagged.get_mut(i))
                && !*f
            {
                *f = true;
                groups += 1;
            }
        }
    }
    Ok((flagged, groups))
}

/// The SQL expression for one item's name-collision flag, over `i` (the item) and `p` (its
/// primary, LEFT JOINed): the same rule as [`collisions`].
pub(crate) const COLLISION_SQL: &str = "CASE
    WHEN i.primary_item IS NOT NULL THEN coalesce(i.size != p.size, 0)
    WHEN i.dup_count > 0 THEN EXISTS (SELECT 1 FROM items d INDEXED BY items_primary
        WHERE d.primary_item = i.id AND d.size != i.size)
    ELSE 0 END";

// ---------------------------------------------------------------------------------------------
// Facets

/// One value an operator can filter on, with how many items have it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ts_rs::TS, schemars::JsonSchema)]
pub struct FacetCount {
    pub value: String,
    pub count: u64,
}

/// The values the matching table's filters can take, with their counts over the whole table
/// (`nas-sync matching --facets`, `GET /api/matching/facets`, the window's
/// `get_matching_facets`). The screen fills its filter lists from it, and the dashboard shows
/// `name_collisions`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ts_rs::TS, schemars::JsonSchema)]
pub struct MatchingFacets {
    /// Not-synced items by exclusion reason (`reason` filter), every reason in the order mxf,
    /// mkv, codec, subtitle, other (0 included).
    pub reasons: Vec<FacetCount>,
    /// Items by lowercase extension (`ext` filter), most first, ties by name; items without an
    /// extension are not listed.
    pub extensions: Vec<FacetCount>,
    /// Source files by probed video codec (`codec` filter), most first, ties by name; files
    /// whose codec is unknown are not listed.
    pub codecs: Vec<FacetCount>,
    /// Items flagged 같은 이름, 다른 크기 (what the `collision` filter finds).
    pub name_collisions: u64,
    /// Duplicate-name groups with such a collision (one synced file each).
    pub collision_groups: u64,
}

fn ranked(counts: FxHashMap<String, u64>) -> Vec<FacetCount> {
    let mut v: Vec<FacetCount> = counts
        .into_iter()
        .map(|(value, count)| FacetCount { value, count })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    v
}

/// [`MatchingFacets`] of the index as it is.
pub fn facets_in(index: &Index) -> Result<MatchingFacets> {
    let data = index.search_data()?;
    let mut reason_n: FxHashMap<Reason, u64> = FxHashMap::default();
    for (_, r) in excluded(index.conn(), &data)? {
        *reason_n.entry(r).or_default() += 1;
    }
    let reasons = Reason::ALL
        .iter()
        .map(|r| FacetCount {
            value: r.as_str().to_string(),
            count: reason_n.get(r).copied().unwrap_or(0),
        })
        .collect();
    let mut ext_n: FxHashMap<&[u8], u64> = FxHashMap::default();
    for i in 0..data.status.len() {
        let e = ext_of(data.name(i));
        if !e.is_empty() {
            *ext_n.entry(e).or_default() += 1;
        }
    }
    let extensions = ranked(
        ext_n
            .into_iter()
            .map(|(e, n)| (String::from_utf8_lossy(e).into_owned(), n))
            .collect(),
    );
    let mut codec_n: FxHashMap<String, u64> = FxHashMap::default();
    {
        let mut stmt = index
            .conn()
            .prepare_cached(
                "SELECT codec, count(*) FROM items INDEXED BY items_codec
                 WHERE codec IS NOT NULL GROUP BY codec",
            )
            .ctx("matching codecs")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .ctx("matching codecs")?;
        for row in rows {
            let (c, n) = row.ctx("matching codecs")?;
            codec_n.insert(c, n.max(0) as u64);
        }
    }
    let (flagged, collision_groups) = collisions(index.conn(), &data)?;
    Ok(MatchingFacets {
        reasons,
        extensions,
        codecs: ranked(codec_n),
        name_collisions: flagged.iter().filter(|f| **f).count() as u64,
        collision_groups,
    })
}

/// [`facets_in`] on a freshly opened index (a per-call process).
pub fn facets(cfg: &crate::config::Config) -> Result<MatchingFacets> {
    facets_in(&Index::open(cfg)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_group_the_codes_by_what_the_operator_sees() {
        assert_eq!(Reason::of("not_hls", b"mxf"), Some(Reason::Mxf));
        assert_eq!(Reason::of("not_hls", b"mkv"), Some(Reason::Mkv));
        assert_eq!(Reason::of("not_hls", b"avi"), Some(Reason::Other));
        assert_eq!(Reason::of("not_video", b"jpg"), Some(Reason::Other));
        assert_eq!(Reason::of("not_video", b""), Some(Reason::Other));
        assert_eq!(Reason::of("codec_not_hls", b"mp4"), Some(Reason::Codec));
        assert_eq!(Reason::of("subtitle", b"srt"), Some(Reason::Subtitle));
        assert_eq!(Reason::of("synced", b"mp4"), None);
        assert_eq!(Reason::of("duplicate_name", b"mp4"), None);
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
        }
    }

    #[test]
    fn extension_of_a_name_key_follows_the_names_rule() {
        for name in [
            "a.mp4",
            "a.b.mxf",
            "readme",
            ".hidden",
            "trailing.",
            "x.tar.gz",
            "한글.mov",
        ] {
            assert_eq!(
                ext_of(name.as_bytes()),
                crate::names::extension(name).as_bytes(),
                "{name}"
            );
        }
    }

    #[test]
    fn filter_values_are_checked_with_a_field_level_message() {
        let f = ValueFilters::parse(Some("mxf"), Some(" .MP4"), Some("h264"), true).expect("valid");
        assert_eq!(f.reason, Some(Reason::Mxf));
        assert_eq!(f.ext.as_deref(), Some("mp4"));
        assert_eq!(f.codec.as_deref(), Some("h264"));
        assert!(f.any());
        assert!(
            !ValueFilters::parse(Some(""), Some(" "), Some(""), false)
                .expect("empty is no filter")
                .any()
        );
        let long = "x".repeat(33);
        for (reason, ext, field) in [
            (Some("avi"), None, "reason"),
            (Some(" mxf"), None, "reason"),
            (None, Some("tar.gz"), "ext"),
            (None, Some("a/b"), "ext"),
            (None, Some(long.as_str()), "ext"),
        ] {
            match ValueFilters::parse(reason, ext, None, false) {
                Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{reason:?} {ext:?}: expected an invalid {field}, got {other:?}"),
            }
        }
    }
}
