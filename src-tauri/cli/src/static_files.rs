//! The built web UI (`--ui-dir`), served without ever leaving that folder: a request path is
//! decoded, `..`, `.`, backslashes and NUL are refused, and the file found is canonicalized and
//! must still be inside the canonical folder, so a symlink in the folder cannot serve a file
//! from elsewhere. A path with no file behind it is a screen of the single-page app
//! (`index.html`) unless it names a file (has an extension), which is a JSON 404.

use std::path::{Path, PathBuf};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The UI folder, canonical.
#[derive(Clone)]
pub struct UiDir(pub PathBuf);

impl UiDir {
    /// `dir` if it holds an `index.html`.
    pub fn new(dir: &Path) -> Option<UiDir> {
        let root = std::fs::canonicalize(dir).ok()?;
        root.join("index.html").is_file().then_some(UiDir(root))
    }

    /// The file for `path` inside the folder, if it is one and stays inside.
    fn resolve(&self, path: &str) -> Option<PathBuf> {
        let decoded = percent_decode(path)?;
        let mut p = self.0.clone();
        for seg in decoded.split('/').filter(|s| !s.is_empty()) {
            if seg == ".." || seg == "." || seg.contains('\\') || seg.contains('\0') {
                return None;
            }
            p.push(seg);
        }
        let real = std::fs::canonicalize(&p).ok()?;
        (real.starts_with(&self.0) && real.is_file()).then_some(real)
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn content_type(p: &Path) -> &'static str {
    match p.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Serve a file of the UI, or its `index.html` for a screen's path.
pub async fn serve_ui(State(ui): State<UiDir>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let (file, is_index) = match ui.resolve(&path) {
        Some(f) => {
            let index = f.file_name().is_some_and(|n| n == "index.html");
            (f, index)
        }
        None => {
            let last = path.rsplit('/').next().unwrap_or("");
            if last.contains('.') {
                return (
                    StatusCode::NOT_FOUND,
                    axum::Json(
                        json!({"code": "not_found", "message": format!("no such file: {path}")}),
                    ),
                )
                    .into_response();
            }
            (ui.0.join("index.html"), true)
        }
    };
    match tokio::fs::read(&file).await {
        Ok(bytes) => {
            let mut res = (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(content_type(&file)),
                )],
                bytes,
            )
                .into_response();
            // Vite names assets by their content: they never change; index.html does.
            let cache = if is_index {
                "no-cache"
            } else if path.starts_with("/assets/") {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
            res
        }
        Err(e) => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"code": "not_found", "message": e.to_string()})),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_folder_even_through_symlinks() {
        let d = tempfile::tempdir().expect("dir");
        let ui = d.path().join("ui");
        std::fs::create_dir_all(ui.join("assets")).expect("mkdir");
        std::fs::write(ui.join("index.html"), "<html>").expect("write");
        std::fs::write(ui.join("assets/app.js"), "x").expect("write");
        std::fs::write(d.path().join("secret.txt"), "secret").expect("write");
        #[cfg(unix)]
        std::os::unix::fs::symlink(d.path().join("secret.txt"), ui.join("assets/leak.txt"))
            .expect("symlink");
        let u = UiDir::new(&ui).expect("ui dir");
        assert!(u.resolve("/assets/app.js").is_some());
        assert!(u.resolve("/assets/%61pp.js").is_some(), "percent-decoded");
        assert!(u.resolve("/../secret.txt").is_none());
        assert!(u.resolve("/assets/%2e%2e/%2e%2e/secret.txt").is_none());
        assert!(u.resolve("/assets\\..\\..\\secret.txt").is_none());
        #[cfg(unix)]
        assert!(u.resolve("/assets/leak.txt").is_none(), "symlink out");
    }
}
