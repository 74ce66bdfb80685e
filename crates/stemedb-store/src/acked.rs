//! The acknowledgement mark (`ACKED`): the highest sequence ever acknowledged, kept outside the
//! engine so that damage which makes the engine lose acknowledged records cannot also erase the
//! evidence. fjall's journal recovery stops at the first entry it cannot read and takes what
//! follows for an unwritten tail; a run of zeroed bytes in the journal therefore looks like a
//! clean end. Comparing the engine's last sequence with this mark at open turns that silent loss
//! into a named refusal (docs/file-format.md, "ACKED").
//!
//! Layout: two 32-byte slots, written alternately in place, each `magic (8) | counter (8, LE) |
//! sequence (8, LE) | checksum (8)`, the checksum being the first 8 bytes of the BLAKE3 of the
//! 24 before it. The valid slot with the higher counter wins, so a torn write of one slot
//! leaves the other. The mark is written after every durable group commit (so a process kill
//! never loses it) and fsynced every `SYNC_EVERY_COMMITS` commits and at close: after a power
//! loss it may lag the engine, never lead it, so it never reports a loss that did not happen.
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::StoreError;

pub(crate) const ACKED_FILE: &str = "ACKED";
const MAGIC: &[u8; 8] = b"stmdACK1";
const SLOT_BYTES: usize = 32;
/// Commits between two fsyncs of the mark (a page-cache write happens at every commit).
const SYNC_EVERY_COMMITS: u64 = 32;

/// What `ACKED` held when the store opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckedAtOpen {
    /// No file: a new data directory, or one written before the mark existed.
    Missing,
    /// The highest acknowledged sequence.
    Sequence(u64),
    /// Neither slot passed its checksum.
    Damaged,
}

/// The open mark file, owned by the writer thread.
pub(crate) struct AckMark {
    path: PathBuf,
    file: File,
    counter: u64,
    commits_unsynced: u64,
    /// The file holds both slots (64 bytes), so a write goes in place. Known at open, and set
    /// once a write lays the slots out, instead of asked of the file system at every commit
    /// (one `statx` a group commit; only this process writes the file while it holds `LOCK`).
    laid_out: bool,
}

impl AckMark {
    /// Reads the mark in `dir` without changing it.
    pub(crate) fn read(dir: &Path) -> Result<AckedAtOpen, StoreError> {
        let path = dir.join(ACKED_FILE);
        let mut bytes = Vec::new();
        match File::open(&path) {
            Ok(mut file) => file.read_to_end(&mut bytes).map_err(io_err(&path))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(AckedAtOpen::Missing),
            Err(e) => return Err(io_err(&path)(e)),
        };
        Ok(best_slot(&bytes).map_or(AckedAtOpen::Damaged, |(_, seq)| AckedAtOpen::Sequence(seq)))
    }

    /// Opens the mark for writing, first setting it to `sequence` when it is missing, damaged
    /// or behind (the store has just verified that the engine holds `sequence`).
    pub(crate) fn open(dir: &Path, sequence: u64) -> Result<AckMark, StoreError> {
        let path = dir.join(ACKED_FILE);
        let created = !path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err(&path))?;
        let mut bytes = Vec::new();
        (&file).read_to_end(&mut bytes).map_err(io_err(&path))?;
        let (counter, found) = best_slot(&bytes).unwrap_or((0, 0));
        let mut mark = AckMark {
            path,
            file,
            counter,
            commits_unsynced: 0,
            laid_out: bytes.len() == 2 * SLOT_BYTES,
        };
        if created || found != sequence || bytes.len() != 2 * SLOT_BYTES {
            mark.write(sequence)?;
            mark.sync()?;
            if created {
                File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(io_err(dir))?;
            }
        }
        Ok(mark)
    }

    /// Records that every sequence up to `sequence` is acknowledged; called after the durable
    /// sync of the group commit holding it, before any waiter is answered.
    pub(crate) fn record(&mut self, sequence: u64) -> Result<(), StoreError> {
        self.write(sequence)?;
        self.commits_unsynced += 1;
        if self.commits_unsynced >= SYNC_EVERY_COMMITS {
            self.sync()?;
        }
        Ok(())
    }

    pub(crate) fn sync(&mut self) -> Result<(), StoreError> {
        self.commits_unsynced = 0;
        self.file.sync_data().map_err(io_err(&self.path))
    }

    fn write(&mut self, sequence: u64) -> Result<(), StoreError> {
        self.counter += 1;
        let slot = encode_slot(self.counter, sequence);
        let offset = (self.counter % 2) * SLOT_BYTES as u64;
        if !self.laid_out {
            // A new (or cut) file: lay out both slots so that its length is fixed from now on.
            let mut both = slot.to_vec();
            both.extend_from_slice(&slot);
            self.file.set_len(0).map_err(io_err(&self.path))?;
            self.file
                .write_all_at(&both, 0)
                .map_err(io_err(&self.path))?;
            self.laid_out = true;
            return Ok(());
        }
        self.file
            .write_all_at(&slot, offset)
            .map_err(io_err(&self.path))
    }
}

fn encode_slot(counter: u64, sequence: u64) -> [u8; SLOT_BYTES] {
    let mut slot = [0u8; SLOT_BYTES];
    slot[..8].copy_from_slice(MAGIC);
    slot[8..16].copy_from_slice(&counter.to_le_bytes());
    slot[16..24].copy_from_slice(&sequence.to_le_bytes());
    let sum = blake3::hash(&slot[..24]);
    slot[24..].copy_from_slice(&sum.as_bytes()[..8]);
    slot
}

/// (counter, sequence) of a slot that passes its checks.
fn decode_slot(slot: &[u8]) -> Option<(u64, u64)> {
    let fixed = |range: std::ops::Range<usize>| -> Option<u64> {
        slot.get(range)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_le_bytes)
    };
    if slot.len() != SLOT_BYTES || &slot[..8] != MAGIC {
        return None;
    }
    let sum = blake3::hash(&slot[..24]);
    if slot[24..] != sum.as_bytes()[..8] {
        return None;
    }
    Some((fixed(8..16)?, fixed(16..24)?))
}

/// The valid slot with the highest counter.
fn best_slot(bytes: &[u8]) -> Option<(u64, u64)> {
    bytes
        .chunks(SLOT_BYTES)
        .take(2)
        .filter_map(decode_slot)
        .max_by_key(|(counter, _)| *counter)
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Each row: what is done to a freshly written mark of 7 → what a reader finds.
    #[test]
    fn a_damaged_slot_falls_back_to_the_other_and_both_damaged_is_named() {
        fn check(name: &str, damage: &dyn Fn(&mut Vec<u8>), want: AckedAtOpen) {
            let dir = tempfile::tempdir().unwrap();
            let mut mark = AckMark::open(dir.path(), 0).unwrap();
            for seq in [5, 6, 7] {
                mark.record(seq).unwrap();
            }
            let path = dir.path().join(ACKED_FILE);
            let mut bytes = std::fs::read(&path).unwrap();
            damage(&mut bytes);
            std::fs::write(&path, &bytes).unwrap();
            assert_eq!(AckMark::read(dir.path()).unwrap(), want, "{name}");
        }
        let newer = |b: &[u8]| {
            usize::from(decode_slot(&b[..32]).unwrap().0 < decode_slot(&b[32..]).unwrap().0)
        };
        check("untouched", &|_| {}, AckedAtOpen::Sequence(7));
        check(
            "newer slot zeroed",
            &|b| {
                let i = newer(b) * 32;
                b[i..i + 32].fill(0);
            },
            AckedAtOpen::Sequence(6),
        );
        check(
            "a bit of the newer slot flipped",
            &|b| {
                let i = newer(b) * 32 + 17;
                b[i] ^= 1;
            },
            AckedAtOpen::Sequence(6),
        );
        check("both zeroed", &|b| b.fill(0), AckedAtOpen::Damaged);
        check("truncated to nothing", &|b| b.clear(), AckedAtOpen::Damaged);
        check(
            "truncated to its first slot",
            &|b| b.truncate(32),
            AckedAtOpen::Sequence(7),
        );
    }
}
