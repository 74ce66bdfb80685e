//! When this server last signed a backup and when a backup of it was last verified, kept in
//! `DATA_DIR/backup-status.json` so that a restart does not make a backed-up server look
//! unbacked (the alerts on `stemedb_last_backup_timestamp_seconds` and
//! `stemedb_last_verified_backup_timestamp_seconds` watch them).
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// The file's name in the data directory.
pub const FILE_NAME: &str = "backup-status.json";

/// The recorded times, in Unix seconds (0: never).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupTimes {
    /// The last backup manifest this server signed.
    pub last_backup_unix_s: f64,
    /// The last time `stemedb backup verify --report` verified a chain of this server's
    /// backups and said so.
    pub last_verified_unix_s: f64,
    /// The last sequence that verified chain holds.
    pub last_verified_sequence: u64,
}

/// The backup times and the file that keeps them.
#[derive(Debug)]
pub struct BackupStatus {
    path: PathBuf,
    times: Mutex<BackupTimes>,
}

impl BackupStatus {
    /// Reads the file in `dir`. A missing file means never; an unreadable one is named in the
    /// returned warning and counts as never (the backup alerts then fire, which is honest:
    /// nothing proves a backup happened).
    pub fn open(dir: &Path) -> (BackupStatus, Option<String>) {
        let path = dir.join(FILE_NAME);
        let (times, warning) = match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (BackupTimes::default(), None),
            Err(e) => (
                BackupTimes::default(),
                Some(format!("{}: {e}", path.display())),
            ),
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(times) => (times, None),
                Err(e) => (
                    BackupTimes::default(),
                    Some(format!("{}: {e}", path.display())),
                ),
            },
        };
        let status = BackupStatus {
            path,
            times: Mutex::new(times),
        };
        status.publish(times);
        (status, warning)
    }

    /// The recorded times.
    pub fn times(&self) -> BackupTimes {
        *self
            .times
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records that a backup manifest was signed at `now_unix_s`.
    pub fn backed_up(&self, now_unix_s: f64) -> std::io::Result<()> {
        self.update(|times| times.last_backup_unix_s = now_unix_s)
    }

    /// Records that a chain ending at `last_sequence` verified at `now_unix_s`.
    pub fn verified(&self, now_unix_s: f64, last_sequence: u64) -> std::io::Result<()> {
        self.update(|times| {
            times.last_verified_unix_s = now_unix_s;
            times.last_verified_sequence = last_sequence;
        })
    }

    /// Changes the times, writes the file (atomically, fsynced) and then the gauges: a time
    /// is shown only once it is kept.
    fn update(&self, change: impl FnOnce(&mut BackupTimes)) -> std::io::Result<()> {
        let mut times = self
            .times
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut next = *times;
        change(&mut next);
        let bytes = serde_json::to_vec_pretty(&next).map_err(std::io::Error::other)?;
        crate::files::write_atomic(&self.path, &bytes)?;
        *times = next;
        self.publish(next);
        Ok(())
    }

    fn publish(&self, times: BackupTimes) {
        metrics::gauge!("stemedb_last_backup_timestamp_seconds").set(times.last_backup_unix_s);
        metrics::gauge!("stemedb_last_verified_backup_timestamp_seconds")
            .set(times.last_verified_unix_s);
    }
}

/// Now, in Unix seconds.
pub fn now_unix_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Opens `dir`, applies `steps`, reopens, and compares what the reopened status holds.
    fn check(file: Option<&str>, steps: &[(&str, f64)], want: BackupTimes, warns: bool) {
        let dir = tempfile::tempdir().unwrap();
        if let Some(text) = file {
            std::fs::write(dir.path().join(FILE_NAME), text).unwrap();
        }
        let (status, warning) = BackupStatus::open(dir.path());
        assert_eq!(warning.is_some(), warns, "{warning:?}");
        for (step, at) in steps {
            match *step {
                "backup" => status.backed_up(*at).unwrap(),
                _ => status.verified(*at, 42).unwrap(),
            }
        }
        let (reopened, _) = BackupStatus::open(dir.path());
        assert_eq!(reopened.times(), want);
    }

    #[test]
    fn backup_times_survive_a_restart() {
        let never = BackupTimes::default();
        let backed = BackupTimes {
            last_backup_unix_s: 10.0,
            ..never
        };
        let both = BackupTimes {
            last_verified_unix_s: 20.0,
            last_verified_sequence: 42,
            ..backed
        };
        check(None, &[], never, false);
        check(None, &[("backup", 10.0)], backed, false);
        check(None, &[("backup", 10.0), ("verify", 20.0)], both, false);
        check(Some("{not json"), &[], never, true);
        check(Some("{not json"), &[("backup", 10.0)], backed, true);
    }
}
