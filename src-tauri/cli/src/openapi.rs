//! The OpenAPI 3.1 document of `nas-sync serve` (`GET /api/openapi.json`). The operations
//! (paths, parameters, request bodies, security) are written by hand in `openapi.json` next to
//! the handlers; the response schemas are generated from the engine's types with schemars (the
//! types the handlers serialize and the TypeScript bindings come from), so they cannot drift.
//! `tests/contract.rs` checks the router against the operations, `tests/serve.rs` real responses
//! against the document, and `scripts/schemathesis.sh` fuzzes the server against it.

use std::sync::LazyLock;

use schemars::generate::{Contract, SchemaSettings};
use serde_json::Value;

use nas_sync_engine::ErrorBody;
use nas_sync_engine::archive::ProblemList;
use nas_sync_engine::matching::{MatchingPage, Tree, TreeNode};
use nas_sync_engine::query::filters::MatchingFacets;
use nas_sync_engine::query::{Dashboard, HistoryPage};
use nas_sync_engine::runtime::actions::{
    DemoStarted, PinCheck, RootTest, SettingsSaved, SettingsView,
};
use nas_sync_engine::runtime::monitor::{JobInfo, Status};
use nas_sync_engine::runtime::service::{CancelRequested, Health, ReconcileOutcome, StartResponse};

/// The hand-written operations (and the request-body schemas `StartBody`, `Empty`).
const OPERATIONS: &str = include_str!("openapi.json");

/// The whole document, built once.
pub static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    serde_json::to_string_pretty(&document()).unwrap_or_else(|_| OPERATIONS.to_string())
});

/// The operations with every response schema they name, generated from the engine's types.
pub fn document() -> Value {
    let mut doc: Value = serde_json::from_str(OPERATIONS).expect("openapi.json is JSON");
    // What the server sends (`skip_serializing_if` fields are optional, skipped ones absent);
    // every type under its own name, referenced from #/components/schemas.
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.contract = Contract::Serialize;
            s.meta_schema = None;
        })
        .into_generator();
    generator.subschema_for::<Dashboard>();
    generator.subschema_for::<MatchingPage>();
    generator.subschema_for::<MatchingFacets>();
    generator.subschema_for::<Tree>();
    generator.subschema_for::<TreeNode>();
    generator.subschema_for::<HistoryPage>();
    generator.subschema_for::<ProblemList>();
    generator.subschema_for::<Status>();
    generator.subschema_for::<Health>();
    generator.subschema_for::<JobInfo>();
    generator.subschema_for::<StartResponse>();
    generator.subschema_for::<CancelRequested>();
    generator.subschema_for::<ReconcileOutcome>();
    generator.subschema_for::<SettingsView>();
    generator.subschema_for::<SettingsSaved>();
    generator.subschema_for::<PinCheck>();
    generator.subschema_for::<RootTest>();
    generator.subschema_for::<DemoStarted>();
    generator.subschema_for::<ErrorBody>();
    let generated = generator.take_definitions(true);
    let schemas = doc["components"]["schemas"]
        .as_object_mut()
        .expect("components.schemas");
    for (name, schema) in generated {
        schemas.entry(name).or_insert(schema);
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$ref` of the document resolves: the hand-written operations name only types the
    /// generator produced (or the two request bodies written by hand).
    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(refs.len() > 30, "{refs:?}");
        for r in refs {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("a local schema reference: {r}"));
            assert!(schemas.contains_key(name), "{r} is not defined");
        }
        // The error shape every endpoint shares carries its code as the enum the UI switches on.
        let code = &schemas["ErrorBody"]["properties"]["code"];
        assert_eq!(code["$ref"], "#/components/schemas/ErrorCode", "{code}");
        assert!(
            schemas["ErrorCode"].to_string().contains("admin_required"),
            "{}",
            schemas["ErrorCode"]
        );
    }

    /// The exports take the screens' filters: every filter parameter of `/api/matching` and
    /// `/api/history` is documented on its export too (a filter added to a screen is accepted by
    /// its export as it is, since both parse the same query type).
    #[test]
    fn the_exports_document_the_filters_of_their_screens() {
        let doc = document();
        let names = |path: &str| -> Vec<String> {
            doc["paths"][path]["get"]["parameters"]
                .as_array()
                .unwrap_or_else(|| panic!("{path} has parameters"))
                .iter()
                .filter_map(|p| p["name"].as_str().map(str::to_string))
                .collect()
        };
        for (screen, export, paging) in [
            (
                "/api/matching",
                "/api/matching/export.csv",
                ["page", "per_page"],
            ),
            (
                "/api/history",
                "/api/history/export.csv",
                ["limit", "offset"],
            ),
        ] {
            let exported = names(export);
            for p in names(screen) {
                assert!(
                    paging.contains(&p.as_str()) || exported.contains(&p),
                    "{export} does not document {screen}'s filter `{p}`"
                );
            }
            for p in ["lang", "utc_offset"] {
                assert!(exported.iter().any(|e| e == p), "{export}: {p}");
            }
        }
        assert!(
            doc["paths"]["/api/history"]["get"]["parameters"]
                .to_string()
                .contains("\"search\"")
        );
    }

    fn collect_refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|x| collect_refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
            _ => {}
        }
    }
}
