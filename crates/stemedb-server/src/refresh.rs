//! The evidence lens's reliability table kept close behind the log: a background refresher and
//! its pace. A pass costs time in proportion to the store, so passes are spaced nine times as
//! long apart as the CPU one takes, which keeps them to about a tenth of a core while the store
//! grows slowly. A bulk load outruns any such pace: a pass costs in proportion to the store, and the
//! store grows while the pace waits (docs/benchmarks.md, "Nineteenth session").
//!
//! Spacing by the last pass alone did not hold that bound while the store grew fast: during a
//! batch ingest of 1 M records a pass at 101,000 took 0.7 s, the next began 6.4 s later at
//! 421,000 and took 4.2 s, 40 % of a core over that stretch (docs/benchmarks.md, "Nineteenth
//! session"). So the pace predicts the next pass's cost from how far the log has grown since
//! the last one, and looks again every second while it waits. Growth counts up to tenfold
//! only, so a pass is never put off longer than ninety times the last one took: a store that
//! grows faster than its passes can be afforded still gets a new table.
//!
//! A pass runs on a thread of its own at the lowest scheduling priority by default
//! ([`PassPriority::Idle`], Linux's `SCHED_IDLE`): it takes the cores only when no request's
//! thread wants them. Single writes at 64 connections leave about a third of a core idle
//! while they wait on the writer's cycle; a whole pass over 2 M records at normal priority
//! during such writes cost them 30 % of their rate, at `SCHED_IDLE` about 8 %, while it still
//! got 5–6 s of CPU in 15 s from the idle time (docs/benchmarks.md, "Forty-fifth session"). When the cores stay busy the pass waits for them and the table
//! trails the log further; the pace counts the pass's CPU, not its wall time, which is then
//! mostly that wait. A lock the pass holds when a request's thread takes its core (a cache's
//! shard, the view cache's agents) can hold that request up until the pass runs again: the
//! writes' p99.9 rose from about 30 to about 65 ms while a pass ran at idle. A machine whose cores never idle would starve a pass for
//! good, so a pass at idle priority has a deadline (`reliability_idle_pass_ms_max`, or three
//! times the last pass's CPU if longer); past it the pass gives up and the next one runs at
//! normal priority, then passes go back to idle.
use std::sync::Arc;
use std::time::{Duration, Instant};

use stemedb::{Db, DbError, ReliabilityTable};
use tokio::sync::watch;

/// How a background pass shares the cores with the requests' threads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PassPriority {
    /// Only when no other thread wants the core (Linux's `SCHED_IDLE`; elsewhere, or when
    /// the system refuses it, normal, with a warning).
    #[default]
    Idle,
    /// As any other thread of the server.
    Normal,
}

/// The name of a pass's thread (Linux shows the first 15 bytes).
const PASS_THREAD_NAME: &str = "reliability";

/// Wait after a failed refresh before trying again.
const RETRY_SECS: u64 = 30;

/// Passes are this many times as long apart as one takes: a tenth of a core.
const SPACING_FACTOR: u32 = 9;

/// How often a wait looks at the log's length again.
const LOOK_EVERY_MS: u64 = 1000;

/// The last pass: its cost, over how long a log, and when it ended.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LastPass {
    /// The CPU it took (a failed pass: its wall time, at least a ninth of `RETRY_SECS`).
    pub(crate) took: Duration,
    pub(crate) log_len: u64,
    pub(crate) ended: Instant,
}

/// Below this many records a pass's fixed costs outweigh its work per record, so growth is
/// counted from here.
const LOG_LEN_FLOOR: u64 = 1_000;

/// The most a pass is predicted to cost over the last one: a guess from the log's growth, and
/// a wrong guess must not hold the table back for long.
const GROWTH_MAX: f64 = 10.0;

/// How much longer to wait, at `now`, before a pass over a log of `log_len` records: its cost
/// predicted from the last pass's, in proportion to the log's length (never below the last
/// pass's cost, which a log under [`LOG_LEN_FLOOR`] records would otherwise shrink, and at
/// most [`GROWTH_MAX`] times it), times the spacing factor, and at least `refresh_min` after
/// the last pass ended.
pub(crate) fn wait_before_pass(
    last: &LastPass,
    log_len: u64,
    refresh_min: Duration,
    now: Instant,
) -> Duration {
    let growth = log_len as f64 / last.log_len.max(LOG_LEN_FLOOR) as f64;
    let growth = growth.clamp(1.0, GROWTH_MAX);
    let spacing = (last.took * SPACING_FACTOR)
        .mul_f64(growth)
        .max(refresh_min);
    spacing.saturating_sub(now.saturating_duration_since(last.ended))
}

/// The refresher's settings (`ServerConfig`'s `reliability_*`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RefreshSettings {
    /// Least time between two passes.
    pub(crate) refresh_min: Duration,
    pub(crate) priority: PassPriority,
    /// Longest a pass at [`PassPriority::Idle`] may take before it gives up, so that the next
    /// runs at normal priority: a machine whose cores never idle would otherwise starve it.
    pub(crate) idle_pass_max: Duration,
}

/// How one pass ended.
enum Outcome {
    /// A new table, and the CPU it took.
    Made(Arc<ReliabilityTable>, Duration),
    /// The table in use was up to date (the CPU it took to find that out).
    Current(Duration),
    /// The pass at idle priority reached its deadline, after this long.
    GaveUpAtIdle(Duration),
    Failed(String),
}

/// A pass at idle priority may take at least this many times the CPU the last one took before
/// it gives up, however low `reliability_idle_pass_ms_max` is: a store whose pass needs more
/// than that setting would otherwise give up at idle every time, even on an idle machine.
const IDLE_DEADLINE_FACTOR: u32 = 3;

/// The priority of the next pass and, when it runs at idle priority, how long it may take:
/// idle unless the settings say normal or the last pass at idle gave up (then one pass at
/// normal priority). `last_cpu`: the CPU the last pass that made a table took.
fn next_pass(
    settings: &RefreshSettings,
    idle_gave_up: bool,
    last_cpu: Duration,
) -> (PassPriority, Option<Duration>) {
    match (settings.priority, idle_gave_up) {
        (PassPriority::Idle, false) => {
            let allowed = settings.idle_pass_max.max(last_cpu * IDLE_DEADLINE_FACTOR);
            (PassPriority::Idle, Some(allowed))
        }
        _ => (PassPriority::Normal, None),
    }
}

/// Keeps the reliability table close behind the log until `stopping`: a pass on a thread of
/// its own whenever the table is behind, paced by [`wait_before_pass`], looked at again every
/// [`LOOK_EVERY_MS`] with the log's length then.
pub(crate) async fn refresh_reliability(
    db: Arc<Db>,
    settings: RefreshSettings,
    mut stopping: watch::Receiver<bool>,
) {
    // A table the open read back is made again by the first pass (`Db::refresh_reliability`),
    // which is then logged and kept like any new table, unless this same build made it over
    // the whole log: then it is current, and a pass would make that very table.
    let covered = take_read_back_if_current(&db).await;
    let mut refresher = Refresher {
        db,
        settings,
        covered,
        save_failing: false,
        priority_warned: false,
        idle_gave_up: false,
        last_cpu: Duration::ZERO,
    };
    let mut last: Option<LastPass> = None;
    loop {
        while let Some(last) = last {
            let log_len = refresher.db.last_sequence();
            let wait = wait_before_pass(&last, log_len, settings.refresh_min, Instant::now());
            if wait.is_zero() {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(wait.min(Duration::from_millis(LOOK_EVERY_MS))) => {}
                _ = stopping.changed() => return,
            }
        }
        let started = Instant::now();
        let log_len = refresher.db.last_sequence();
        let outcome = refresher.pass().await;
        if *stopping.borrow() {
            return; // a refresh abandoned because the server stops is no failure
        }
        last = refresher.record(outcome, started, log_len);
    }
}

/// The refresher's state between passes.
struct Refresher {
    db: Arc<Db>,
    settings: RefreshSettings,
    /// The sequence the table in use covers.
    covered: u64,
    save_failing: bool,
    priority_warned: bool,
    idle_gave_up: bool,
    /// The CPU the last pass that made a table took.
    last_cpu: Duration,
}

impl Refresher {
    /// Runs one pass on a thread of its own and keeps a new table for the next start. No
    /// thread is started while the table in use is up to date.
    async fn pass(&mut self) -> Outcome {
        if !self.db.reliability_behind() {
            return Outcome::Current(Duration::ZERO);
        }
        let worker = Arc::clone(&self.db);
        let covered = self.covered;
        let (priority, allowed) = next_pass(&self.settings, self.idle_gave_up, self.last_cpu);
        let ran = on_pass_thread(priority, move |at_idle| {
            // A deadline only for a pass that does run at idle priority.
            let deadline = allowed.filter(|_| at_idle).map(|a| Instant::now() + a);
            let cpu_before = thread_cpu();
            let table = worker.refresh_reliability_by(deadline);
            let cpu = thread_cpu().saturating_sub(cpu_before);
            // Only the deadline, not a stop (which ends a pass the same way), is a give-up.
            let gave_up = deadline.is_some_and(|d| Instant::now() >= d);
            // Kept for the next start when it is new (an up-to-date table comes back as is).
            let saved = match &table {
                Ok(table) if table.sequence != covered => Some(worker.save_reliability(table)),
                _ => None,
            };
            (table, cpu, saved, gave_up)
        })
        .await;
        let (lowered, (table, cpu, saved, gave_up)) = match ran {
            Ok(ran) => ran,
            Err(e) => return Outcome::Failed(e),
        };
        if let (Err(e), false) = (lowered, self.priority_warned) {
            self.priority_warned = true;
            tracing::warn!(error = %e, "the reliability pass could not be given the lowest \
                scheduling priority; it runs at normal priority, beside the requests");
        }
        if let Some(saved) = saved {
            self.save_failing = report_save(saved, self.save_failing);
        }
        match table {
            Ok(table) if table.sequence != covered => Outcome::Made(table, cpu),
            Ok(_) => Outcome::Current(cpu),
            Err(DbError::DeadlineExceeded { .. }) if gave_up => {
                Outcome::GaveUpAtIdle(allowed.unwrap_or_default())
            }
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    /// Logs how a pass ended, and returns what paces the next one (`None`: at once).
    fn record(&mut self, outcome: Outcome, started: Instant, log_len: u64) -> Option<LastPass> {
        self.idle_gave_up = matches!(outcome, Outcome::GaveUpAtIdle(_));
        let (failed, cpu) = match outcome {
            Outcome::Made(table, cpu) => {
                self.covered = table.sequence;
                self.last_cpu = cpu;
                tracing::info!(
                    sequence = table.sequence,
                    facts = table.facts,
                    agents = table.agent_count(),
                    took_ms = table.took.as_millis() as u64,
                    cpu_ms = cpu.as_millis() as u64,
                    "reliability table refreshed"
                );
                (false, cpu)
            }
            Outcome::Current(cpu) => (false, cpu),
            Outcome::GaveUpAtIdle(allowed) => {
                tracing::info!(
                    allowed_ms = allowed.as_millis() as u64,
                    "the reliability pass at the lowest priority did not finish in time (the \
                     cores were busy); the next pass runs at normal priority"
                );
                return None;
            }
            Outcome::Failed(e) => {
                tracing::warn!(error = %e, "refreshing the reliability table failed; retrying in 30 s");
                (true, Duration::ZERO)
            }
        };
        // A store that fails now (full disk, fail-stopped) would otherwise log every second: a
        // failure waits at least RETRY_SECS (nine times a ninth of it), or nine times what the
        // failed pass took, and no growth is counted (a log length no log reaches).
        // A refresh that found the table up to date takes next to nothing, so the next wait
        // is `refresh_ms` and the one after predicts from the next real pass. A pass is paced
        // by its CPU, not its wall time: at idle priority on busy cores the wall time is
        // mostly waiting for a core, which costs the requests nothing.
        Some(if failed {
            LastPass {
                took: started
                    .elapsed()
                    .max(Duration::from_secs(RETRY_SECS) / SPACING_FACTOR),
                log_len: u64::MAX,
                ended: Instant::now(),
            }
        } else {
            LastPass {
                took: cpu,
                log_len,
                ended: Instant::now(),
            }
        })
    }
}

/// Runs `work` on a new thread at `priority` and answers what it returned, with whether the
/// priority was taken; `work` is told whether it runs at idle priority. A thread of its own, not one of tokio's blocking pool: a thread lowered
/// to `SCHED_IDLE` cannot be raised again without privileges, and the pool's threads serve
/// other work afterwards.
fn on_pass_thread<T: Send + 'static>(
    priority: PassPriority,
    work: impl FnOnce(bool) -> T + Send + 'static,
) -> impl std::future::Future<Output = Result<(Result<(), String>, T), String>> {
    let (done, answer) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name(PASS_THREAD_NAME.to_owned())
        .spawn(move || {
            let lowered = take_priority(priority);
            let at_idle = priority == PassPriority::Idle && lowered.is_ok();
            let _ = done.send((lowered, work(at_idle)));
        });
    async move {
        spawned.map_err(|e| format!("no thread for the pass: {e}"))?;
        answer
            .await
            .map_err(|_| "the pass's thread ended without an answer (it panicked)".to_owned())
    }
}

/// Gives the calling thread `priority`.
fn take_priority(priority: PassPriority) -> Result<(), String> {
    match priority {
        PassPriority::Normal => Ok(()),
        PassPriority::Idle => idle_policy(),
    }
}

/// Puts the calling thread under `SCHED_IDLE`. `thread-priority` also sets the thread's nice
/// value to 0 after the policy, which fails for a process started under `nice` without the
/// right to raise it again; what counts is the policy, so that is read back.
#[cfg(target_os = "linux")]
fn idle_policy() -> Result<(), String> {
    use thread_priority::unix::{
        NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
        thread_native_id, thread_schedule_policy,
    };
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    let set = set_thread_priority_and_policy(
        thread_native_id(),
        thread_priority::ThreadPriority::Min,
        idle,
    );
    match (thread_schedule_policy(), set) {
        (Ok(policy), _) if policy == idle => Ok(()),
        (_, Err(e)) => Err(format!("SCHED_IDLE: {e}")),
        (policy, Ok(())) => Err(format!(
            "SCHED_IDLE was set but the thread reads {policy:?}"
        )),
    }
}

#[cfg(not(target_os = "linux"))]
fn idle_policy() -> Result<(), String> {
    Err("SCHED_IDLE is only set on Linux".to_owned())
}

/// Names this build to `db` (a hash of the running executable) and takes the table the open
/// read back as current when this same build made it over the whole log: a 1 M store's start
/// then spends ~50 ms hashing instead of a 7–9 s pass (docs/benchmarks.md, "Forty-first
/// session"). Returns the sequence the table in use covers, 0 when the first pass must make
/// it.
async fn take_read_back_if_current(db: &Arc<Db>) -> u64 {
    let worker = Arc::clone(db);
    let current = tokio::task::spawn_blocking(move || {
        match executable_hash() {
            Ok(build) => worker.set_build(build),
            Err(e) => {
                tracing::warn!(error = %e, "this executable could not be read to name its build; \
                    reliability tables kept from now on name none, and each start makes one again");
                return None;
            }
        }
        worker.reliability_read_back_current()
    })
    .await;
    match current {
        Ok(Some(sequence)) => {
            tracing::info!(
                sequence,
                "the reliability table kept by the last run of this build covers the log: \
                 in use without a pass"
            );
            sequence
        }
        _ => 0,
    }
}

/// The BLAKE3 (hex) of the running executable's bytes: it names this build's code, since a
/// build of other code has other bytes (not the system's math library, linked at run time,
/// whose versions may differ in an accuracy's last bit: either table is one this code made).
/// Read through `/proc/self/exe` on Linux, which is the file this process runs even when an
/// upgrade has replaced the one at its path since.
fn executable_hash() -> std::io::Result<String> {
    #[cfg(target_os = "linux")]
    let path = std::path::PathBuf::from("/proc/self/exe");
    #[cfg(not(target_os = "linux"))]
    let path = std::env::current_exe()?;
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(std::fs::File::open(path)?)?;
    Ok(hasher.finalize().to_hex().to_string())
}

/// Logs how keeping a table for the next start went: a failure at WARN when saves were
/// working, then at DEBUG while they keep failing (a full or read-only disk would otherwise warn
/// at every pass), and the first success after failures at INFO. Returns whether saves fail.
fn report_save(saved: Result<(), stemedb::DbError>, failing: bool) -> bool {
    match (saved, failing) {
        (Ok(()), true) => {
            tracing::info!("the reliability table is kept for the next start again");
            false
        }
        (Ok(()), false) => false,
        (Err(e), false) => {
            tracing::warn!(error = %e, "keeping the reliability table for the next start failed; \
                a restart starts from an older table or the prior until its first pass");
            true
        }
        (Err(e), true) => {
            tracing::debug!(error = %e, "keeping the reliability table failed again");
            true
        }
    }
}

/// CPU time the calling thread has used. A pass runs on a thread of its own, so the
/// difference around it is the pass's CPU, which the log reports beside its wall time (larger
/// when the cores are busy): `scripts/bench-pg.sh` subtracts it from a run's server CPU.
fn thread_cpu() -> Duration {
    let time = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(time.tv_sec).unwrap_or(0),
        u32::try_from(time.tv_nsec).unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;

    #[test]
    fn a_failing_save_is_reported_once_until_one_succeeds() {
        let failed = || Err(stemedb::DbError::Internal("the disk"));
        #[rustfmt::skip]
        let steps = [
            ("works", Ok(()), false),
            ("fails: warned", failed(), true),
            ("fails again: quiet", failed(), true),
            ("works again", Ok(()), false),
            ("fails after that: warned again", failed(), true),
        ];
        let mut failing = false;
        for (name, saved, expected) in steps {
            failing = report_save(saved, failing);
            assert_eq!(failing, expected, "{name}");
        }
    }

    #[test]
    fn a_pass_waits_nine_times_the_last_ones_cost_scaled_by_the_logs_growth() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        // (name, last took, last log, log now, refresh_min, time since it ended, expected wait)
        #[rustfmt::skip]
        let cases = [
            ("no growth: nine times the last pass", ms(700), 100_000, 100_000, s(1), s(0), ms(6300)),
            ("part of it already waited", ms(700), 100_000, 100_000, s(1), s(5), ms(1300)),
            ("all of it waited", ms(700), 100_000, 100_000, s(1), s(7), s(0)),
            ("the log grew fourfold", ms(700), 100_000, 400_000, s(1), ms(6300), ms(18_900)),
            ("the minimum apart", ms(10), 100_000, 100_000, s(1), ms(400), ms(600)),
            ("a smaller log: the last pass's cost", ms(700), 400_000, 100_000, s(1), s(0), ms(6300)),
            ("after a failure: no growth counted", s(30) / 9, u64::MAX, 1_000_000, s(1), s(0), s(30)),
            ("the first pass on an empty log", ms(100), 0, 1000, ms(100), s(0), ms(900)),
            ("growth counted from 1,000 records", ms(100), 0, 5000, ms(100), s(0), ms(4500)),
            ("growth counted up to tenfold", ms(100), 10_000, 1_000_000, s(1), s(0), s(9)),
        ];
        for (name, took, last_log, log_now, refresh_min, since, expected) in cases {
            check(name, took, last_log, log_now, refresh_min, since, expected);
        }
    }

    #[test]
    fn a_threads_cpu_time_grows_with_its_work_and_not_with_its_sleep() {
        let before = thread_cpu();
        std::thread::sleep(Duration::from_millis(50));
        let slept = thread_cpu().saturating_sub(before);
        // Work until the thread has counted 20 ms of CPU, for at most 10 s of wall time: a
        // fixed 50 ms of wall time could leave a loaded machine's thread under any bound.
        let started = (Instant::now(), thread_cpu());
        let mut x = 0u64;
        let mut worked = Duration::ZERO;
        while worked < Duration::from_millis(20) && started.0.elapsed() < Duration::from_secs(10) {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
            worked = thread_cpu().saturating_sub(started.1);
        }
        assert!(
            slept < Duration::from_millis(10),
            "sleeping cost {slept:?} of CPU"
        );
        assert!(
            worked >= Duration::from_millis(20),
            "10 s of work counted {worked:?}"
        );
    }

    #[test]
    fn a_pass_runs_at_idle_priority_with_a_deadline_unless_the_last_one_gave_up() {
        let s = Duration::from_secs;
        let (idle, normal) = (PassPriority::Idle, PassPriority::Normal);
        // (name, the setting, the last gave up, the last one's CPU, priority, time allowed)
        #[rustfmt::skip]
        let cases = [
            ("idle: the setting's time", idle, false, s(10), idle, Some(s(300))),
            ("idle: three times a long last pass", idle, false, s(200), idle, Some(s(600))),
            ("after giving up: one at normal", idle, true, s(10), normal, None),
            ("normal: never a deadline", normal, false, s(10), normal, None),
        ];
        for (name, priority, gave_up, last_cpu, expected, allowed_in) in cases {
            let settings = RefreshSettings {
                refresh_min: s(1),
                priority,
                idle_pass_max: s(300),
            };
            let (next, allowed) = next_pass(&settings, gave_up, last_cpu);
            assert_eq!(next, expected, "{name}: priority");
            assert_eq!(allowed, allowed_in, "{name}: time allowed");
        }
    }

    #[test]
    fn a_pass_that_gave_up_at_idle_is_followed_at_once_by_one_at_normal_priority() {
        let dir = tempfile::tempdir().expect("a directory");
        let db = Db::open(dir.path(), stemedb::DbConfig::default()).expect("a store");
        let settings = RefreshSettings {
            refresh_min: Duration::from_secs(1),
            priority: PassPriority::Idle,
            idle_pass_max: Duration::from_secs(300),
        };
        let mut refresher = Refresher {
            db: Arc::new(db),
            settings,
            covered: 0,
            save_failing: false,
            priority_warned: false,
            idle_gave_up: false,
            last_cpu: Duration::ZERO,
        };
        let s = Duration::from_secs;
        let made = |cpu| Outcome::Made(Arc::new(ReliabilityTable::default()), cpu);
        let (idle, normal) = (PassPriority::Idle, PassPriority::Normal);
        let retry = s(RETRY_SECS) / SPACING_FACTOR;
        // (name, how the pass ended, what paces the next: the CPU taken, the next runs at)
        #[rustfmt::skip]
        let steps = [
            ("a table made: paced by its CPU", made(s(2)), Some(s(2)), idle),
            ("up to date: by its CPU", Outcome::Current(s(0)), Some(s(0)), idle),
            ("gave up at idle: at once", Outcome::GaveUpAtIdle(s(300)), None, normal),
            ("the normal pass made it: back to idle", made(s(3)), Some(s(3)), idle),
            ("failed: paced for a retry", Outcome::Failed("the disk".into()), Some(retry), idle),
        ];
        for (name, outcome, took, priority) in steps {
            let last = refresher.record(outcome, Instant::now(), 10);
            assert_eq!(last.map(|l| l.took), took, "{name}: paced");
            let (next, _) = next_pass(&settings, refresher.idle_gave_up, refresher.last_cpu);
            assert_eq!(next, priority, "{name}: the next pass's priority");
        }
        assert_eq!(
            refresher.last_cpu,
            s(3),
            "the last table made's CPU is kept"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_pass_runs_on_a_thread_of_its_own_at_the_priority_asked() {
        // (name, priority, the policy its thread's /proc stat shows: 5 is SCHED_IDLE, 0
        // SCHED_OTHER)
        #[rustfmt::skip]
        let cases = [
            ("idle: only the cores' idle time", PassPriority::Idle, 5),
            ("normal: as the requests' threads", PassPriority::Normal, 0),
        ];
        for (name, priority, policy) in cases {
            check_pass_thread(name, priority, policy);
        }
        assert_eq!(
            policy_in_proc(),
            Some(0),
            "the caller's own thread is left as it was"
        );
    }

    #[cfg(target_os = "linux")]
    /// Runs a pass at `priority` and checks what its thread was: its name, and the scheduling
    /// policy the kernel reports for it (not what the library that set it says).
    fn check_pass_thread(name: &str, priority: PassPriority, policy: u64) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let seen = runtime.block_on(on_pass_thread(priority, |at_idle| {
            let thread = std::thread::current().name().map(str::to_owned);
            (thread, policy_in_proc(), at_idle)
        }));
        let (lowered, (thread, read, at_idle)) = seen.expect("the pass answers");
        assert_eq!(lowered, Ok(()), "{name}: the priority is taken");
        assert_eq!(
            at_idle,
            policy == 5,
            "{name}: the pass is told it runs at idle"
        );
        assert_eq!(
            thread.as_deref(),
            Some(PASS_THREAD_NAME),
            "{name}: its own thread"
        );
        assert_eq!(
            read,
            Some(policy),
            "{name}: the kernel's policy for the thread"
        );
    }

    #[cfg(target_os = "linux")]
    /// The calling thread's scheduling policy, field 41 of `/proc/thread-self/stat` (the
    /// fields after the name, which ends at the last `)`, start at field 3).
    fn policy_in_proc() -> Option<u64> {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
        let after_name = stat.rsplit_once(')')?.1;
        after_name.split_whitespace().nth(41 - 3)?.parse().ok()
    }

    fn check(
        name: &str,
        took: Duration,
        log_len: u64,
        log_now: u64,
        refresh_min: Duration,
        since: Duration,
        expected: Duration,
    ) {
        let ended = Instant::now();
        let last = LastPass {
            took,
            log_len,
            ended,
        };
        let wait = wait_before_pass(&last, log_now, refresh_min, ended + since);
        let off = wait.abs_diff(expected);
        assert!(
            off < Duration::from_micros(10),
            "{name}: waits {wait:?}, expected {expected:?}"
        );
    }
}
