//! The OpenAPI 3.1 document of `nas-sync serve` (`GET /api/openapi.json`). Written by hand next
//! to the handlers; `tests/serve.rs` checks that every route is in it and that real responses
//! match its schemas, and `scripts/schemathesis.sh` fuzzes the server against it.

pub const DOCUMENT: &str = include_str!("openapi.json");
