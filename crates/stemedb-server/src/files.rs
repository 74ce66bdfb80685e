//! Small durable files the server keeps beside the store (API keys, custodial agent keys,
//! the master key) and the CLI beside its inputs (an import's progress): atomic replacement
//! and owner-only creation.
use std::io::Write;
use std::path::Path;

/// Replaces `path` with `bytes` atomically: a temporary file (`path` with `.tmp` added, never
/// another extension swapped in: `rows.jsonl.import-state` must not write over the user's
/// `rows.jsonl.tmp`), fsync, rename, fsync of the directory. A crash leaves either the old
/// file or the new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = std::path::PathBuf::from(temporary);
    let mut out = std::fs::File::create(&temporary)?;
    out.write_all(bytes)?;
    out.sync_all()?;
    std::fs::rename(&temporary, path)?;
    // A bare file name's parent is "": the directory is the current one.
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)?.sync_all()
}

/// Creates a new file readable only by its owner (0600) holding `bytes`; fails if it exists.
pub fn create_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
