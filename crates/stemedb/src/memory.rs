//! The memory this process may use, and the block cache default drawn from it.
//!
//! A winner query reads a few random blocks per group; once the store outgrows the block
//! cache those reads go through the kernel's page cache and cost grows with the store
//! (docs/benchmarks.md, "Tenth session"). So the default cache is a share of memory, as
//! PostgreSQL's tuning guide sizes `shared_buffers` (a quarter), not a fixed figure. It is a
//! cap: blocks fill it only as they are read, so an idle server costs no more with a larger
//! one. Each `Db` of a process takes its own share; a program that opens several sets
//! `cache_bytes` itself.

/// Block cache when the memory cannot be read (not Linux, or no `/proc`).
pub const CACHE_BYTES_UNKNOWN_MEMORY: u64 = 512 * 1024 * 1024;
/// The smallest default block cache.
pub const CACHE_BYTES_MIN: u64 = 16 * 1024 * 1024;

/// The default block cache for a process that may use `memory_bytes`: a quarter of it, at
/// least [`CACHE_BYTES_MIN`]; [`CACHE_BYTES_UNKNOWN_MEMORY`] when unknown.
pub fn cache_bytes_for_memory(memory_bytes: Option<u64>) -> u64 {
    memory_bytes.map_or(CACHE_BYTES_UNKNOWN_MEMORY, |m| (m / 4).max(CACHE_BYTES_MIN))
}

/// The memory this process may use: the machine's, or the lowest limit of its control group
/// and the groups above it (a container, a systemd `MemoryMax=`). `None` when none can be
/// read. Read once per process: every `DbConfig::default()` asks, and the CLI builds one per
/// flag default.
pub fn memory_limit_bytes() -> Option<u64> {
    static LIMIT: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(read_memory_limit_bytes)
}

fn read_memory_limit_bytes() -> Option<u64> {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let total = read("/proc/meminfo").and_then(|t| mem_total_bytes(&t));
    let groups = read("/proc/self/cgroup").unwrap_or_default();
    let group = limit_files(&groups)
        .iter()
        .filter_map(|path| read(path))
        .filter_map(|t| cgroup_limit_bytes(&t))
        .min();
    match (total, group) {
        (Some(t), Some(g)) => Some(t.min(g)),
        (t, g) => t.or(g),
    }
}

/// The files holding the memory limits of this process's control group and of every group
/// above it, from `/proc/self/cgroup`: cgroup v2 (`0::/path`, `memory.max` under
/// `/sys/fs/cgroup`) and v1 (the `memory` controller's line, `memory.limit_in_bytes` under
/// `/sys/fs/cgroup/memory`).
fn limit_files(proc_self_cgroup: &str) -> Vec<String> {
    let mut files = Vec::new();
    for line in proc_self_cgroup.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let (base, file) = if id == "0" && controllers.is_empty() {
            ("/sys/fs/cgroup", "memory.max")
        } else if controllers.split(',').any(|c| c == "memory") {
            ("/sys/fs/cgroup/memory", "memory.limit_in_bytes")
        } else {
            continue;
        };
        let mut dir = path.trim_end_matches('/');
        loop {
            files.push(format!("{base}{dir}/{file}"));
            match dir.rfind('/') {
                Some(cut) => dir = &dir[..cut],
                None => break,
            }
        }
    }
    files
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
        check(Some(GIB / 8), 32 * 1024 * 1024);
        check(Some(GIB / 32), CACHE_BYTES_MIN);
        check(Some(GIB), GIB / 4);
        check(Some(23 * GIB), 23 * GIB / 4);
    }

    fn check_files(proc_self_cgroup: &str, want: &[&str]) {
        assert_eq!(limit_files(proc_self_cgroup), want, "{proc_self_cgroup:?}");
    }

    #[test]
    fn limit_files_are_the_group_and_every_group_above_it() {
        check_files("0::/\n", &["/sys/fs/cgroup/memory.max"]);
        check_files(
            "0::/system.slice/stemedb.service\n",
            &[
                "/sys/fs/cgroup/system.slice/stemedb.service/memory.max",
                "/sys/fs/cgroup/system.slice/memory.max",
                "/sys/fs/cgroup/memory.max",
            ],
        );
        check_files(
            "5:devices:/\n4:cpuacct,memory:/docker/abc\n1:cpu:/\n0::/\n",
            &[
                "/sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes",
                "/sys/fs/cgroup/memory/docker/memory.limit_in_bytes",
                "/sys/fs/cgroup/memory/memory.limit_in_bytes",
                "/sys/fs/cgroup/memory.max",
            ],
        );
        check_files("", &[]);
        check_files("garbage\n4:memoryx:/a\n", &[]);
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
