//! The memory this process may use, and the block cache default drawn from it.
//!
//! A winner query reads a few random blocks per group; once the store outgrows the block
//! cache those reads go through the kernel's page cache and cost grows with the store
//! (docs/benchmarks.md, "Tenth session"). So the default cache is a share of memory, as
//! WiredTiger and PostgreSQL's tuning guides size theirs, not a fixed figure. It is a cap:
//! blocks fill it only as they are read, so an idle server costs no more with a larger one.

/// Block cache when the memory cannot be read (not Linux, or no `/proc`).
pub const CACHE_BYTES_UNKNOWN_MEMORY: u64 = 512 * 1024 * 1024;
/// The smallest default block cache.
pub const CACHE_BYTES_MIN: u64 = 64 * 1024 * 1024;

/// The default block cache for a process that may use `memory_bytes`: a quarter of it, at
/// least [`CACHE_BYTES_MIN`]; [`CACHE_BYTES_UNKNOWN_MEMORY`] when unknown.
pub fn cache_bytes_for_memory(memory_bytes: Option<u64>) -> u64 {
    memory_bytes.map_or(CACHE_BYTES_UNKNOWN_MEMORY, |m| (m / 4).max(CACHE_BYTES_MIN))
}

/// The memory this process may use: the machine's, or its control group's limit when that
/// is lower (a container). `None` when neither can be read. Read once per process: every
/// `DbConfig::default()` asks, and the CLI builds one per flag default.
pub fn memory_limit_bytes() -> Option<u64> {
    static LIMIT: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(read_memory_limit_bytes)
}

fn read_memory_limit_bytes() -> Option<u64> {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let total = read("/proc/meminfo").and_then(|t| mem_total_bytes(&t));
    let limits = [
        read("/sys/fs/cgroup/memory.max"),
        read("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
    ];
    let group = limits
        .iter()
        .flatten()
        .filter_map(|t| cgroup_limit_bytes(t))
        .min();
    match (total, group) {
        (Some(t), Some(g)) => Some(t.min(g)),
        (t, g) => t.or(g),
    }
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
fn mem_total_bytes(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line.split_whitespace().skip(1);
    let kib: u64 = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(kib.checked_mul(1024)?)
}

/// A control group's memory limit: a number of bytes, or none (`max`, or cgroup v1's
/// "unlimited", a number near 2^63).
fn cgroup_limit_bytes(text: &str) -> Option<u64> {
    let bytes: u64 = text.trim().parse().ok()?;
    (bytes < 1 << 60).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1024 * 1024 * 1024;

    fn check(memory: Option<u64>, cache: u64) {
        assert_eq!(cache_bytes_for_memory(memory), cache, "memory {memory:?}");
    }

    #[test]
    fn cache_is_a_quarter_of_memory() {
        check(None, 512 * 1024 * 1024);
        check(Some(0), CACHE_BYTES_MIN);
        check(Some(GIB / 8), CACHE_BYTES_MIN);
        check(Some(GIB), GIB / 4);
        check(Some(23 * GIB), 23 * GIB / 4);
    }

    #[test]
    fn limits_are_parsed() {
        let meminfo = "MemTotal:       24576000 kB\nMemFree:        100 kB\n";
        assert_eq!(mem_total_bytes(meminfo), Some(24_576_000 * 1024));
        assert_eq!(mem_total_bytes("MemFree: 1 kB\n"), None);
        assert_eq!(mem_total_bytes("MemTotal: 12 MB\n"), None);
        assert_eq!(cgroup_limit_bytes("max\n"), None);
        assert_eq!(cgroup_limit_bytes("9223372036854771712\n"), None);
        assert_eq!(cgroup_limit_bytes("1073741824\n"), Some(GIB));
        assert_eq!(cgroup_limit_bytes(""), None);
    }
}
