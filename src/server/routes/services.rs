//! Supervised services: list, one by name, and restart / stop / start
//! (`Service::restart`, `stop`, `start`). An unknown name answers
//! `unknown_service` (404).

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;

use crate::Error;
use crate::server::problem::{Problem, ProblemDoc};
use crate::server::run_json;
use crate::server::state::AppState;

type Answer<T> = Result<T, Problem>;

/// One service's status.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ServiceJson {
    name: String,
    /// `starting`, `ready`, `restarting`, `failed` or `stopped`.
    state: &'static str,
    restarts: u32,
    /// Seconds since the current incarnation started (while it runs).
    uptime_secs: Option<f64>,
    /// The current incarnation's run id.
    run_id: Option<String>,
    pid: Option<u32>,
    /// RFC 3339.
    started_at: Option<String>,
    /// RFC 3339.
    ready_at: Option<String>,
    last_exit: Option<String>,
    /// Why it failed (for `failed`).
    reason: Option<String>,
}

fn service_json(s: &crate::ServiceStatus) -> ServiceJson {
    ServiceJson {
        name: s.name.clone(),
        state: s.state.as_str(),
        restarts: s.restarts,
        uptime_secs: s.uptime().map(|d| d.as_secs_f64()),
        run_id: s.run_id.map(|id| id.to_string()),
        pid: s.pid,
        started_at: s.started_at.map(run_json::time),
        ready_at: s.ready_at.map(run_json::time),
        last_exit: s.last_exit.clone(),
        reason: s.reason.clone(),
    }
}

fn find(state: &AppState, name: &str, what: &str) -> Result<crate::Service, Error> {
    state
        .live(what)?
        .observe()
        .services()
        .find(name)
        .ok_or_else(|| Error::UnknownService(name.to_string()))
}

/// Every supervised service, in supervise order.
#[utoipa::path(
    get,
    path = "/services",
    tag = "services",
    responses((status = 200, description = "services", body = [ServiceJson]))
)]
pub(crate) async fn services(State(state): State<AppState>) -> Answer<Json<Vec<ServiceJson>>> {
    let orch = state.live("GET /services")?;
    let list = orch.observe().services().list();
    Ok(Json(list.iter().map(service_json).collect()))
}

/// One service.
#[utoipa::path(
    get,
    path = "/services/{name}",
    tag = "services",
    params(("name" = String, Path)),
    responses(
        (status = 200, description = "the service", body = ServiceJson),
        (status = 404, description = "no such service", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn service(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Answer<Json<ServiceJson>> {
    let service = find(&state, &name, "GET /services/{name}")?;
    Ok(Json(service_json(&service.status())))
}

/// Restart a service now (its restart count is not charged).
#[utoipa::path(
    post,
    path = "/services/{name}/restart",
    tag = "services",
    params(("name" = String, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the service", body = ServiceJson),
        (status = 404, description = "no such service", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn restart_service(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Answer<Json<ServiceJson>> {
    let service = find(&state, &name, "POST /services/{name}/restart")?;
    service.restart().await?;
    Ok(Json(service_json(&service.status())))
}

/// Stop a service (its stop signal, grace, then SIGKILL); it stays
/// stopped until started.
#[utoipa::path(
    post,
    path = "/services/{name}/stop",
    tag = "services",
    params(("name" = String, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the service", body = ServiceJson),
        (status = 404, description = "no such service", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn stop_service(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Answer<Json<ServiceJson>> {
    let service = find(&state, &name, "POST /services/{name}/stop")?;
    service.stop().await?;
    Ok(Json(service_json(&service.status())))
}

/// Start a stopped (or failed) service again.
#[utoipa::path(
    post,
    path = "/services/{name}/start",
    tag = "services",
    params(("name" = String, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the service", body = ServiceJson),
        (status = 404, description = "no such service", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn start_service(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Answer<Json<ServiceJson>> {
    let service = find(&state, &name, "POST /services/{name}/start")?;
    service.start().await?;
    Ok(Json(service_json(&service.status())))
}
