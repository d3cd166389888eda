//! The router: every API route is a handler with a `#[utoipa::path]`
//! registered through `utoipa_axum::routes!`, so the OpenAPI document and
//! the routes come from the same list (`openapi` serves it; a test checks
//! both ways). Then the dashboard at `/`, the problem answer for unknown
//! routes, and the guard (`auth`) in front of all of it.

use axum::extract::{OriginalUri, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Error;

use super::problem::Problem;
use super::state::AppState;
use super::{auth, dashboard, metrics, openapi, sse};

pub(crate) mod runs;
pub(crate) mod services;
pub(crate) mod system;

/// The API routes and their OpenAPI document.
pub(crate) fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(runs::list_runs, runs::launch))
        .routes(routes!(runs::get_run))
        .routes(routes!(runs::cancel))
        .routes(routes!(runs::rerun))
        .routes(routes!(runs::output))
        .routes(routes!(sse::output_stream))
        .routes(routes!(sse::events))
        .routes(routes!(metrics::get_metrics))
        .routes(routes!(system::system))
        .routes(routes!(system::halt))
        .routes(routes!(system::resume))
        .routes(routes!(system::risk_limits))
        .routes(routes!(system::schedules))
        .routes(routes!(system::enable_schedule))
        .routes(routes!(system::disable_schedule))
        .routes(routes!(system::trigger_schedule))
        .routes(routes!(system::pools))
        .routes(routes!(system::resize_pool))
        .routes(routes!(system::graphs))
        .routes(routes!(system::graph))
        .routes(routes!(services::services))
        .routes(routes!(services::service))
        .routes(routes!(services::restart_service))
        .routes(routes!(services::stop_service))
        .routes(routes!(services::start_service))
}

/// The whole router of one API.
pub(crate) fn router(state: AppState) -> axum::Router {
    let (api, doc) = api().split_for_parts();
    let doc = std::sync::Arc::new(openapi::finish(doc));
    api.route("/openapi.json", get(move || openapi::serve(doc)))
        .fallback(no_route)
        .method_not_allowed_fallback(no_route)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ))
        // After the guard: the page holds no data, and a browser must be
        // able to load it to enter the token (see `dashboard`).
        .merge(dashboard::routes())
        .with_state(state)
}

/// Unknown routes (and wrong methods) answer a problem, like every error.
async fn no_route(OriginalUri(uri): OriginalUri, request: Request) -> Response {
    Problem(Error::NoRoute {
        method: request.method().to_string(),
        path: uri.path().to_string(),
    })
    .into_response()
}
