//! Child `stemedb serve` processes: start on port 0, learn the address from stdout, kill.
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_stemedb");

pub struct ChildServer {
    pub child: Child,
    pub url: String,
}

/// The output of a `stemedb` run that must succeed; its stderr when it did not.
pub fn succeeded(out: std::process::Output) -> std::process::Output {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Waits for a child server's "listening on" line (stdout piped) and returns its URL.
pub fn read_listening_line(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("stemedb listening on ") {
                let _ = tx.send(url.to_owned());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("server printed its address")
}

impl ChildServer {
    /// Starts `stemedb serve` on `dir` and waits for its "listening on" line.
    pub fn start(dir: &Path) -> ChildServer {
        Self::start_with(dir, &[])
    }

    /// As [`ChildServer::start`], with more `serve` arguments.
    pub fn start_with(dir: &Path, extra: &[&std::ffi::OsStr]) -> ChildServer {
        Self::start_logged(dir, extra, Stdio::null())
    }

    /// As [`ChildServer::start_with`], its log (stderr) sent to `log`.
    pub fn start_logged(dir: &Path, extra: &[&std::ffi::OsStr], log: Stdio) -> ChildServer {
        let mut child = Command::new(BIN)
            .args(["serve", "--data-dir"])
            .arg(dir)
            .args(["--bind", "127.0.0.1:0"])
            .args(extra)
            .env("STEMEDB_ROOT_API_KEY", crate::harness::ROOT_KEY)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn stemedb serve");
        let url = read_listening_line(&mut child);
        ChildServer { child, url }
    }

    /// SIGKILL: no shutdown path runs.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for a clean exit; returns the exit status code.
    pub fn terminate(mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        None
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
