//! The runtime's other resources: its status (actors, breakers, halt),
//! halt and resume, risk limits, schedules (list, enable, disable,
//! trigger now), pools (stats, resize), task graphs (list; one with its
//! tasks, their states and edges).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::schedule::Triggered;

use super::runs::read_json;
use crate::server::problem::{Problem, ProblemDoc};
use crate::server::run_json;
use crate::server::state::AppState;

type Answer<T> = Result<T, Problem>;

/// The actor tree, breakers and halt (`Orchestrator::system_status`).
#[utoipa::path(
    get,
    path = "/system",
    tag = "system",
    responses(
        (status = 200, description = "SystemStatus as JSON", body = Object),
        (status = 503, description = "shutting down", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn system(State(state): State<AppState>) -> Answer<Json<crate::SystemStatus>> {
    let orch = state.live("GET /system")?;
    Ok(Json(orch.system_status().await?))
}

/// `POST /halt`'s body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HaltBody {
    /// Why (shown in `Error::Halted`).
    reason: String,
}

/// What halt and resume answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct HaltState {
    /// The current halt's reason; `null` while running.
    halted: Option<String>,
    /// Whether this request changed anything.
    changed: bool,
    /// Runs the halt cancelled.
    cancelled: usize,
}

/// Halt the runtime: refuse new work, cancel what runs.
#[utoipa::path(
    post,
    path = "/halt",
    tag = "system",
    request_body = HaltBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "halted (or already)", body = HaltState),
        (status = 400, description = "bad body", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn halt(State(state): State<AppState>, body: Body) -> Answer<Json<HaltState>> {
    let orch = state.live("POST /halt")?;
    let body: HaltBody = read_json(&state, body).await?;
    let cancelled = orch.guard().halt(body.reason);
    Ok(Json(HaltState {
        halted: orch.guard().halted(),
        changed: cancelled.is_some(),
        cancelled: cancelled.unwrap_or(0),
    }))
}

/// Resume after a halt.
#[utoipa::path(
    post,
    path = "/resume",
    tag = "system",
    security(("bearer" = [])),
    responses((status = 200, description = "running", body = HaltState))
)]
pub(crate) async fn resume(State(state): State<AppState>) -> Answer<Json<HaltState>> {
    let orch = state.live("POST /resume")?;
    let changed = orch.guard().resume();
    Ok(Json(HaltState {
        halted: orch.guard().halted(),
        changed,
        cancelled: 0,
    }))
}

/// The registered risk limits.
#[utoipa::path(
    get,
    path = "/risk-limits",
    tag = "system",
    responses((status = 200, description = "RiskLimit list as JSON", body = [Object]))
)]
pub(crate) async fn risk_limits(
    State(state): State<AppState>,
) -> Answer<Json<Vec<crate::guard::RiskLimit>>> {
    let orch = state.live("GET /risk-limits")?;
    Ok(Json(orch.guard().risk_limits()))
}

/// One schedule.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ScheduleJson {
    name: String,
    enabled: bool,
    runs: u64,
    failures: u64,
    skipped: u64,
    missed: u64,
    in_flight: u32,
    /// RFC 3339.
    next_due: Option<String>,
    /// The last run's id.
    last_run: Option<String>,
}

fn schedule_json(s: &crate::Schedule) -> ScheduleJson {
    let info = s.info();
    ScheduleJson {
        name: s.name().to_string(),
        enabled: info.enabled,
        runs: info.runs,
        failures: info.failures,
        skipped: info.skipped,
        missed: info.missed,
        in_flight: info.in_flight,
        next_due: info.next_due.map(run_json::time),
        last_run: info.last.map(|r| r.id.to_string()),
    }
}

/// Every schedule.
#[utoipa::path(
    get,
    path = "/schedules",
    tag = "schedules",
    responses((status = 200, description = "schedules", body = [ScheduleJson]))
)]
pub(crate) async fn schedules(State(state): State<AppState>) -> Answer<Json<Vec<ScheduleJson>>> {
    let orch = state.live("GET /schedules")?;
    let list = orch.observe().schedules().list();
    Ok(Json(list.iter().map(schedule_json).collect()))
}

fn find_schedule(state: &AppState, name: &str, what: &str) -> Result<crate::Schedule, Error> {
    state
        .live(what)?
        .observe()
        .schedules()
        .find(name)
        .ok_or_else(|| Error::UnknownSchedule(name.to_string()))
}

/// Enable a schedule.
#[utoipa::path(
    post,
    path = "/schedules/{name}/enable",
    tag = "schedules",
    params(("name" = String, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the schedule", body = ScheduleJson),
        (status = 404, description = "no such schedule", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn enable_schedule(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Answer<Json<ScheduleJson>> {
    let schedule = find_schedule(&state, &name, "POST /schedules/{name}/enable")?;
    schedule.enable().await?;
    Ok(Json(schedule_json(&schedule)))
}

/// Disable a schedule.
#[utoipa::path(
    post,
    path = "/schedules/{name}/disable",
    tag = "schedules",
    params(("name" = String, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the schedule", body = ScheduleJson),
        (status = 404, description = "no such schedule", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn disable_schedule(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Answer<Json<ScheduleJson>> {
    let schedule = find_schedule(&state, &name, "POST /schedules/{name}/disable")?;
    schedule.disable().await?;
    Ok(Json(schedule_json(&schedule)))
}

/// What a manual trigger did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TriggerJson {
    /// `started`, `queued` or `skipped`.
    outcome: &'static str,
    /// The run started, or the one in flight that caused a skip.
    run_id: Option<String>,
}

/// Fire a schedule now.
#[utoipa::path(
    post,
    path = "/schedules/{name}/trigger",
    tag = "schedules",
    params(("name" = String, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "what happened", body = TriggerJson),
        (status = 404, description = "no such schedule", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn trigger_schedule(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Answer<Json<TriggerJson>> {
    let schedule = find_schedule(&state, &name, "POST /schedules/{name}/trigger")?;
    let answer = match schedule.trigger_now().await? {
        Triggered::Started(id) => TriggerJson {
            outcome: "started",
            run_id: Some(id.to_string()),
        },
        Triggered::Queued => TriggerJson {
            outcome: "queued",
            run_id: None,
        },
        Triggered::Skipped { running } => TriggerJson {
            outcome: "skipped",
            run_id: running.map(|id| id.to_string()),
        },
    };
    Ok(Json(answer))
}

/// One pool.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PoolJson {
    name: String,
    /// `PoolStats` as JSON.
    #[schema(value_type = Object)]
    stats: crate::PoolStats,
}

/// Every pool with its stats.
#[utoipa::path(
    get,
    path = "/pools",
    tag = "pools",
    responses((status = 200, description = "pools", body = [PoolJson]))
)]
pub(crate) async fn pools(State(state): State<AppState>) -> Answer<Json<Vec<PoolJson>>> {
    let orch = state.live("GET /pools")?;
    let pools = orch.observe().pools();
    Ok(Json(
        pools
            .names()
            .into_iter()
            .filter_map(|name| {
                let stats = pools.find(&name)?.stats();
                Some(PoolJson { name, stats })
            })
            .collect(),
    ))
}

/// `POST /pools/{name}/resize`'s body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResizeBody {
    /// The new number of workers.
    workers: usize,
}

/// Resize a pool.
#[utoipa::path(
    post,
    path = "/pools/{name}/resize",
    tag = "pools",
    params(("name" = String, Path)),
    request_body = ResizeBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the pool", body = PoolJson),
        (status = 404, description = "no such pool", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn resize_pool(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Body,
) -> Answer<Json<PoolJson>> {
    let orch = state.live("POST /pools/{name}/resize")?;
    let body: ResizeBody = read_json(&state, body).await?;
    let pool = orch
        .observe()
        .pools()
        .find(&name)
        .ok_or_else(|| Error::PoolUnavailable(format!("no pool named {name:?}")))?;
    pool.resize(body.workers).await?;
    Ok(Json(PoolJson {
        name,
        stats: pool.stats(),
    }))
}

/// Every graph the orchestrator knows of (`graphs().list()`).
#[utoipa::path(
    get,
    path = "/graphs",
    tag = "graphs",
    responses((status = 200, description = "GraphInfo list as JSON", body = [Object]))
)]
pub(crate) async fn graphs(
    State(state): State<AppState>,
) -> Answer<Json<Vec<crate::graph::GraphInfo>>> {
    let orch = state.live("GET /graphs")?;
    Ok(Json(orch.graphs().list()))
}

/// One task of a graph, with its edges.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct GraphTaskJson {
    name: String,
    /// pending, ready, running, succeeded, failed, ... (`TaskStatus`)
    #[schema(value_type = String)]
    status: crate::graph::TaskStatus,
    /// The names of the tasks it waits for.
    depends_on: Vec<String>,
    /// Its run, once it has one.
    run_id: Option<String>,
    attempts: u32,
    error: Option<String>,
    tags: Vec<String>,
}

/// A graph with its tasks (for drawing it as a DAG with live states).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct GraphJson {
    #[schema(value_type = Object)]
    info: crate::graph::GraphInfo,
    tasks: Vec<GraphTaskJson>,
}

/// One graph and its tasks.
#[utoipa::path(
    get,
    path = "/graphs/{id}",
    tag = "graphs",
    params(("id" = u64, Path, description = "the graph's id (`GET /graphs`)")),
    responses(
        (status = 200, description = "the graph", body = GraphJson),
        (status = 400, description = "not a graph id", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "no such graph", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn graph(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Answer<Json<GraphJson>> {
    let orch = state.live("GET /graphs/{id}")?;
    let number: u64 = id.parse().map_err(|e| Error::BadRequest {
        what: "id".to_string(),
        reason: format!("{id:?} is not a graph id: {e}"),
    })?;
    let run = orch
        .graphs()
        .find(number)
        .ok_or(Error::UnknownGraph(number))?;
    let tasks = run
        .results()
        .into_iter()
        .map(|r| GraphTaskJson {
            depends_on: run
                .dependencies(r.key)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|d| run.name(d).map(str::to_string))
                .collect(),
            run_id: r.output.as_ref().map(|o| o.run_id.to_string()),
            name: r.name,
            status: r.status,
            attempts: r.attempts,
            error: r.error_message,
            tags: r.tags,
        })
        .collect();
    Ok(Json(GraphJson {
        info: run.info(),
        tasks,
    }))
}
