//! `GET /openapi.json`: the OpenAPI 3.1 document, generated from the
//! handlers' `#[utoipa::path]` attributes (see `routes`), plus the bearer
//! scheme and the routes outside the API list (`/`, `/openapi.json`).

use std::sync::Arc;

use axum::Json;
use utoipa::OpenApi;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Components, ContentBuilder, ResponseBuilder};

#[derive(OpenApi)]
#[openapi(info(
    title = "taskorch",
    description = "Runs, live event and output streams, metrics and control of a taskorch orchestrator. \
                   Errors are application/problem+json with the error's `kind`."
))]
struct Base;

/// The document the routes are added to.
pub(crate) fn base() -> utoipa::openapi::OpenApi {
    Base::openapi()
}

fn page(description: &str, content_type: &str) -> PathItem {
    let response = ResponseBuilder::new()
        .description(description)
        .content(content_type, ContentBuilder::new().build())
        .build();
    PathItem::new(
        HttpMethod::Get,
        OperationBuilder::new().response("200", response).build(),
    )
}

/// Add what `routes!` does not list: the bearer scheme, `/` and
/// `/openapi.json` itself.
pub(crate) fn finish(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let components = doc.components.get_or_insert_with(Components::new);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    doc.paths
        .paths
        .insert("/".to_string(), page("the dashboard", "text/html"));
    doc.paths.paths.insert(
        "/openapi.json".to_string(),
        page("this document", "application/json"),
    );
    doc
}

/// The handler of `/openapi.json`.
pub(crate) async fn serve(doc: Arc<utoipa::openapi::OpenApi>) -> Json<utoipa::openapi::OpenApi> {
    Json((*doc).clone())
}
