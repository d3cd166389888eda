//! `GET /`: the dashboard's page. For now a small page that says where
//! things are; the dashboard proper replaces [`index`].

use axum::response::Html;

/// The page at `/`.
pub(crate) async fn index() -> Html<&'static str> {
    Html(concat!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        "<title>taskorch</title></head><body>",
        "<h1>taskorch</h1>",
        "<p>The dashboard is served here. The HTTP API is described in ",
        "<a href=\"/openapi.json\">/openapi.json</a>; runs are at ",
        "<a href=\"/runs\">/runs</a>, live events at <a href=\"/events\">/events</a>, ",
        "metrics at <a href=\"/metrics\">/metrics</a>.</p>",
        "</body></html>"
    ))
}
