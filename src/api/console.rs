//! The web console: static pages and scripts under `console/`, embedded in the binary at
//! build time and served at `/console/`.
//!
//! These routes need no credentials: the files hold no data. The scripts call the API
//! like any other client, with a token or an AK/SK signature made in the browser, and
//! keep those credentials in the tab's `sessionStorage` only.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use super::error::ApiError;

/// Where the console lives; `/console` redirects here so relative asset paths resolve.
pub const BASE_PATH: &str = "/console/";

/// Scripts and styles only from this origin (no inline code, no `eval`), API calls only
/// to this origin, no framing, and DOM sinks that take strings (`innerHTML`) disabled, so
/// a connection's name or message can never become markup.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'; require-trusted-types-for 'script'; \
     trusted-types 'none'";

/// Browsers revalidate every asset (cheaply, by `ETag`), so a new binary's console is
/// never mixed with cached modules of an older one.
const CACHE_CONTROL: &str = "no-cache";

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// One embedded file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $content_type:expr) => {
        Asset {
            path: $path,
            content_type: $content_type,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/console/", $path)),
        }
    };
}

/// Every file of `console/`; a unit test fails when one is missing here.
const ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("app.css", CSS),
    asset!("icon.svg", SVG),
    asset!("js/main.js", JAVASCRIPT),
    asset!("js/api.js", JAVASCRIPT),
    asset!("js/sign.js", JAVASCRIPT),
    asset!("js/dom.js", JAVASCRIPT),
    asset!("js/validate.js", JAVASCRIPT),
    asset!("js/live.js", JAVASCRIPT),
    asset!("js/views/signin.js", JAVASCRIPT),
    asset!("js/views/projects.js", JAVASCRIPT),
    asset!("js/views/list.js", JAVASCRIPT),
    asset!("js/views/detail.js", JAVASCRIPT),
    asset!("js/views/create.js", JAVASCRIPT),
    asset!("js/views/queues.js", JAVASCRIPT),
    asset!("js/views/queue-test.js", JAVASCRIPT),
    asset!("js/views/enhanced.js", JAVASCRIPT),
    asset!("js/views/enhanced-detail.js", JAVASCRIPT),
];

/// Assets by path, each with its strong `ETag` (a content hash), computed once.
static INDEX: LazyLock<HashMap<&'static str, (&'static Asset, String)>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let digest = hex::encode(Sha256::digest(asset.body));
            (asset.path, (asset, format!("\"{}\"", &digest[..32])))
        })
        .collect()
});

/// `/` and `/console` (redirects), `/console/` and `/console/<asset>`, for any router
/// state.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        // A person who opens the server's address lands in the console; temporary, so
        // browsers do not remember it should `/` ever answer something else.
        .route("/", get(|| async { Redirect::temporary(BASE_PATH) }))
        .route("/console", get(|| async { Redirect::permanent(BASE_PATH) }))
        .route(BASE_PATH, get(index))
        .route("/console/{*asset}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

fn serve(path: &str, request_headers: &HeaderMap) -> Response {
    // Only the embedded table is consulted, so no path can reach the file system.
    let Some((asset, etag)) = INDEX.get(path) else {
        return ApiError::NotFound.into_response();
    };
    let fresh = request_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .split(',')
                .any(|candidate| candidate.trim() == etag || candidate.trim() == "*")
        });
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    response
}

#[cfg(test)]
mod tests {
    use std::path::{Path as FsPath, PathBuf};

    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use rstest::rstest;
    use tower::ServiceExt;

    use super::*;

    async fn get(path: &str, headers: &[(&str, &str)]) -> Response {
        let mut request = Request::get(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        routes::<()>()
            .oneshot(request.body(Body::empty()).expect("request"))
            .await
            .expect("infallible")
    }

    fn header<'a>(response: &'a Response, name: &str) -> &'a str {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    }

    fn files_under(dir: &FsPath, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read console dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                files_under(&path, found);
            } else {
                found.push(path);
            }
        }
    }

    #[test]
    fn every_file_of_the_console_directory_is_embedded() {
        let root = FsPath::new(env!("CARGO_MANIFEST_DIR")).join("console");
        let mut files = Vec::new();
        files_under(&root, &mut files);
        let mut on_disk: Vec<String> = files
            .iter()
            .map(|path| {
                path.strip_prefix(&root)
                    .expect("under root")
                    .to_string_lossy()
                    .replace('\\', "/")
            })
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = ASSETS.iter().map(|a| a.path.to_owned()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn the_page_has_no_inline_code_for_the_policy_to_block() {
        let html = String::from_utf8_lossy(INDEX["index.html"].0.body).to_lowercase();
        assert!(!html.contains(" style="), "inline style attribute");
        assert!(!html.contains("<style"), "inline style element");
        assert!(!html.contains("javascript:"), "javascript: URL");
        for script in html.split("<script").skip(1) {
            let (tag, rest) = script.split_once('>').expect("closed tag");
            assert!(tag.contains("src="), "inline script");
            assert!(
                rest.trim_start().starts_with("</script>"),
                "script with a body"
            );
        }
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
        assert!(CONTENT_SECURITY_POLICY.contains("connect-src 'self'"));
    }

    #[tokio::test]
    async fn the_bare_path_redirects_to_the_directory() {
        let response = get("/console", &[]).await;
        assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(header(&response, "location"), "/console/");
    }

    #[tokio::test]
    async fn the_index_is_served_with_a_strict_policy_and_revalidation() {
        let response = get("/console/", &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "content-type"), HTML);
        assert_eq!(header(&response, "cache-control"), "no-cache");
        assert_eq!(
            header(&response, "content-security-policy"),
            CONTENT_SECURITY_POLICY
        );
        assert_eq!(header(&response, "x-content-type-options"), "nosniff");
        assert_eq!(header(&response, "x-frame-options"), "DENY");
        let body = to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        assert!(String::from_utf8_lossy(&body).contains("<script type=\"module\""));
    }

    #[rstest]
    #[case("/console/js/main.js", JAVASCRIPT)]
    #[case("/console/js/views/list.js", JAVASCRIPT)]
    #[case("/console/app.css", CSS)]
    #[case("/console/icon.svg", SVG)]
    #[case("/console/index.html", HTML)]
    #[tokio::test]
    async fn assets_carry_their_content_type(#[case] path: &str, #[case] content_type: &str) {
        let response = get(path, &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "content-type"), content_type);
        assert!(header(&response, "etag").starts_with('"'));
    }

    #[tokio::test]
    async fn an_unchanged_asset_is_answered_not_modified() {
        let first = get("/console/app.css", &[]).await;
        let etag = header(&first, "etag").to_owned();
        let second = get("/console/app.css", &[("if-none-match", &etag)]).await;
        assert_eq!(second.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(header(&second, "etag"), etag);
        let body = to_bytes(second.into_body(), usize::MAX)
            .await
            .expect("body");
        assert!(body.is_empty());
    }

    #[rstest]
    #[case("/console/missing.js")]
    #[case("/console/../Cargo.toml")]
    #[case("/console/js/../../Cargo.toml")]
    #[case("/console/%2e%2e/Cargo.toml")]
    #[tokio::test]
    async fn unknown_assets_are_not_found(#[case] path: &str) {
        let response = get(path, &[]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
}
