//! The run resources: list, launch, one run, cancel, rerun, output.
//! A run is the JSON of `run_json` (the shape of `taskorch runs --json`);
//! `{id}` is a full id or a unique suffix of at least 6 hex digits, as
//! the CLI takes them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::{Error, Priority, RunId, RunQuery, RunStatus, Task};

use crate::server::problem::{Problem, ProblemDoc};
use crate::server::run_json::{self, Run};
use crate::server::state::AppState;

type Answer<T> = Result<T, Problem>;

fn bad(what: &str, reason: impl Into<String>) -> Error {
    Error::BadRequest {
        what: what.to_string(),
        reason: reason.into(),
    }
}

/// `GET /runs`'s query parameters, as pairs (repeatable `label`); an
/// unknown one is refused, not ignored: a typo must not widen a filter.
pub(crate) fn runs_query(
    pairs: &[(String, String)],
    max_page: usize,
) -> Result<(RunQuery, usize, usize), Error> {
    let mut query = RunQuery::new();
    let mut limit = 100.min(max_page);
    let mut offset = 0usize;
    for (name, value) in pairs {
        match name.as_str() {
            "status" => {
                for one in value.split(',') {
                    let status: RunStatus = one.parse().map_err(|e: String| bad("status", e))?;
                    query = query.status(status);
                }
            }
            "dead" => match value.as_str() {
                "true" | "1" | "" => query = query.dead_letter(),
                "false" | "0" => {}
                other => return Err(bad("dead", format!("{other:?} is not true or false"))),
            },
            "name" => query = query.name(value),
            "prefix" | "name_prefix" => query = query.name_prefix(value),
            "key" => query = query.key(value),
            "label" => {
                let (k, v) = value
                    .split_once('=')
                    .ok_or_else(|| bad("label", format!("{value:?} is not k=v")))?;
                query = query.label(k, v);
            }
            "pattern" => {
                let pattern: crate::Pattern =
                    value.parse().map_err(|e: String| bad("pattern", e))?;
                query = query.pattern(pattern);
            }
            "since" => query = query.since(time(value, "since")?),
            "until" => query = query.until(time(value, "until")?),
            "limit" => {
                limit = value
                    .parse::<usize>()
                    .map_err(|e| bad("limit", format!("{value:?}: {e}")))?;
                if limit > max_page {
                    return Err(bad(
                        "limit",
                        format!("{limit} is over the page limit of {max_page}"),
                    ));
                }
            }
            "offset" => {
                offset = value
                    .parse::<usize>()
                    .map_err(|e| bad("offset", format!("{value:?}: {e}")))?;
            }
            other => return Err(bad("query", format!("unknown parameter {other:?}"))),
        }
    }
    let window = limit
        .checked_add(offset)
        .ok_or_else(|| bad("offset", "too large"))?;
    Ok((query.most_recent(window), limit, offset))
}

fn time(value: &str, what: &str) -> Result<SystemTime, Error> {
    humantime::parse_rfc3339_weak(value)
        .map_err(|e| bad(what, format!("{value:?} is not an RFC 3339 time: {e}")))
}

/// A run with its short id among `all`.
fn run_json(d: &run_json::RunDetails, all: &[RunId]) -> serde_json::Value {
    let short = run_json::short(d.info.id, all);
    // Plain data: converting it cannot fail.
    serde_json::to_value(Run::new(d, short)).unwrap_or_default()
}

/// List runs, newest first.
#[utoipa::path(
    get,
    path = "/runs",
    tag = "runs",
    params(
        ("status" = Option<String>, Query, description = "queued, running, succeeded, failed, cancelled, timed_out, interrupted (comma-separated or repeated: any of them)"),
        ("label" = Option<String>, Query, description = "k=v; repeatable: runs carrying every one"),
        ("key" = Option<String>, Query, description = "the task's key"),
        ("name" = Option<String>, Query, description = "exact name"),
        ("prefix" = Option<String>, Query, description = "name prefix"),
        ("pattern" = Option<String>, Query, description = "simple, long_running, concurrent, fire_and_forget, periodic, pooled"),
        ("since" = Option<String>, Query, description = "accepted at or after (RFC 3339)"),
        ("until" = Option<String>, Query, description = "accepted before (RFC 3339)"),
        ("dead" = Option<bool>, Query, description = "only dead letters"),
        ("limit" = Option<usize>, Query, description = "page size (default 100, at most the server's page limit)"),
        ("offset" = Option<usize>, Query, description = "runs to skip"),
    ),
    responses(
        (status = 200, description = "runs, newest first", body = [Run]),
        (status = 400, description = "bad parameter", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_runs(
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>,
) -> Answer<Json<Vec<serde_json::Value>>> {
    let Query(pairs) = query.map_err(|e| bad("query", e.body_text()))?;
    let (query, limit, offset) = runs_query(&pairs, state.config.max_page)?;
    let runs: Vec<_> = state
        .history(&query)?
        .into_iter()
        .skip(offset)
        .take(limit)
        .collect();
    let details = state.list_details(runs);
    let all = state.all_ids()?;
    Ok(Json(details.iter().map(|d| run_json(d, &all)).collect()))
}

/// One run.
#[utoipa::path(
    get,
    path = "/runs/{id}",
    tag = "runs",
    params(("id" = String, Path, description = "full run id, or a unique suffix of 6+ hex digits")),
    responses(
        (status = 200, description = "the run", body = Run),
        (status = 400, description = "not a run id", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "no such run", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_run(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Answer<Json<serde_json::Value>> {
    let id = state.resolve(&id)?;
    let details = state.details(id).await?;
    Ok(Json(run_json(&details, &state.all_ids()?)))
}

/// A task to launch: the keys of a jobs-file entry.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TaskBody {
    /// The run's name (default: the program, or `sh`).
    name: Option<String>,
    /// Program and arguments, no shell. Exactly one of `command`, `shell`.
    command: Option<Vec<String>>,
    /// A script for `sh -c`.
    shell: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[schema(value_type = Option<String>)]
    cwd: Option<PathBuf>,
    /// A human duration: `30s`, `2h`.
    timeout: Option<String>,
    #[serde(default)]
    retries: u32,
    /// `Task::key`: a launch whose key names a live run answers that run.
    key: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    /// `low`, `normal`, `high`, `critical`.
    priority: Option<String>,
    /// A declared queue.
    queue: Option<String>,
    /// Start no earlier than this long from now (human duration).
    start_after: Option<String>,
    /// Start no earlier than this time (RFC 3339).
    start_at: Option<String>,
    /// Standard input, as text.
    stdin: Option<String>,
}

impl TaskBody {
    fn task(self) -> Result<Task, Error> {
        let mut task = match (self.command, self.shell) {
            (Some(argv), None) => match argv.split_first() {
                Some((program, args)) => Task::command(program).args(args.iter().cloned()),
                None => return Err(bad("command", "an empty list: name the program")),
            },
            (None, Some(script)) => Task::shell(script),
            (Some(_), Some(_)) => return Err(bad("body", "give `command` or `shell`, not both")),
            (None, None) => {
                return Err(bad("body", "give `command` (a list) or `shell` (a script)"));
            }
        };
        if let Some(name) = self.name {
            task = task.name(name);
        }
        for (k, v) in self.env {
            task = task.env(k, v);
        }
        if let Some(dir) = self.cwd {
            task = task.current_dir(dir);
        }
        if let Some(limit) = self.timeout {
            task = task.timeout(duration(&limit, "timeout")?);
        }
        task = task.retries(self.retries);
        if let Some(key) = self.key {
            task = task.key(key);
        }
        for (k, v) in self.labels {
            task = task.label(k, v);
        }
        if let Some(p) = self.priority {
            task = task.priority(match p.as_str() {
                "low" => Priority::Low,
                "normal" => Priority::Normal,
                "high" => Priority::High,
                "critical" => Priority::Critical,
                other => {
                    return Err(bad(
                        "priority",
                        format!("{other:?}: expected low, normal, high or critical"),
                    ));
                }
            });
        }
        if let Some(queue) = self.queue {
            task = task.queue(queue);
        }
        match (self.start_after, self.start_at) {
            (Some(_), Some(_)) => {
                return Err(bad("body", "give `start_after` or `start_at`, not both"));
            }
            (Some(after), None) => task = task.start_after(duration(&after, "start_after")?),
            (None, Some(at)) => task = task.start_at(time(&at, "start_at")?),
            (None, None) => {}
        }
        if let Some(stdin) = self.stdin {
            task = task.stdin(stdin.into_bytes());
        }
        task.validate()?;
        Ok(task)
    }
}

fn duration(text: &str, what: &str) -> Result<std::time::Duration, Error> {
    humantime::parse_duration(text)
        .map_err(|e| bad(what, format!("{text:?}: {e} (try 30s, 2h, 250ms)")))
}

/// Read a JSON body within the server's size and time bounds.
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    state: &AppState,
    body: Body,
) -> Result<T, Error> {
    let limit = state.config.max_body;
    let read = async {
        let mut bytes = Vec::new();
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| bad("body", e.to_string()))?;
            if bytes.len() + chunk.len() > limit {
                return Err(Error::BodyTooLarge { limit });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    };
    let after = state.config.body_timeout;
    let bytes = tokio::time::timeout(after, read)
        .await
        .map_err(|_| Error::RequestTimeout { after })??;
    serde_json::from_slice(&bytes).map_err(|e| bad("body", e.to_string()))
}

/// What a launch answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Launched {
    /// The run's id (an existing run's when the task's key named a live one).
    #[schema(value_type = String)]
    id: RunId,
}

/// Launch a task (fire and forget); answers its run id.
#[utoipa::path(
    post,
    path = "/runs",
    tag = "runs",
    request_body = TaskBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "launched", body = Launched),
        (status = 400, description = "malformed JSON, unknown field, wrong type, invalid task", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "missing or wrong token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 413, description = "body too large", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn launch(State(state): State<AppState>, body: Body) -> Answer<Response> {
    let orch = state.live("POST /runs")?;
    let task = read_json::<TaskBody>(&state, body).await?.task()?;
    let id = orch.launch(task).await?;
    let mut response = (StatusCode::CREATED, Json(Launched { id })).into_response();
    if let Ok(location) = format!("/runs/{id}").parse() {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Cancel a run; answers the run (it may still be stopping).
#[utoipa::path(
    post,
    path = "/runs/{id}/cancel",
    tag = "runs",
    params(("id" = String, Path, description = "full run id, or a unique suffix")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "cancel requested (a finished run is left as it is)", body = Run),
        (status = 404, description = "no such run", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Answer<Json<serde_json::Value>> {
    let orch = state.live("POST /runs/{id}/cancel")?;
    let id = state.resolve(&id)?;
    orch.cancel(id).await?;
    let details = state.details(id).await?;
    Ok(Json(run_json(&details, &state.all_ids()?)))
}

/// What a rerun answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Rerun {
    /// The new run.
    #[schema(value_type = String)]
    id: RunId,
    /// The run it reruns.
    #[schema(value_type = String)]
    rerun_of: RunId,
}

/// Run a finished run's task again, as a new run.
#[utoipa::path(
    post,
    path = "/runs/{id}/rerun",
    tag = "runs",
    params(("id" = String, Path, description = "full run id, or a unique suffix")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "the new run", body = Rerun),
        (status = 404, description = "no such run", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "still running, or its task is not kept", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn rerun(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Answer<Response> {
    let orch = state.live("POST /runs/{id}/rerun")?;
    let old = state.resolve(&id)?;
    let id = orch.rerun(old).await?;
    Ok((StatusCode::CREATED, Json(Rerun { id, rerun_of: old })).into_response())
}

/// One output line with when it was captured.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Line {
    /// `stdout` or `stderr`.
    #[schema(value_type = String)]
    stream: crate::StreamKind,
    /// The line's position in the run's output.
    seq: u64,
    /// The line, without its newline.
    text: String,
    /// RFC 3339, when known.
    time: Option<String>,
}

impl Line {
    pub(crate) fn new(line: crate::OutputLine, time: Option<SystemTime>) -> Line {
        Line {
            stream: line.stream,
            seq: line.seq,
            text: line.text,
            time: time.map(run_json::time),
        }
    }

    /// The line's position in the run's output.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }
}

/// A page of output.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct OutputPage {
    lines: Vec<Line>,
    /// Lines the ring no longer holds (older than the first one kept).
    dropped: u64,
    /// `after` for the next page; `null` when this page reached the end.
    next: Option<u64>,
}

/// `GET /runs/{id}/output` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct OutputQuery {
    /// Only lines with `seq` greater than this.
    after: Option<u64>,
    /// At most this many lines (default 1000, at most 10000).
    limit: Option<usize>,
}

/// Most lines one output page holds.
const MAX_LINES: usize = 10_000;

/// A run's output lines, paged by `seq`.
#[utoipa::path(
    get,
    path = "/runs/{id}/output",
    tag = "runs",
    params(("id" = String, Path, description = "full run id, or a unique suffix"), OutputQuery),
    responses(
        (status = 200, description = "a page of lines", body = OutputPage),
        (status = 404, description = "no such run", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn output(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<OutputQuery>, axum::extract::rejection::QueryRejection>,
) -> Answer<Json<OutputPage>> {
    let Query(query) = query.map_err(|e| bad("query", e.body_text()))?;
    let limit = query.limit.unwrap_or(1000);
    if limit > MAX_LINES {
        return Err(bad("limit", format!("{limit} is over {MAX_LINES}")).into());
    }
    let id = state.resolve(&id)?;
    let (lines, times, dropped) = match &state.backend {
        crate::server::state::Backend::Live(orch) => {
            if let Some(timed) = orch.observe().timed_output(id) {
                (timed.output.lines, timed.times, timed.output.dropped)
            } else {
                let run = orch.observe().stored_run(id).ok_or(Error::UnknownRun(id))?;
                (run.lines.lines, run.line_times, run.lines.dropped)
            }
        }
        crate::server::state::Backend::Stored(store) => {
            let run = store.stored_run(id).ok_or(Error::UnknownRun(id))?;
            (run.lines.lines, run.line_times, run.lines.dropped)
        }
    };
    let after = query.after;
    let mut page: Vec<Line> = lines
        .into_iter()
        .enumerate()
        .filter(|(_, l)| after.is_none_or(|a| l.seq > a))
        .take(limit + 1)
        .map(|(i, l)| Line::new(l, times.get(i)))
        .collect();
    let next = if page.len() > limit {
        page.truncate(limit);
        page.last().map(|l| l.seq)
    } else {
        None
    };
    Ok(Json(OutputPage {
        lines: page,
        dropped,
        next,
    }))
}
