//! Membership: every node publishes a heartbeat (core NATS, not the log) each interval with
//! its applied sequences and lag, and keeps a table of the heartbeats it hears. A node is
//! `up` within 3 intervals of its last heartbeat, `suspect` within 10, then `down` (10 s with
//! the default 1 s interval, well inside the 30 s the issue allows).
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use stemedb::core::Timestamp;
use stemedb_wire::ClusterMember;

/// Missed intervals after which a node is suspect, and down.
const SUSPECT_AFTER_INTERVALS: u32 = 3;
const DOWN_AFTER_INTERVALS: u32 = 10;

/// What a node says about itself each interval (`stemedb.members.<node_id>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Heartbeat {
    pub node_id: String,
    pub advertise: String,
    pub applied_sequence: u64,
    pub applied_stream_sequence: u64,
    pub lag_seconds: f64,
    /// When it was sent, by the sender's clock (microseconds since the Unix epoch).
    pub sent_at_micros: i64,
}

pub(crate) struct Members {
    interval: Duration,
    heard: Mutex<BTreeMap<String, (Heartbeat, Instant)>>,
}

impl Members {
    pub fn new(interval: Duration) -> Members {
        Members {
            interval,
            heard: Mutex::new(BTreeMap::new()),
        }
    }

    /// Takes in a heartbeat received at `now`.
    pub fn hear(&self, heartbeat: Heartbeat, now: Instant) {
        metrics::gauge!("stemedb_replication_lag_seconds", "node" => heartbeat.node_id.clone())
            .set(heartbeat.lag_seconds);
        if let Ok(mut heard) = self.heard.lock() {
            heard.insert(heartbeat.node_id.clone(), (heartbeat, now));
        }
    }

    /// `me` (as of now) first, then every other node heard from, by id.
    pub fn view(&self, me: &Heartbeat, stream_last: u64, now: Instant) -> Vec<ClusterMember> {
        let mut members = vec![member(me, "up", 0, stream_last)];
        let Ok(heard) = self.heard.lock() else {
            return members;
        };
        for (id, (heartbeat, at)) in heard.iter() {
            if *id == me.node_id {
                continue;
            }
            let age = now.saturating_duration_since(*at);
            let status = status(age, self.interval);
            members.push(member(
                heartbeat,
                status,
                age.as_millis() as u64,
                stream_last,
            ));
        }
        members
    }
}

/// `up`, `suspect` or `down` for a heartbeat `age` old.
pub(crate) fn status(age: Duration, interval: Duration) -> &'static str {
    if age <= interval * SUSPECT_AFTER_INTERVALS {
        "up"
    } else if age <= interval * DOWN_AFTER_INTERVALS {
        "suspect"
    } else {
        "down"
    }
}

fn member(heartbeat: &Heartbeat, status: &str, age_ms: u64, stream_last: u64) -> ClusterMember {
    ClusterMember {
        node_id: heartbeat.node_id.clone(),
        advertise: heartbeat.advertise.clone(),
        status: status.into(),
        applied_sequence: heartbeat.applied_sequence,
        applied_stream_sequence: heartbeat.applied_stream_sequence,
        lag_sequences: stream_last.saturating_sub(heartbeat.applied_stream_sequence),
        lag_seconds: heartbeat.lag_seconds,
        last_heartbeat: Timestamp::from_micros(heartbeat.sent_at_micros).to_rfc3339(),
        heartbeat_age_ms: age_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(age_ms: u64, expected: &str) {
        let interval = Duration::from_millis(1_000);
        assert_eq!(
            status(Duration::from_millis(age_ms), interval),
            expected,
            "a heartbeat {age_ms} ms old"
        );
    }

    #[test]
    fn a_node_is_up_then_suspect_then_down_as_heartbeats_stop() {
        for (age_ms, expected) in [
            (0, "up"),
            (3_000, "up"),
            (3_001, "suspect"),
            (10_000, "suspect"),
            (10_001, "down"),
            (30_000, "down"),
        ] {
            check(age_ms, expected);
        }
    }
}
