//! Group summaries kept for readers, so that a query naming a group usually reads its
//! sequences from memory instead of a point read of `groups` (a memtable search, then a
//! filter, an index block and a data block in each level: 12 % of the server's CPU per winner
//! query at 1 M stored; docs/benchmarks.md, "Sixteenth session"). Filled by readers on a miss
//! and kept current by the writer, which replaces every cached summary it changes.
//!
//! Invariant: a reader that looks a group up with durable sequence `D` gets either nothing or
//! a summary holding every sequence up to `D` that the group has (it may hold later ones, which
//! readers drop by their bound, as they do for an engine read). It holds because:
//! - the writer, after a commit is durable and before it publishes the new durable sequence
//!   `W` (`writer/commit.rs`), takes each changed group's shard lock, replaces the group's
//!   entry if there is one, and raises the shard's `written_through` to `W`;
//! - a reader that missed offers what it read only with the durable sequence `S` it read
//!   before the engine read, and the offer is refused when the shard's `written_through` is
//!   above `S`. Both happen under the shard's lock, so for a commit `W > S` that changed the
//!   group either the writer's replacement comes after the offer (and replaces it) or the
//!   offer comes after it (and is refused); a commit up to `S` was visible to the engine read;
//! - absent groups are never cached (a restore fills an empty store outside the writer);
//! - a rebuild or a restore of `groups` bumps `Shared::groups_rebuilds`, and a shard that
//!   sees a new value drops its entries; a lookup or an offer under an older value than the
//!   shard's gets nothing and changes nothing (a review found that letting it roll the count
//!   back would keep a summary read mid-rebuild);
//! - an engine reopened after a failed commit comes with a new, empty cache.
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::summary::Summary;

/// Shards, so that the async workers seldom wait for one another's lookups.
const SHARDS: usize = 32;
/// What an entry costs besides its key and sequences (the map's slot, the allocations).
const ENTRY_OVERHEAD_BYTES: usize = 80;

pub(crate) struct GroupCache {
    shards: Box<[Mutex<Shard>]>,
    shard_bytes_max: usize,
}

#[derive(Default)]
struct Shard {
    entries: HashMap<Box<[u8]>, Summary>,
    bytes: usize,
    /// The highest durable sequence of a commit that changed a group of this shard.
    written_through: u64,
    /// `Shared::groups_rebuilds` when the entries were taken in.
    rebuilds: u64,
}

impl Shard {
    /// Whether the shard may serve a reader who saw `rebuilds` as the rebuild count. A newer
    /// count drops everything taken in before it; an older one (a reader that started before
    /// the last rebuild ended) is served nothing and never rolls the shard's count back, or an
    /// offer read during the rebuild could be kept under the count it ended with.
    fn at(&mut self, rebuilds: u64) -> bool {
        if rebuilds > self.rebuilds {
            self.entries.clear();
            self.bytes = 0;
            self.rebuilds = rebuilds;
        }
        rebuilds == self.rebuilds
    }

    fn put(&mut self, key: &[u8], summary: &Summary, shard_bytes_max: usize) {
        let bytes = weight(key, summary);
        if let Some(old) = self.entries.remove(key) {
            self.bytes -= weight(key, &old);
        }
        if self.bytes + bytes > shard_bytes_max {
            // Dropped whole, as the writer's summary cache is: it refills from what is read.
            self.entries.clear();
            self.bytes = 0;
        }
        if bytes <= shard_bytes_max {
            self.bytes += bytes;
            self.entries.insert(key.into(), summary.clone());
        }
    }
}

fn weight(key: &[u8], summary: &Summary) -> usize {
    let sequences = match summary {
        Summary::Sequences(seqs) => seqs.len() * 8,
        Summary::Large => 0,
    };
    key.len() + sequences + ENTRY_OVERHEAD_BYTES
}

impl GroupCache {
    /// A cache of about `bytes` at most (0: none; every read goes to the engine).
    pub(crate) fn new(bytes: u64) -> GroupCache {
        let shards = (0..SHARDS).map(|_| Mutex::default()).collect();
        let shard_bytes_max = usize::try_from(bytes / SHARDS as u64).unwrap_or(usize::MAX);
        GroupCache {
            shards,
            shard_bytes_max,
        }
    }

    fn shard(&self, key: &[u8]) -> Option<MutexGuard<'_, Shard>> {
        // Keys are the store's own group prefixes, not a hash-flooding surface (a shard only
        // bounds lock sharing, never a lookup's cost).
        let hash = crate::keys::fnv1a(key);
        let index = (hash % SHARDS as u64) as usize;
        // A poisoned shard (a panic while held) is skipped: the engine answers instead.
        self.shards.get(index)?.lock().ok()
    }

    /// The cached summary of `key`, if any.
    pub(crate) fn get(&self, key: &[u8], rebuilds: u64) -> Option<Summary> {
        if self.shard_bytes_max == 0 {
            return None;
        }
        let mut shard = self.shard(key)?;
        if !shard.at(rebuilds) {
            return None;
        }
        shard.entries.get(key).cloned()
    }

    /// A reader's offer of what the engine held for `key`, read after it saw `durable` as the
    /// durable sequence and `rebuilds` as the rebuild count; refused when a commit after
    /// `durable` changed a group of its shard, or `groups` was rebuilt since.
    pub(crate) fn offer(&self, key: &[u8], summary: &Summary, durable: u64, rebuilds: u64) {
        if self.shard_bytes_max == 0 {
            return;
        }
        let Some(mut shard) = self.shard(key) else {
            return;
        };
        if shard.written_through > durable || !shard.at(rebuilds) {
            return;
        }
        shard.put(key, summary, self.shard_bytes_max);
    }

    /// The writer's summaries of a durable commit whose last sequence is `durable`, before it
    /// publishes that sequence: each replaces a cached entry of its group, and every shard it
    /// touches refuses offers read before it.
    pub(crate) fn write_through<'a>(
        &self,
        summaries: impl Iterator<Item = (&'a [u8], &'a Summary)>,
        durable: u64,
    ) {
        if self.shard_bytes_max == 0 {
            return;
        }
        for (key, summary) in summaries {
            let Some(mut shard) = self.shard(key) else {
                continue;
            };
            shard.written_through = shard.written_through.max(durable);
            if shard.entries.contains_key(key) {
                shard.put(key, summary, self.shard_bytes_max);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{GroupCache, SHARDS};
    use crate::summary::Summary;

    fn seqs(list: &[u64]) -> Summary {
        Summary::Sequences(list.to_vec())
    }

    /// One step against a cache of 1 MiB: `offer`, `write`, or a `get` that must see `want`.
    enum Step<'a> {
        Offer(&'a [u8], Summary, u64, u64),
        Write(&'a [u8], Summary, u64),
        Get(&'a [u8], u64, Option<Summary>),
    }

    fn check(name: &str, steps: Vec<Step>) {
        let cache = GroupCache::new(1 << 20);
        for (i, step) in steps.into_iter().enumerate() {
            match step {
                Step::Offer(key, summary, durable, rebuilds) => {
                    cache.offer(key, &summary, durable, rebuilds)
                }
                Step::Write(key, summary, durable) => {
                    cache.write_through([(key, &summary)].into_iter(), durable)
                }
                Step::Get(key, rebuilds, want) => {
                    assert_eq!(cache.get(key, rebuilds), want, "{name}, step {i}")
                }
            }
        }
    }

    #[test]
    fn readers_never_get_a_summary_older_than_what_they_saw_durable() {
        use Step::*;
        let g: &[u8] = b"s\0p\0";
        check(
            "an offer is kept and found",
            vec![Offer(g, seqs(&[1]), 1, 0), Get(g, 0, Some(seqs(&[1])))],
        );
        check(
            "the writer replaces a cached summary",
            vec![
                Offer(g, seqs(&[1]), 1, 0),
                Write(g, seqs(&[1, 5]), 5),
                Get(g, 0, Some(seqs(&[1, 5]))),
            ],
        );
        check(
            "an offer read before a later commit is refused",
            vec![
                Write(g, seqs(&[1, 5]), 5),
                Offer(g, seqs(&[1]), 4, 0),
                Get(g, 0, None),
            ],
        );
        check(
            "an offer read after the commit is kept",
            vec![
                Write(g, seqs(&[1, 5]), 5),
                Offer(g, seqs(&[1, 5]), 5, 0),
                Get(g, 0, Some(seqs(&[1, 5]))),
            ],
        );
        check(
            "the writer does not add groups nobody read",
            vec![Write(g, seqs(&[7]), 7), Get(g, 0, None)],
        );
        check(
            "a rebuild drops what was cached",
            vec![
                Offer(g, seqs(&[1]), 1, 0),
                Get(g, 1, None),
                Offer(g, seqs(&[1]), 1, 0),
                Get(g, 1, None),
            ],
        );
        check(
            "a reader from before the last rebuild neither reads nor rolls the count back",
            vec![
                Offer(g, seqs(&[1, 2]), 2, 2),
                Get(g, 1, None),
                Offer(g, seqs(&[1]), 2, 1),
                Get(g, 2, Some(seqs(&[1, 2]))),
            ],
        );
        check(
            "large groups are cached as large",
            vec![
                Offer(g, Summary::Large, 9, 0),
                Get(g, 0, Some(Summary::Large)),
            ],
        );
    }

    #[test]
    fn a_full_shard_is_dropped_and_an_empty_cache_holds_nothing() {
        let cache = GroupCache::new(SHARDS as u64 * 200);
        let keys: Vec<Vec<u8>> = (0..2000u32).map(|i| i.to_be_bytes().to_vec()).collect();
        for key in &keys {
            cache.offer(key, &seqs(&[1, 2, 3]), 3, 0);
        }
        let held = keys.iter().filter(|k| cache.get(k, 0).is_some()).count();
        assert!(held > 0 && held <= 2 * SHARDS, "{held} held");
        let none = GroupCache::new(0);
        none.offer(b"k", &seqs(&[1]), 1, 0);
        assert_eq!(none.get(b"k", 0), None);
    }
}
