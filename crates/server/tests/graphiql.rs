//! GraphiQL is served whole by the binary: the page, at each of its three paths, refers only
//! to same-server assets, and each asset answers with its media type, long-lived cache
//! headers and an ETag. The browser side (the page renders and runs a query with every
//! external request blocked) is `tests/browser/graphiql.test.mjs`.

use fraiseql_engine::config::{Config, DatabaseConfig};
use fraiseql_server::Running;
use reqwest::header::{
    ACCEPT, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH,
};
use reqwest::StatusCode;

mod support;

const SDL: &str = r#"
type Post @source(view: "v_post") { id: ID! title: String }
type Query { posts: [Post!]! }
"#;

async fn start(playground: bool) -> (Running, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::default();
    config.server.playground = playground;
    config.databases.insert(
        "primary".into(),
        DatabaseConfig {
            kind: Some(fraiseql_engine::config::DatabaseKind::Sqlite),
            url: Some(format!("sqlite://{}", dir.path().join("app.db").display())),
            ..DatabaseConfig::default()
        },
    );
    let running = support::serve(config, SDL).await;
    let base = support::base(&running);
    (running, base, dir)
}

/// Every `src="…"` and `href="…"` value in `html`.
fn references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for piece in html.split(attr).skip(1) {
            if let Some(end) = piece.find('"') {
                found.push(piece[..end].to_string());
            }
        }
    }
    found
}

#[tokio::test]
async fn graphiql_page_and_assets_come_from_the_server() {
    let (_running, base, _dir) = start(true).await;
    let http = reqwest::Client::new();
    for path in ["/graphql", "/playground", "/graphiql"] {
        let response = http
            .get(format!("{base}{path}"))
            .header(ACCEPT, "text/html")
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers().clone();
        assert!(headers[CONTENT_TYPE]
            .to_str()
            .unwrap_or("")
            .starts_with("text/html"));
        let csp = headers[CONTENT_SECURITY_POLICY].to_str().expect("ascii");
        assert!(
            csp.contains("default-src 'self'") && !csp.contains("http"),
            "{csp}"
        );
        let html = response.text().await.expect("body");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{path} names an external URL:\n{html}"
        );
        let refs = references(&html);
        let scripts = refs.iter().filter(|r| r.ends_with(".js")).count();
        let styles = refs.iter().filter(|r| r.ends_with(".css")).count();
        assert_eq!((scripts, styles), (3, 1), "{refs:?}");

        for r in refs {
            assert!(
                !r.starts_with('/') && !r.contains("//"),
                "{r} is not relative"
            );
            // Resolved against the page URL, as the browser does.
            let url = reqwest::Url::parse(&format!("{base}{path}"))
                .and_then(|u| u.join(&r))
                .expect("url");
            assert!(url.path().starts_with("/graphiql/assets/"), "{url}");
            let response = http.get(url.clone()).send().await.expect("asset");
            assert_eq!(response.status(), StatusCode::OK, "{url}");
            let expected = if r.ends_with(".js") {
                "text/javascript; charset=utf-8"
            } else {
                "text/css; charset=utf-8"
            };
            let h = response.headers().clone();
            assert_eq!(h[CONTENT_TYPE], expected, "{url}");
            assert_eq!(h["x-content-type-options"], "nosniff", "{url}");
            let cache = h[CACHE_CONTROL].to_str().expect("ascii");
            assert!(cache.contains("max-age=31536000") && cache.contains("immutable"));
            let etag = h[ETAG].clone();
            assert!(response.bytes().await.expect("bytes").len() > 1000, "{url}");

            // A revalidating client gets 304 without the body.
            let again = http
                .get(url.clone())
                .header(IF_NONE_MATCH, etag.clone())
                .send()
                .await
                .expect("revalidate");
            assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{url}");
            assert_eq!(again.headers()[ETAG], etag);
            assert!(again.bytes().await.expect("bytes").is_empty());
        }
    }

    let license = http
        .get(format!("{base}/graphiql/assets/LICENSE-graphiql.txt"))
        .send()
        .await
        .expect("license");
    assert_eq!(license.headers()[CONTENT_TYPE], "text/plain; charset=utf-8");
    assert!(license
        .text()
        .await
        .expect("text")
        .starts_with("MIT License"));
}

#[tokio::test]
async fn unknown_or_hostile_asset_names_are_404() {
    let (_running, base, _dir) = start(true).await;
    let http = reqwest::Client::new();
    for name in [
        "nope.js",
        "..%2FCargo.toml",
        "%2e%2e%2f%2e%2e%2fsrc%2flib.rs",
        "graphiql-3.9.0.min.js%00",
        "VENDORED.md",
        "graphiql-3.9.0.min.js.map",
        &"a".repeat(5000),
    ] {
        let response = http
            .get(format!("{base}/graphiql/assets/{name}"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{name}");
    }
    // Nested paths do not match the route at all.
    let response = http
        .get(format!(
            "{base}/graphiql/assets/../assets/graphiql-3.9.0.min.js/x"
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn without_the_playground_there_are_no_assets() {
    let (_running, base, _dir) = start(false).await;
    let response = reqwest::get(format!("{base}/graphiql/assets/graphiql-3.9.0.min.js"))
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
