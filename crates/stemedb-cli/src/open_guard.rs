//! Opening a data directory with the storage engine's own panics turned into a named refusal.
//! fjall 3.1 / lsm-tree 3.1 assert on some fields of their version files instead of returning an
//! error, and a panic while the engine holds a lock then aborts in its destructor: a damaged
//! version file ended `stemedb check` or `serve` with a stack trace and SIGABRT. While a
//! directory is being opened, a panic raised inside the engine's code is reported as damage,
//! naming the directory and the way back, and the process exits 1. Panics anywhere else, and
//! the engine's after the open (a background worker: fjall poisons the database and the writer
//! reports it), keep the default hook.
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};

use anyhow::{Context, Result};
use stemedb::{Db, DbConfig};

/// The directory being opened, while it is.
static OPENING: Mutex<Option<PathBuf>> = Mutex::new(None);
static HOOK: Once = Once::new();

/// Source paths of the engine's crates, as they appear in a panic's location.
const ENGINE_SOURCES: [&str; 2] = ["/fjall-", "/lsm-tree-"];

/// `Db::open` under the guard.
pub fn open(dir: &Path, config: DbConfig) -> Result<Db> {
    HOOK.call_once(install);
    set_opening(Some(dir.to_owned()));
    let opened = Db::open(dir, config);
    set_opening(None);
    opened.with_context(|| format!("opening data directory {}", dir.display()))
}

fn set_opening(dir: Option<PathBuf>) {
    if let Ok(mut opening) = OPENING.lock() {
        *opening = dir;
    }
}

fn install() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let in_engine = info
            .location()
            .is_some_and(|l| ENGINE_SOURCES.iter().any(|s| l.file().contains(s)));
        let opening = OPENING.try_lock().ok().and_then(|o| o.clone());
        let (true, Some(dir)) = (in_engine, opening) else {
            return default(info);
        };
        let reason = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("an internal check failed");
        eprintln!(
            "Error: opening data directory {}\n\nCaused by:\n    the storage engine found its \
             files damaged and stopped ({}). A table or version file under {}/engine is damaged \
             or truncated; the way back is a restore from a backup \
             (docs/operations/server-wont-start.md)",
            dir.display(),
            reason.replace('\n', " "),
            dir.display()
        );
        std::process::exit(1);
    }));
}
