//! Per-agent write protection, checked before a write reaches the store: a write quota (GCRA,
//! records per second per `agent_id`, whatever key sends them) and a circuit breaker that
//! refuses an agent for a cooldown once more than `failures_max` of its writes failed
//! validation or signature checks within one window. State lives in memory: a restart closes
//! every circuit and refills every quota (docs/security.md).
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::Value;
use stemedb_wire::AgentCircuit;

use crate::ApiError;

/// Settings of the quota and the breaker (docs/security.md, docs/configuration.md).
#[derive(Debug, Clone)]
pub struct AgentGuardConfig {
    /// Records per second one agent may write (0: unlimited).
    pub write_rate_per_sec: u32,
    /// Records one agent may write at once before the rate applies (at least the rate).
    pub write_burst: u32,
    /// Failed writes (validation or signature) an agent may have in one window; one more opens
    /// its circuit (0: no breaker).
    pub failures_max: u32,
    pub failure_window_ms: u64,
    /// How long an open circuit refuses the agent's writes.
    pub cooldown_ms: u64,
    /// Agents whose failures are counted at once. At the cap, entries out of their window and
    /// cooldown are dropped (at most once a sixteenth of the window: a drop walks them all);
    /// while every entry is still live, a new agent's failures go uncounted rather than grow
    /// the map, so that fresh agent ids cannot buy memory or a scan per failed write.
    pub tracked_agents_max: usize,
}

impl Default for AgentGuardConfig {
    fn default() -> Self {
        Self {
            write_rate_per_sec: 10_000,
            write_burst: 20_000,
            failures_max: 100,
            failure_window_ms: 60_000,
            cooldown_ms: 60_000,
            tracked_agents_max: 100_000,
        }
    }
}

/// One agent's breaker: failures counted in a window that starts at its first failure.
#[derive(Debug, Clone, Default)]
struct Circuit {
    window_start: Option<Instant>,
    failures: u32,
    open_until: Option<Instant>,
    opened_total: u64,
}

pub struct AgentGuard {
    config: AgentGuardConfig,
    quota: Option<DefaultKeyedRateLimiter<String>>,
    circuits: Mutex<HashMap<String, Circuit>>,
    /// When idle entries were last dropped; read and set only under `circuits`' lock.
    swept_at: Mutex<Option<Instant>>,
    clock: DefaultClock,
}

impl AgentGuard {
    pub fn new(config: AgentGuardConfig) -> AgentGuard {
        let quota = NonZeroU32::new(config.write_rate_per_sec).map(|rate| {
            let burst = NonZeroU32::new(config.write_burst.max(rate.get())).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        AgentGuard {
            config,
            quota,
            circuits: Mutex::new(HashMap::new()),
            swept_at: Mutex::new(None),
            clock: DefaultClock::default(),
        }
    }

    fn circuits(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Circuit>>, ApiError> {
        self.circuits
            .lock()
            .map_err(|_| ApiError::Internal("agent circuit lock poisoned".into()))
    }

    /// Agents whose circuit is open now (for `stemedb_agent_circuits_open`).
    pub fn circuits_open(&self) -> usize {
        let now = Instant::now();
        self.circuits.lock().map_or(0, |circuits| {
            circuits
                .values()
                .filter(|c| c.open_until.is_some_and(|until| until > now))
                .count()
        })
    }

    /// May `agent_id` write `records` records now? Refuses an open circuit first, then a
    /// spent quota; both are 429 with the wait.
    pub fn admit(&self, agent_id: &str, records: u32, now: Instant) -> Result<(), ApiError> {
        if let Some(open_until) = self
            .circuits()?
            .get(agent_id)
            .and_then(|c| c.open_until)
            .filter(|until| *until > now)
        {
            metrics::counter!("stemedb_rate_limit_rejections_total").increment(1);
            return Err(ApiError::CircuitOpen {
                agent_id: agent_id.to_owned(),
                retry_after_ms: millis(open_until - now),
            });
        }
        let (Some(quota), Some(n)) = (&self.quota, NonZeroU32::new(records)) else {
            return Ok(());
        };
        let key = agent_id.to_owned();
        let refused = |retry_after_ms: u64| {
            metrics::counter!("stemedb_rate_limit_rejections_total").increment(1);
            ApiError::AgentQuota {
                agent_id: agent_id.to_owned(),
                limit_per_sec: self.config.write_rate_per_sec,
                retry_after_ms,
            }
        };
        match quota.check_key_n(&key, n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(refused(millis(not_until.wait_time_from(self.clock.now())))),
            // More records in one request than the burst could ever allow.
            Err(_) => Err(refused(1_000)),
        }
    }

    /// Counts a write of `agent_id` that failed validation or its signature check; opens the
    /// circuit when the window holds more than `failures_max`.
    pub fn record_failure(&self, agent_id: &str, now: Instant) {
        if self.config.failures_max == 0 {
            return;
        }
        let Ok(mut circuits) = self.circuits.lock() else {
            return;
        };
        let window = Duration::from_millis(self.config.failure_window_ms);
        if !circuits.contains_key(agent_id) && circuits.len() >= self.config.tracked_agents_max {
            self.sweep(&mut circuits, now, window);
            if circuits.len() >= self.config.tracked_agents_max {
                metrics::counter!("stemedb_agent_failures_untracked_total").increment(1);
                return;
            }
        }
        let circuit = circuits.entry(agent_id.to_owned()).or_default();
        if circuit
            .window_start
            .is_none_or(|start| now >= start + window)
        {
            circuit.window_start = Some(now);
            circuit.failures = 0;
        }
        circuit.failures += 1;
        if circuit.failures > self.config.failures_max {
            circuit.open_until = Some(now + Duration::from_millis(self.config.cooldown_ms));
            circuit.opened_total += 1;
            circuit.window_start = None;
            circuit.failures = 0;
            tracing::warn!(
                agent_id,
                "agent circuit opened after repeated failed writes"
            );
        }
    }

    /// Drops the entries out of their window and cooldown, unless that was done less than a
    /// sixteenth of the window ago.
    fn sweep(&self, circuits: &mut HashMap<String, Circuit>, now: Instant, window: Duration) {
        let Ok(mut swept_at) = self.swept_at.lock() else {
            return;
        };
        if swept_at.is_some_and(|at| now < at + window / 16) {
            return;
        }
        *swept_at = Some(now);
        circuits.retain(|_, c| c.is_active(now, window));
        if let Some(quota) = &self.quota {
            quota.retain_recent();
        }
    }

    /// Closes an agent's circuit and clears its failures (an administrator's reset). Returns
    /// whether it was open.
    pub fn reset(&self, agent_id: &str, now: Instant) -> Result<bool, ApiError> {
        let was_open = self
            .circuits()?
            .remove(agent_id)
            .is_some_and(|c| c.open_until.is_some_and(|until| until > now));
        Ok(was_open)
    }

    /// Whether the breaker holds any state for the agent (failures or an open circuit).
    pub fn is_tracked(&self, agent_id: &str) -> bool {
        self.circuits
            .lock()
            .is_ok_and(|circuits| circuits.contains_key(agent_id))
    }

    /// The agent's breaker as `GET /v1/agents/{id}` shows it.
    pub fn status(&self, agent_id: &str, now: Instant) -> Result<AgentCircuit, ApiError> {
        let circuit = self.circuits()?.get(agent_id).cloned().unwrap_or_default();
        let window = Duration::from_millis(self.config.failure_window_ms);
        let open_for = circuit
            .open_until
            .filter(|until| *until > now)
            .map(|until| millis(until - now));
        let failures = match circuit.window_start {
            Some(start) if now < start + window => circuit.failures,
            _ => 0,
        };
        Ok(AgentCircuit {
            cooldown_ms: self.config.cooldown_ms,
            failure_window_ms: self.config.failure_window_ms,
            failures_in_window: failures,
            failures_max: self.config.failures_max,
            opened_total: circuit.opened_total,
            state: if open_for.is_some() { "open" } else { "closed" }.to_owned(),
            retry_after_ms: open_for,
        })
    }
}

impl Circuit {
    fn is_active(&self, now: Instant, window: Duration) -> bool {
        self.open_until.is_some_and(|until| until > now)
            || self.window_start.is_some_and(|start| now < start + window)
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Whether an error means the agent's write itself was bad (what the breaker counts).
pub fn counts_as_failure(error: &ApiError) -> bool {
    matches!(
        error,
        ApiError::Db(stemedb::DbError::Invalid(_) | stemedb::DbError::SignatureInvalid { .. })
    )
}

/// The agent a write is for: the body's `agent_id`, or, for an unsigned body without one, the
/// one agent its key is bound to (as custodial signing decides).
pub fn agent_of(wire: &Value, caller: Option<&crate::auth::Principal>) -> Option<String> {
    match wire.get("agent_id").and_then(Value::as_str) {
        Some(agent) => Some(agent.to_owned()),
        None => match caller.map(|p| p.agent_ids.as_slice()) {
            Some([only]) => Some(only.clone()),
            _ => None,
        },
    }
}

impl AgentGuard {
    /// Runs one write of `agent` through the guard: refused while its circuit is open or its
    /// quota spent; a failure of the write itself is counted against it.
    pub fn guarded<T>(
        &self,
        agent: Option<&str>,
        work: impl FnOnce() -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        self.admit_one(agent)?;
        let result = work();
        self.settle(agent, &result);
        result
    }

    /// [`AgentGuard::guarded`]'s first half, for a write awaited in between: admits one
    /// record of `agent` (none to admit without an agent).
    pub fn admit_one(&self, agent: Option<&str>) -> Result<(), ApiError> {
        match agent {
            Some(agent) => self.admit(agent, 1, Instant::now()),
            None => Ok(()),
        }
    }

    /// [`AgentGuard::guarded`]'s second half: counts a failed write against its agent.
    pub fn settle<T>(&self, agent: Option<&str>, result: &Result<T, ApiError>) {
        if let (Some(agent), Err(error)) = (agent, result)
            && counts_as_failure(error)
        {
            self.record_failure(agent, Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn guard(failures_max: u32) -> AgentGuard {
        AgentGuard::new(AgentGuardConfig {
            write_rate_per_sec: 0,
            failures_max,
            failure_window_ms: 1_000,
            cooldown_ms: 5_000,
            ..AgentGuardConfig::default()
        })
    }

    /// One breaker case: failures at these offsets (ms), then is the agent admitted at `at`?
    fn check(name: &str, failures_max: u32, failures_ms: &[u64], at_ms: u64, admitted: bool) {
        let (g, t0) = (guard(failures_max), Instant::now());
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        for &ms in failures_ms {
            g.record_failure("a", at(ms));
        }
        assert_eq!(g.admit("a", 1, at(at_ms)).is_ok(), admitted, "{name}");
        assert!(
            g.admit("b", 1, at(at_ms)).is_ok(),
            "{name}: other agents are never refused"
        );
    }

    #[test]
    fn the_breaker_opens_past_the_limit_within_a_window_and_closes_after_the_cooldown() {
        check("at the limit", 3, &[0, 10, 20], 30, true);
        check("one past the limit", 3, &[0, 10, 20, 30], 40, false);
        check(
            "still open before the cooldown ends",
            3,
            &[0, 10, 20, 30],
            5_020,
            false,
        );
        check(
            "closed after the cooldown",
            3,
            &[0, 10, 20, 30],
            5_031,
            true,
        );
        check(
            "a new window starts the count again",
            3,
            &[0, 10, 20, 1_000],
            1_010,
            true,
        );
        check(
            "off when failures_max is 0",
            0,
            &[0, 1, 2, 3, 4, 5],
            6,
            true,
        );
    }

    #[test]
    fn past_its_cap_the_breaker_counts_no_new_agent_until_an_entry_goes_idle() {
        let g = AgentGuard::new(AgentGuardConfig {
            write_rate_per_sec: 0,
            failures_max: 1,
            failure_window_ms: 1_000,
            cooldown_ms: 5_000,
            tracked_agents_max: 2,
            ..AgentGuardConfig::default()
        });
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        g.record_failure("a", at(0));
        g.record_failure("b", at(0));
        for _ in 0..2 {
            g.record_failure("c", at(10));
        }
        assert!(g.admit("c", 1, at(10)).is_ok(), "past the cap: not counted");
        g.record_failure("a", at(20));
        assert!(g.admit("a", 1, at(20)).is_err(), "a tracked agent still is");
        // b's window is over (a is open, so kept): b is dropped and c counted.
        for _ in 0..2 {
            g.record_failure("c", at(1_100));
        }
        assert!(
            g.admit("c", 1, at(1_100)).is_err(),
            "counted once room was made"
        );
        assert!(
            g.admit("a", 1, at(1_100)).is_err(),
            "an open circuit is never dropped"
        );
    }

    #[test]
    fn at_its_cap_the_breaker_sweeps_idle_entries_at_most_once_a_sixteenth_of_the_window() {
        let g = AgentGuard::new(AgentGuardConfig {
            write_rate_per_sec: 0,
            failures_max: 1,
            failure_window_ms: 1_600,
            cooldown_ms: 5_000,
            tracked_agents_max: 1,
            ..AgentGuardConfig::default()
        });
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let fail_twice = |agent: &str, ms: u64| {
            g.record_failure(agent, at(ms));
            g.record_failure(agent, at(ms));
        };
        g.record_failure("a", at(0));
        // a's window ends at 1,600 ms: a sweep at 1,590 frees nothing, and b goes uncounted.
        fail_twice("b", 1_590);
        assert!(
            g.admit("b", 1, at(1_590)).is_ok(),
            "the table is full of live entries"
        );
        // At 1,620 ms a is idle, but the last sweep was 30 ms ago (a sixteenth of the window
        // is 100 ms): no sweep, c uncounted.
        fail_twice("c", 1_620);
        assert!(
            g.admit("c", 1, at(1_620)).is_ok(),
            "no second sweep within 100 ms"
        );
        // At 1,700 ms the sweep may run again: a is dropped and c counted.
        fail_twice("c", 1_700);
        assert!(
            g.admit("c", 1, at(1_700)).is_err(),
            "counted once the sweep ran"
        );
    }

    #[test]
    fn a_reset_closes_an_open_circuit_and_says_it_was_open() {
        let (g, now) = (guard(1), Instant::now());
        g.record_failure("a", now);
        g.record_failure("a", now);
        assert!(g.admit("a", 1, now).is_err());
        assert_eq!(g.status("a", now).unwrap().state, "open");
        assert!(g.reset("a", now).unwrap());
        assert!(g.admit("a", 1, now).is_ok());
        assert!(
            !g.reset("a", now).unwrap(),
            "a closed circuit: was_open false"
        );
    }
}
