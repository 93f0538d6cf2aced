//! GraphiQL, served to browsers at `GET /graphql` (when they ask for HTML), `/playground`
//! and `/graphiql` while `server.playground` is on. The page and every file it loads come
//! from this binary: GraphiQL 3 and React 18 are vendored byte for byte from their npm
//! packages into `crates/server/assets/graphiql/` by `scripts/vendor-graphiql.sh` (versions
//! and sha256 in `VENDORED.md` there) and embedded here at build time, so the page works
//! offline and behind firewalls. The code runs only in the user's browser.
//!
//! Asset names carry the package version, so a response never changes under its URL: it is
//! cached for a year as `immutable`, with an ETag for clients that revalidate anyway. The
//! page refers to the assets by relative URL (`graphiql/assets/…`), which resolves to
//! `/graphiql/assets/…` from each of the three page paths, and its Content-Security-Policy
//! lets it load nothing from any other origin.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The route the assets are served under; `{file}` is an [`ASSETS`] name.
pub(super) const ASSETS_ROUTE: &str = "/graphiql/assets/{file}";

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>FraiseQL · GraphiQL</title>
  <!-- GraphiQL 3.9.0, React 18.3.1 and ReactDOM 18.3.1 (MIT licensed; see
       graphiql/assets/LICENSE-graphiql.txt, LICENSE-react.txt, LICENSE-react-dom.txt),
       served by this server. -->
  <style>body { margin: 0; height: 100vh; } #graphiql { height: 100vh; }</style>
  <link rel="stylesheet" href="graphiql/assets/graphiql-3.9.0.min.css">
  <script src="graphiql/assets/react-18.3.1.production.min.js"></script>
  <script src="graphiql/assets/react-dom-18.3.1.production.min.js"></script>
  <script src="graphiql/assets/graphiql-3.9.0.min.js"></script>
</head>
<body>
  <div id="graphiql">Loading GraphiQL…</div>
  <script>
    const fetcher = GraphiQL.createFetcher({
      url: new URL('/graphql', window.location.href).toString(),
    });
    ReactDOM.createRoot(document.getElementById('graphiql')).render(
      React.createElement(GraphiQL, { fetcher, defaultEditorToolsVisibility: true }),
    );
  </script>
</body>
</html>
"#;

/// Same origin only. Inline script and styles are the page's own bootstrap and GraphiQL's
/// computed styles; images and fonts in GraphiQL's CSS are `data:` URLs.
const CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
    connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// One embedded file: its name under [`ASSETS_ROUTE`], media type and bytes.
pub(crate) struct Asset {
    pub(crate) name: &'static str,
    pub(crate) content_type: &'static str,
    pub(crate) bytes: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            bytes: include_bytes!(concat!("../../assets/graphiql/", $name)),
        }
    };
}

/// Every file served under [`ASSETS_ROUTE`] (a closed set: any other name is 404).
pub(crate) const ASSETS: &[Asset] = &[
    asset!("graphiql-3.9.0.min.css", CSS),
    asset!("graphiql-3.9.0.min.js", JS),
    asset!("react-18.3.1.production.min.js", JS),
    asset!("react-dom-18.3.1.production.min.js", JS),
    asset!("LICENSE-graphiql.txt", TEXT),
    asset!("LICENSE-react.txt", TEXT),
    asset!("LICENSE-react-dom.txt", TEXT),
];

/// The GraphiQL page.
pub(super) async fn page() -> Response {
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    // The page is small and changes with the binary; browsers ask again each time.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `GET /graphiql/assets/{file}`: one embedded file, or 404.
pub(super) async fn asset(Path(file): Path<String>, request: HeaderMap) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // The versioned name is the identity of the bytes, so it is a strong validator.
    let etag = format!("\"{}\"", asset.name);
    let matches = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.bytes).into_response()
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `src=`/`href=` in the page, in order.
    fn references(page: &str) -> Vec<&str> {
        let mut found = Vec::new();
        for attr in ["src=\"", "href=\""] {
            let mut rest = page;
            while let Some(at) = rest.find(attr) {
                rest = &rest[at + attr.len()..];
                if let Some(end) = rest.find('"') {
                    found.push(&rest[..end]);
                    rest = &rest[end..];
                }
            }
        }
        found
    }

    #[test]
    fn the_page_loads_nothing_from_another_origin() {
        let refs = references(PAGE);
        assert_eq!(refs.len(), 4, "{refs:?}");
        for r in refs {
            assert!(!r.contains("//"), "external or scheme-relative URL {r}");
            let name = r
                .strip_prefix("graphiql/assets/")
                .unwrap_or_else(|| panic!("{r} is not under graphiql/assets/"));
            assert!(
                ASSETS.iter().any(|a| a.name == name),
                "{name} is not embedded"
            );
        }
        assert!(!PAGE.contains("http://") && !PAGE.contains("https://"));
        assert!(
            !CSP.contains("http"),
            "the CSP allows another origin: {CSP}"
        );
    }

    #[test]
    fn embedded_assets_are_the_vendored_files() {
        let lock = include_str!("../../assets/graphiql/VENDORED.md");
        for asset in ASSETS {
            assert!(!asset.bytes.is_empty(), "{} is empty", asset.name);
            assert!(
                lock.contains(&format!("| `{}` |", asset.name)),
                "{} is not recorded in VENDORED.md",
                asset.name
            );
        }
        // The MIT notices ship with the code they cover.
        for license in ["LICENSE-graphiql.txt", "LICENSE-react.txt"] {
            let text = ASSETS
                .iter()
                .find(|a| a.name == license)
                .map(|a| String::from_utf8_lossy(a.bytes))
                .unwrap_or_default();
            assert!(text.starts_with("MIT License"), "{license}: {text}");
        }
        let react = ASSETS
            .iter()
            .find(|a| a.name == "react-18.3.1.production.min.js")
            .map(|a| String::from_utf8_lossy(a.bytes))
            .unwrap_or_default();
        assert!(
            react.contains("@license React"),
            "React's license header was stripped"
        );
    }
}
