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

/// The engine's crates: a panic's location names a file under a directory of one of these
/// names, versioned as cargo's registry unpacks it (`lsm-tree-3.1.10/src/…`) or plain as this
/// repository vendors it (`vendor/lsm-tree/src/…`).
const ENGINE_CRATES: [&str; 2] = ["fjall", "lsm-tree"];

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
        let in_engine = info.location().is_some_and(|l| in_engine_source(l.file()));
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

/// Whether a source file's path lies in one of the engine's crates.
fn in_engine_source(file: &str) -> bool {
    Path::new(file).components().any(|part| {
        let part = part.as_os_str().to_string_lossy();
        ENGINE_CRATES.iter().any(|name| {
            part.strip_prefix(name)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::in_engine_source;

    #[test]
    fn engine_sources_are_recognized_wherever_cargo_put_them() {
        #[rustfmt::skip]
        let cases = [
            ("vendor/lsm-tree/src/manifest.rs", true),
            ("vendor/fjall/src/db.rs", true),
            ("/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/lsm-tree-3.1.10/src/manifest.rs", true),
            ("/home/u/.cargo/registry/src/x/fjall-3.1.13/src/db.rs", true),
            ("/work/ci/vendor/lsm-tree/src/tree/mod.rs", true),
            ("crates/stemedb-store/src/engine.rs", false),
            ("vendor/fjallish/src/lib.rs", false),
            ("crates/stemedb-store/src/fjall.rs", false),
            ("/rustc/5980/library/core/src/panicking.rs", false),
        ];
        for (file, expected) in cases {
            check(file, expected);
        }
    }

    fn check(file: &str, expected: bool) {
        assert_eq!(in_engine_source(file), expected, "{file}");
    }
}
