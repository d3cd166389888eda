//! [`Guard`]: emergency halt, risk limits and circuit breaker state, and
//! the application's own supervised actors.

use taskorch_actors::{BreakerStatus, Result, RiskLimit};

use super::Orchestrator;

impl Orchestrator {
    /// The runtime's guards: emergency halt, risk limits, circuit breakers.
    pub fn guard(&self) -> Guard<'_> {
        Guard { orch: self }
    }
}

/// The runtime's guards ([`Orchestrator::guard`]): emergency halt and
/// resume, risk limits, circuit breaker state.
#[derive(Debug, Clone, Copy)]
pub struct Guard<'a> {
    orch: &'a Orchestrator,
}

impl<'a> Guard<'a> {
    /// The application's own actors under the root supervisor: start
    /// them (or a named actor group) with restart policies, listed in
    /// `system_status()`, traced and reachable by `inject_fault`. See
    /// [`supervision`](crate::supervision) and docs/actors.md.
    pub fn actors(&self) -> &'a taskorch_actors::user::UserActors {
        &self.orch.inner.actors
    }

    /// Emergency halt: cancel every unfinished run now (each process group
    /// gets SIGTERM, then SIGKILL after `kill_grace`; the runs end
    /// `Cancelled`), skip every schedule's ticks, and refuse new work with
    /// `Error::Halted { reason }` until [`resume`](Self::resume). Running
    /// workflows stop with their runs. The actors keep running; pools keep
    /// their warm workers.
    ///
    /// Returns how many runs were cancelled; `None` if the runtime was
    /// already halted (a no-op: the first reason stays).
    pub fn halt(&self, reason: impl Into<String>) -> Option<usize> {
        self.orch.inner.ctx.halt_runtime(&reason.into())
    }

    /// Accept work again after a [`halt`](Self::halt); schedules fire again
    /// from their next tick. `false` if the runtime was not halted (a
    /// no-op).
    pub fn resume(&self) -> bool {
        self.orch.inner.ctx.resume_runtime()
    }

    /// The reason of the current halt; `None` while running.
    pub fn halted(&self) -> Option<String> {
        self.orch.inner.ctx.halt().reason()
    }

    /// Check `value` against the ceiling `limit`: `Ok` when `value <=
    /// limit`. Otherwise emit `limit_exceeded`, halt the runtime first if
    /// `auto_halt`, and return the error. A NaN value counts as exceeded.
    /// For a floor (trip when the value falls below the limit) use
    /// [`check`](Self::check) with [`RiskLimit::floor`].
    ///
    /// # Errors
    /// `RiskLimitExceeded { name, value, limit, bound: Ceiling }`.
    pub fn check_limit(
        &self,
        name: impl AsRef<str>,
        value: f64,
        limit: f64,
        auto_halt: bool,
    ) -> Result<()> {
        self.orch
            .inner
            .ctx
            .check_risk(name.as_ref(), value, limit, auto_halt)
    }

    /// Check `value` against `limit`, a ceiling or a floor: `Ok` unless it
    /// trips (above a ceiling, below a floor, or NaN). Otherwise emit
    /// `limit_exceeded` (with its `bound`), halt the runtime first if the
    /// limit is [`halting`](RiskLimit::halting), and return the error.
    ///
    /// ```no_run
    /// use taskorch::guard::{Bound, RiskLimit};
    /// use taskorch::Error;
    ///
    /// # fn f(orch: &taskorch::Orchestrator) {
    /// let daily_loss = RiskLimit::floor("daily_loss", -500.0).halting();
    /// match orch.guard().check(&daily_loss, -600.0) {
    ///     Err(Error::RiskLimitExceeded { bound: Bound::Floor, .. }) => {} // halted
    ///     other => panic!("{other:?}"),
    /// }
    /// # }
    /// ```
    ///
    /// # Errors
    /// `RiskLimitExceeded { name, value, limit, bound }`; `InvalidConfig`
    /// for an empty name or a limit that is not finite.
    pub fn check(&self, limit: &RiskLimit, value: f64) -> Result<()> {
        limit.validate()?;
        self.orch.inner.ctx.check_risk_limit(limit, value)
    }

    /// Register (or replace) `limit` under its name, a ceiling or a floor,
    /// to be checked later by name
    /// ([`check_registered_limit`](Self::check_registered_limit), or a
    /// workflow's `risk_limit` block).
    ///
    /// # Errors
    /// `InvalidConfig` for an empty name or a limit that is not finite.
    pub fn register(&self, limit: RiskLimit) -> Result<()> {
        self.orch.inner.ctx.risk_limits().add(limit)
    }

    /// Register (or replace) the ceiling `name`, to be checked later by
    /// name ([`check_registered_limit`](Self::check_registered_limit), or a
    /// workflow's `risk_limit` block). For a floor use
    /// [`register`](Self::register) with [`RiskLimit::floor`].
    ///
    /// # Errors
    /// `InvalidConfig` for an empty name or a limit that is not finite.
    pub fn register_limit(&self, name: impl AsRef<str>, limit: f64, auto_halt: bool) -> Result<()> {
        self.orch
            .inner
            .ctx
            .risk_limits()
            .register(name.as_ref(), limit, auto_halt)
    }

    /// Check `value` against the registered limit `name`, on its bound.
    ///
    /// # Errors
    /// `RiskLimitExceeded` as [`check_limit`](Self::check_limit);
    /// `InvalidConfig` if no limit is registered under `name`.
    pub fn check_registered_limit(&self, name: impl AsRef<str>, value: f64) -> Result<()> {
        self.orch
            .inner
            .ctx
            .check_registered_risk(name.as_ref(), value)
    }

    /// Every registered risk limit, by name.
    pub fn risk_limits(&self) -> Vec<RiskLimit> {
        self.orch.inner.ctx.risk_limits().list()
    }

    /// Every circuit breaker's state, by key (also in
    /// [`Orchestrator::system_status`]).
    pub fn breakers(&self) -> Vec<BreakerStatus> {
        self.orch.inner.ctx.breakers().status()
    }
}
