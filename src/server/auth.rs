//! The guard every request passes before its route: the query's size, the
//! path's form, and the bearer token.
//!
//! Reads (`GET`, `HEAD`) are open unless `token_for_reads` (every
//! non-loopback bind); everything else needs the token unless the client
//! is on a loopback address and `loopback_writes` is on. The token is
//! compared in constant time (`subtle`), so the time of a refusal tells
//! nothing about how much of a guess was right.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::Error;

use super::problem::Problem;
use super::state::AppState;

/// The middleware (`axum::middleware::from_fn_with_state`).
pub(crate) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match check(&state, &request) {
        Ok(()) => next.run(request).await,
        Err(e) => {
            if matches!(e, Error::Unauthorized { .. }) {
                state.metrics.unauthorized();
            }
            Problem(e).into_response()
        }
    }
}

fn check(state: &AppState, request: &Request) -> Result<(), Error> {
    let config = &state.config;
    if let Some(query) = request.uri().query()
        && query.len() > config.max_query
    {
        return Err(Error::QueryTooLarge {
            len: query.len(),
            limit: config.max_query,
        });
    }
    check_path(request.uri().path())?;
    let reading = matches!(*request.method(), Method::GET | Method::HEAD);
    let needs_token = if reading {
        config.token_for_reads
    } else {
        !(config.loopback_writes && from_loopback(request))
    };
    if !needs_token {
        return Ok(());
    }
    let Some(expected) = config.token.as_deref() else {
        return Err(Error::Unauthorized {
            reason: "this route needs a bearer token, and the server has none configured \
                     (set TASKORCH_HTTP_TOKEN)"
                .to_string(),
        });
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| Error::Unauthorized {
            reason: "missing Authorization: Bearer header".to_string(),
        })?;
    let given = given
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| Error::Unauthorized {
            reason: "the Authorization header is not `Bearer TOKEN`".to_string(),
        })?;
    if bool::from(given.trim().as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(Error::Unauthorized {
            reason: "wrong bearer token".to_string(),
        })
    }
}

/// Refuse `.` and `..` segments, raw or percent-encoded, and encoded
/// slashes or NULs: no route has them, and a proxy in front might
/// normalise them into another route than the one we see.
fn check_path(path: &str) -> Result<(), Error> {
    let lower = path.to_ascii_lowercase();
    let bad_encoding = ["%2f", "%5c", "%00"].iter().any(|e| lower.contains(e));
    let dot_segment = lower.split('/').any(|segment| {
        let decoded = segment.replace("%2e", ".");
        decoded == "." || decoded == ".."
    });
    if bad_encoding || dot_segment || path.contains('\\') {
        return Err(Error::BadRequest {
            what: "path".to_string(),
            reason: format!("{path:?} has a dot segment or an encoded separator"),
        });
    }
    Ok(())
}

fn from_loopback(request: &Request) -> bool {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(peer)| peer.ip().is_loopback())
}

#[cfg(test)]
mod tests {
    use super::check_path;

    #[test]
    fn dot_segments_and_encoded_separators_are_refused() {
        for bad in [
            "/runs/..",
            "/runs/../metrics",
            "/runs/%2e%2e/x",
            "/runs/%2E./x",
            "/./runs",
            "/runs/a%2fb",
            "/runs/%00",
            "/runs\\x",
        ] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
        for good in [
            "/",
            "/runs",
            "/runs/0197b2c4-8a2e-7c31-9a55-3f1d2e4b6a70",
            "/runs/..x",
        ] {
            assert!(check_path(good).is_ok(), "{good}");
        }
    }
}
