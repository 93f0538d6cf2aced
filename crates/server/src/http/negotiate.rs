//! Content negotiation for `/graphql` (GraphQL over HTTP): which response media type the
//! client accepts, and whether a GET comes from a browser that wants GraphiQL.

/// `application/json`: status 200 for every well-formed request, errors in the body.
pub(crate) const JSON: &str = "application/json";
/// `application/graphql-response+json`: request errors are answered with 400.
pub(crate) const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// The media type of a GraphQL response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Media {
    Json,
    GraphqlResponse,
}

impl Media {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Media::Json => JSON,
            Media::GraphqlResponse => GRAPHQL_RESPONSE,
        }
    }
}

/// One `type/subtype;q=…` entry of an `Accept` header, lowercased.
struct Range {
    essence: String,
    q: f32,
}

fn ranges(accept: &str) -> Vec<Range> {
    accept
        .split(',')
        .filter_map(|raw| {
            let mut parts = raw.split(';');
            let essence = parts.next()?.trim().to_ascii_lowercase();
            if essence.is_empty() {
                return None;
            }
            let q = parts
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .and_then(|(_, v)| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0)
                .clamp(0.0, 1.0);
            Some(Range { essence, q })
        })
        .collect()
}

/// The quality of the most specific of `names` the header lists (`names` go from the
/// exact type to wildcards, as RFC 9110 ranks them); 0 when none is listed.
fn quality(ranges: &[Range], names: &[&str]) -> f32 {
    for name in names {
        if let Some(r) = ranges.iter().find(|r| r.essence == *name) {
            return r.q;
        }
    }
    0.0
}

/// The response media type, or `None` when the client accepts neither (406). Without an
/// `Accept` header, or with only wildcards, the answer is `application/json`; the
/// GraphQL response type is used only when named and ranked at least as high as JSON.
pub(crate) fn response_media(accept: Option<&str>) -> Option<Media> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(Media::Json);
    };
    let ranges = ranges(accept);
    let gql = quality(&ranges, &[GRAPHQL_RESPONSE]);
    let json = quality(&ranges, &[JSON, "application/*", "*/*"]);
    if gql > 0.0 && gql >= json {
        Some(Media::GraphqlResponse)
    } else if json > 0.0 {
        Some(Media::Json)
    } else {
        None
    }
}

/// Whether the client ranks `text/html` above both GraphQL media types (a browser).
pub(crate) fn prefers_html(accept: Option<&str>) -> bool {
    let Some(accept) = accept else { return false };
    let ranges = ranges(accept);
    let html = quality(&ranges, &["text/html"]);
    html > 0.0
        && html > quality(&ranges, &[GRAPHQL_RESPONSE])
        && html > quality(&ranges, &[JSON, "application/*"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_negotiation() {
        use Media::*;
        assert_eq!(response_media(None), Some(Json));
        assert_eq!(response_media(Some("")), Some(Json));
        assert_eq!(response_media(Some("*/*")), Some(Json));
        assert_eq!(response_media(Some("application/*")), Some(Json));
        assert_eq!(response_media(Some("application/json")), Some(Json));
        assert_eq!(
            response_media(Some("application/graphql-response+json")),
            Some(GraphqlResponse)
        );
        assert_eq!(
            response_media(Some(
                "application/graphql-response+json, application/json;q=0.9"
            )),
            Some(GraphqlResponse)
        );
        assert_eq!(
            response_media(Some(
                "application/graphql-response+json;q=0.5, application/json"
            )),
            Some(Json)
        );
        assert_eq!(
            response_media(Some("Application/GraphQL-Response+JSON; charset=utf-8")),
            Some(GraphqlResponse)
        );
        assert_eq!(response_media(Some("text/html")), None);
        assert_eq!(response_media(Some("application/xml, text/plain")), None);
        assert_eq!(response_media(Some("application/json;q=0")), None);
    }

    #[test]
    fn browsers_prefer_html() {
        let firefox = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert!(prefers_html(Some(firefox)));
        assert!(!prefers_html(Some("application/json, text/html")));
        assert!(!prefers_html(Some("*/*")));
        assert!(!prefers_html(None));
    }
}
