//! `GET /`: the dashboard. One HTML page, one script, one stylesheet,
//! embedded in the binary (`include_str!`: no build step, no Node
//! toolchain): the page at `/`, its assets under `/dashboard/`. It also works
//! nested under a prefix of the application's own server: its links carry
//! the path it was served at, and its script addresses the API relative
//! to its own URL.
//!
//! The page holds no data: it reads everything through the API with the
//! token the user enters (kept in the tab's `sessionStorage`), so these
//! routes are outside the token guard — a browser could not otherwise
//! load the page that asks for the token. Every answer carries a strict
//! Content Security Policy: scripts, styles and connections from this
//! origin only, no inline code, no framing. The page's script writes
//! text with `textContent`, never HTML, so run names and output lines
//! cannot inject markup either.

use axum::Router;
use axum::extract::OriginalUri;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const INDEX_HTML: &str = include_str!("dashboard/index.html");
const DASHBOARD_JS: &str = include_str!("dashboard/dashboard.js");
const DASHBOARD_CSS: &str = include_str!("dashboard/dashboard.css");

/// The policy every dashboard answer carries (see the module docs).
/// `img-src data:` is the page's empty favicon.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// The dashboard's routes, for the router to merge outside the guard.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/dashboard/dashboard.js", get(script))
        .route("/dashboard/dashboard.css", get(stylesheet))
}

fn asset(content_type: &'static str, body: impl Into<axum::body::Body>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
            // Embedded in the binary: a new build serves new assets, so
            // browsers must revalidate rather than keep an old script.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body.into(),
    )
        .into_response()
}

/// The page at `/` (of wherever the router is nested).
pub(crate) async fn index(OriginalUri(uri): OriginalUri) -> Response {
    let base = escape(uri.path().trim_end_matches('/'));
    asset(
        "text/html; charset=utf-8",
        INDEX_HTML.replace("{base}", &base),
    )
}

/// `text` safe inside a double-quoted HTML attribute. A routed path has
/// none of these characters (a URI cannot hold them unescaped); this is
/// so that it stays true if that ever changes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// `/dashboard/dashboard.js`.
pub(crate) async fn script() -> Response {
    asset("text/javascript; charset=utf-8", DASHBOARD_JS)
}

/// `/dashboard/dashboard.css`.
pub(crate) async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", DASHBOARD_CSS)
}
