//! [`Service`]: the handle of one supervised service. It reads the
//! service's cell and sends its keeper messages; it never holds the
//! incarnation itself.

use std::sync::Arc;

use tokio::sync::oneshot;

use super::keeper::{Control, StopBy};
use super::spec::ServiceSpec;
use super::status::{ServiceState, ServiceStatus};
use super::{Cell, status_of};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::lines::OutputSubscription;

/// A handle to one supervised service. Cheap to clone; dropping it does
/// not stop the service.
#[derive(Clone)]
pub struct Service {
    cell: Arc<Cell>,
    ctx: Arc<Context>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("name", &self.cell.spec.name)
            .field("state", &self.cell.status.borrow().state)
            .finish()
    }
}

impl Service {
    pub(super) fn new(cell: Arc<Cell>, ctx: Arc<Context>) -> Self {
        Service { cell, ctx }
    }

    /// End the keeper of a removed service.
    pub(super) fn forget(&self) {
        self.cell.send(Control::Forget);
    }

    /// The service's name.
    pub fn name(&self) -> &str {
        &self.cell.spec.name
    }

    /// The service's spec.
    pub fn spec(&self) -> &ServiceSpec {
        &self.cell.spec
    }

    /// A snapshot of its state, restarts, current run and pid.
    pub fn status(&self) -> ServiceStatus {
        status_of(&self.cell)
    }

    /// Wait until it is ready.
    ///
    /// # Errors
    /// `ReadinessTimedOut` (naming the probe) if its readiness probe did
    /// not succeed within the start timeout; `ServiceFailed` if it gave up;
    /// `ServiceStopped` if it was stopped.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future only stops waiting.
    pub async fn wait_ready(&self) -> Result<()> {
        let mut watch = self.cell.status.subscribe();
        loop {
            let state = watch.borrow_and_update().state;
            match state {
                ServiceState::Ready => return Ok(()),
                ServiceState::Failed | ServiceState::Stopped => {
                    return Err(self
                        .cell
                        .failure
                        .lock()
                        .clone()
                        .unwrap_or_else(|| Error::ServiceStopped(self.name().to_string())));
                }
                ServiceState::Starting | ServiceState::Restarting => {}
            }
            if watch.changed().await.is_err() {
                return Err(Error::ServiceStopped(self.name().to_string()));
            }
        }
    }

    /// Stop it: its group gets the stop signal, `stop_grace`, then
    /// SIGKILL; it stays `Stopped` (a restart policy does not apply) until
    /// [`start`](Self::start).
    ///
    /// # Errors
    /// `ShuttingDown` if the runtime is gone.
    pub async fn stop(&self) -> Result<()> {
        self.ask(|done| Control::Stop {
            by: StopBy::User,
            reason: Some("stopped by request".into()),
            done: Some(done),
        })
        .await
    }

    /// Start it again after a stop or a failure (its restart window is
    /// cleared; a failed service is failed no longer). Starting a running
    /// service does nothing.
    ///
    /// # Errors
    /// `ShuttingDown` if the runtime is gone.
    pub async fn start(&self) -> Result<()> {
        self.ctx.shutdown().check()?;
        self.ask(|done| Control::Start { done: Some(done) }).await
    }

    /// Stop the current incarnation (stop signal, grace, SIGKILL) and
    /// start a new one at once; a stopped or failed service is started.
    /// Returns once the new incarnation is on its way (not ready: see
    /// [`wait_ready`](Self::wait_ready)).
    ///
    /// # Errors
    /// `ShuttingDown` if the runtime is gone.
    pub async fn restart(&self) -> Result<()> {
        self.ctx.shutdown().check()?;
        self.ask(|done| Control::Restart { done: Some(done) }).await
    }

    /// The output of the current incarnation, from its first line kept.
    ///
    /// # Errors
    /// `UnknownService` while no incarnation has started; `InvalidService`
    /// for an action service (it writes no lines).
    pub fn subscribe_output(&self) -> Result<OutputSubscription> {
        if !self.cell.spec.is_command() {
            return Err(Error::InvalidService {
                service: self.name().to_string(),
                reason: "an action service writes no output lines".into(),
            });
        }
        let record = self
            .cell
            .current
            .lock()
            .clone()
            .ok_or_else(|| Error::UnknownService(self.name().to_string()))?;
        Ok(record.subscribe_output(self.ctx.limits().lines))
    }

    async fn ask(&self, control: impl FnOnce(oneshot::Sender<()>) -> Control) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.cell
            .control
            .send(control(tx))
            .map_err(|_| Error::ShuttingDown)?;
        rx.await.map_err(|_| Error::ShuttingDown)
    }
}
