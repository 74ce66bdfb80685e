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
    /// Nodes kept at most (`ClusterConfig::members_max`).
    members_max: usize,
    heard: Mutex<BTreeMap<String, (Heartbeat, Instant)>>,
}

impl Members {
    pub fn new(interval: Duration, members_max: usize) -> Members {
        Members {
            interval,
            members_max: members_max.max(1),
            heard: Mutex::new(BTreeMap::new()),
        }
    }

    /// Takes in a heartbeat received at `now` on `subject`. Refused (logged) unless it names a
    /// valid node id, the one its subject ends with: the subject is open to any NATS client.
    /// A new node in a full table takes the place of the one heard from longest ago.
    pub fn hear(&self, heartbeat: Heartbeat, subject: &str, now: Instant) {
        let sender = subject.rsplit('.').next().unwrap_or_default();
        if !crate::config::node_id_ok(&heartbeat.node_id) || heartbeat.node_id != sender {
            tracing::warn!(
                subject,
                "ignored a heartbeat whose node id is not its subject's"
            );
            return;
        }
        let Ok(mut heard) = self.heard.lock() else {
            return;
        };
        if !heard.contains_key(&heartbeat.node_id) && heard.len() >= self.members_max {
            let oldest = heard
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(id, _)| id.clone());
            if let Some(oldest) = oldest {
                heard.remove(&oldest);
            }
        }
        metrics::gauge!("stemedb_replication_lag_seconds", "node" => heartbeat.node_id.clone())
            .set(heartbeat.lag_seconds);
        heard.insert(heartbeat.node_id.clone(), (heartbeat, now));
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
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn check(age_ms: u64, expected: &str) {
        let interval = Duration::from_millis(1_000);
        assert_eq!(
            status(Duration::from_millis(age_ms), interval),
            expected,
            "a heartbeat {age_ms} ms old"
        );
    }

    fn heartbeat(node_id: &str) -> Heartbeat {
        Heartbeat {
            node_id: node_id.into(),
            advertise: "http://127.0.0.1:1".into(),
            applied_sequence: 0,
            applied_stream_sequence: 0,
            lag_seconds: 0.0,
            sent_at_micros: 0,
        }
    }

    /// The ids the table holds after hearing `heard` (node id, subject's last token, ms).
    fn check_table(name: &str, members_max: usize, heard: &[(&str, &str, u64)], want: &[&str]) {
        let members = Members::new(Duration::from_millis(1_000), members_max);
        let t0 = Instant::now();
        for (id, token, ms) in heard {
            let subject = format!("{}.{token}", crate::MEMBERS_SUBJECT);
            members.hear(heartbeat(id), &subject, t0 + Duration::from_millis(*ms));
        }
        let ids: Vec<String> = members.heard.lock().unwrap().keys().cloned().collect();
        assert_eq!(ids, want, "{name}");
    }

    #[test]
    fn the_member_table_keeps_valid_ids_from_their_own_subject_and_stays_within_its_cap() {
        check_table("one node", 4, &[("n1", "n1", 0)], &["n1"]);
        check_table(
            "an id that is not its subject's",
            4,
            &[("n1", "n2", 0)],
            &[],
        );
        check_table("an id no node may have", 4, &[("a b", "a b", 0)], &[]);
        check_table("an empty id", 4, &[("", "", 0)], &[]);
        check_table(
            "full: the one heard from longest ago makes room",
            2,
            &[
                ("n1", "n1", 0),
                ("n2", "n2", 10),
                ("n1", "n1", 20),
                ("n3", "n3", 30),
            ],
            &["n1", "n3"],
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
