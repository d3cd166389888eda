//! Errors as `application/problem+json` (RFC 9457): every error a route
//! answers is one of the crate's [`Error`] variants, and the document
//! carries its [`kind`](Error::kind), so a client can branch on it:
//!
//! ```json
//! {"type":"https://docs.rs/taskorch/latest/taskorch/enum.Error.html",
//!  "title":"unknown_run","status":404,"kind":"unknown_run",
//!  "detail":"unknown run 0197…"}
//! ```

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::Error;

/// The media type of a problem document.
pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

/// An [`Error`] as an HTTP answer.
#[derive(Debug)]
pub(crate) struct Problem(pub(crate) Error);

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        Problem(e)
    }
}

/// The body of a problem answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ProblemDoc {
    /// A link to the error type's documentation.
    #[serde(rename = "type")]
    kind_uri: &'static str,
    /// The error's kind (as `kind`).
    title: &'static str,
    /// The HTTP status.
    status: u16,
    /// `Error::kind()`: `unknown_run`, `bad_request`, `unauthorized`, ...
    kind: &'static str,
    /// The error's message.
    detail: String,
}

/// The HTTP status for `e`: the client's mistakes are 4xx, the runtime's
/// own trouble 5xx.
pub(crate) fn status(e: &Error) -> StatusCode {
    match e {
        Error::UnknownRun(_)
        | Error::UnknownSchedule(_)
        | Error::UnknownWorkflow(_)
        | Error::UnknownQueue(_)
        | Error::UnknownAction(_)
        | Error::UnknownGraph(_)
        | Error::UnknownService(_)
        | Error::NoRoute { .. } => StatusCode::NOT_FOUND,
        Error::UnresolvedRunId { matches: 0, .. } => StatusCode::NOT_FOUND,
        Error::UnresolvedRunId { .. }
        | Error::BadRequest { .. }
        | Error::InvalidTask(_)
        | Error::InvalidDuration { .. }
        | Error::InvalidKey { .. }
        | Error::InvalidLabel { .. }
        | Error::InvalidQueue { .. }
        | Error::InvalidSchedule { .. }
        | Error::InvalidConfig(_)
        | Error::NotFound { .. }
        | Error::PermissionDenied { .. } => StatusCode::BAD_REQUEST,
        Error::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
        Error::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        Error::QueryTooLarge { .. } => StatusCode::URI_TOO_LONG,
        Error::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
        Error::ReadOnly { .. } => StatusCode::METHOD_NOT_ALLOWED,
        Error::RunStillActive(_)
        | Error::TaskNotKept { .. }
        | Error::DuplicateSchedule(_)
        | Error::PoolExists(_)
        | Error::Halted { .. }
        | Error::RiskLimitExceeded { .. } => StatusCode::CONFLICT,
        Error::QueueFull { .. } | Error::CircuitOpen { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::ShuttingDown | Error::PoolUnavailable(_) | Error::StoreUnavailable { .. } => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = status(&self.0);
        let doc = ProblemDoc {
            kind_uri: "https://docs.rs/taskorch/latest/taskorch/enum.Error.html",
            title: self.0.kind(),
            status: status.as_u16(),
            kind: self.0.kind(),
            detail: self.0.to_string(),
        };
        // Plain data: serializing it cannot fail.
        let body = serde_json::to_vec(&doc).unwrap_or_default();
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if matches!(self.0, Error::Unauthorized { .. }) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"taskorch\""),
            );
        }
        response
    }
}
