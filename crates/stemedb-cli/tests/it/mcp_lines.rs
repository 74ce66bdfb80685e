//! `stemedb mcp` reads one JSON-RPC message a line with a bound: a line past
//! `--line-bytes-max` is answered with an error and skipped, never held whole, and the
//! messages after it are answered as usual. (The protocol itself, with a real MCP client, is
//! `tests/mcp/run.sh` in CI.)
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::child::BIN;

struct Case {
    name: &'static str,
    /// What is written to stdin, in order.
    input: Vec<u8>,
    /// The replies expected, in order: each one's error code, 0 for a result.
    replies: &'static [i64],
}

fn ping(id: u64) -> Vec<u8> {
    format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"ping\"}}\n").into_bytes()
}

fn cases() -> Vec<Case> {
    let long = [vec![b'x'; 5_000], b"\n".to_vec()].concat();
    let long_unended = vec![b'{'; 3_000];
    vec![
        Case {
            name: "a line past the bound, then a ping",
            input: [long.clone(), ping(1)].concat(),
            replies: &[-32600, 0],
        },
        Case {
            name: "a ping, a line past the bound, a ping",
            input: [ping(1), long, ping(2)].concat(),
            replies: &[0, -32600, 0],
        },
        Case {
            name: "a message of exactly the bound",
            input: {
                let mut line = ping(3);
                line.pop();
                line.resize(1_024, b' ');
                line.push(b'\n');
                line
            },
            replies: &[0],
        },
        Case {
            name: "a last line past the bound without its newline",
            input: [ping(4), long_unended].concat(),
            replies: &[0, -32600],
        },
        Case {
            name: "a line that is not UTF-8",
            input: [vec![0xff, 0xfe, b'\n'], ping(5)].concat(),
            replies: &[-32700, 0],
        },
    ]
}

fn check(case: &Case) {
    let name = case.name;
    let mut child = Command::new(BIN)
        .args([
            "mcp",
            "--server",
            "http://127.0.0.1:9",
            "--line-bytes-max",
            "1024",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&case.input).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replies: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<i64> = replies
        .iter()
        .map(|r| r["error"]["code"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(got, case.replies, "{name}: {replies:?}");
}

#[test]
fn mcp_answers_a_line_past_its_bound_with_an_error_and_goes_on() {
    cases().iter().for_each(check);
}
