//! `v0-prune tail -f` through prunes: numbered lines appended by an
//! O_APPEND writer (`nohup cmd >> x.log`) and by `echo >>` (open, append,
//! close) while a prune runs every 0.2 s, in place under the O_APPEND
//! writer and by rename without it; the follower prints exactly the lines
//! appended after it started, in order, each once, and never a padding
//! line. (GNU `tail -f` repeats the kept file after an in-place prune and
//! stops at a rename.)
//!
//! The retention is 3 s, so every prune finds lines that have expired
//! since the last one, and the follower (a look every 100 ms) reads each
//! line long before it expires.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use v0_prune_shared::platform::{self, Access};
use v0_prune_testkit::{PATIENCE, TestProject, signal, wait_until, wait_until_held};

const LOG: &str = "logs/followed.log";

fn now_stamp() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The prunes' switch: a long-lived writer must not open the log while a
/// rename prune runs (it would write on into the replaced file: the one
/// window the engine leaves, ARCHITECTURE.md), so prunes pause while one
/// opens it.
#[derive(Default)]
struct Pruning {
    stop: AtomicBool,
    paused: AtomicBool,
    busy: AtomicBool,
}

impl Pruning {
    /// Runs `open` with no prune running.
    fn paused<T>(&self, open: impl FnOnce() -> T) -> T {
        self.paused.store(true, Ordering::SeqCst);
        assert!(wait_until(PATIENCE, || !self.busy.load(Ordering::SeqCst)));
        let opened = open();
        self.paused.store(false, Ordering::SeqCst);
        opened
    }
}

/// Appends numbered lines through one O_APPEND descriptor held for
/// `during` (opened while no prune runs); returns how many it wrote.
fn append_for(path: &std::path::Path, during: Duration, pruning: &Pruning) -> u64 {
    let mut file = pruning.paused(|| {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .expect("the log")
    });
    let end = Instant::now() + during;
    let mut n = 0;
    while Instant::now() < end {
        // About 30 KB/s: every 0.2 s more than a block expires. One write
        // per line, as a logger does (`writeln!` writes it in pieces, which
        // the `echo` writer's lines would land between).
        let line = format!("[{}] append {n} ........................\n", now_stamp());
        file.write_all(line.as_bytes()).expect("append");
        n += 1;
        std::thread::sleep(Duration::from_millis(2));
    }
    n
}

/// `echo "[stamp] echo N" >> log` in a shell loop for `during`; returns how
/// many lines it wrote.
fn echo_for(path: &std::path::Path, during: Duration) -> u64 {
    let script = r#"i=0
end=$(( $(date +%s) + $2 ))
while [ "$(date +%s)" -lt "$end" ]; do
  echo "[$(date -u +%Y-%m-%dT%H:%M:%SZ)] echo $i" >> "$1"
  i=$((i+1))
done
echo "$i""#;
    let output = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(path)
        .arg(during.as_secs().to_string())
        .stdin(Stdio::null())
        .output()
        .expect("sh");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("the count")
}

/// Numbers of the lines of `writer` in `text`, in order.
fn numbers(text: &str, writer: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|line| {
            let rest = line.get(23..)?.strip_prefix(writer)?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .collect()
}

#[test]
fn tail_f_prints_each_appended_line_once_through_in_place_and_rename_prunes() {
    let project = TestProject::bare();
    let path = project.build.path(LOG);
    // Lines from before the follow starts, not to be printed.
    project.build.write(
        LOG,
        format!(
            "nohup: ignoring input\n[{}] before the follow\n",
            now_stamp()
        ),
    );
    let mut tail = project
        .v0_prune(["tail", "-f", "-n", "0", LOG])
        .env("V0_PRUNE_INTERVAL", "1h")
        .spawn();
    assert!(
        wait_until_held(&path, tail.pid(), Access::Read),
        "the follower never opened the log"
    );

    // A prune every 0.2 s, recording how each went.
    let pruning = Arc::new(Pruning::default());
    let pruner = {
        let pruning = Arc::clone(&pruning);
        let root = project.root.clone();
        std::thread::spawn(move || {
            let mut methods = Vec::new();
            while !pruning.stop.load(Ordering::SeqCst) {
                pruning.busy.store(true, Ordering::SeqCst);
                if pruning.paused.load(Ordering::SeqCst) {
                    pruning.busy.store(false, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                let run = v0_prune_testkit::Invocation::new("v0-prune", &root)
                    .args(["--json"])
                    .env("V0_PRUNE_RETENTION", "3s")
                    .run();
                if let Ok(report) = serde_json::from_str::<Value>(&run.stdout) {
                    for log in report["run"]["logs"]["pruned"]
                        .as_array()
                        .into_iter()
                        .flatten()
                    {
                        methods.push(log["method"].as_str().unwrap_or("?").to_owned());
                    }
                }
                pruning.busy.store(false, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(200));
            }
            methods
        })
    };

    // In place (an O_APPEND writer holds it), by rename (only `echo >>`),
    // then both writers at once.
    let appended_a = append_for(&path, Duration::from_millis(4500), &pruning);
    let echoed_b = echo_for(&path, Duration::from_secs(4));
    let both = {
        let path = path.clone();
        std::thread::spawn(move || echo_for(&path, Duration::from_secs(3)))
    };
    let appended_c = append_for(&path, Duration::from_secs(3), &pruning);
    let echoed_c = both.join().expect("the echo writer");
    pruning.stop.store(true, Ordering::SeqCst);
    let methods = pruner.join().expect("the pruner");

    // The append writer numbers from 0 in each phase; so does `echo`.
    let expected_append: Vec<u64> = (0..appended_a).chain(0..appended_c).collect();
    let expected_echo: Vec<u64> = (0..echoed_b).chain(0..echoed_c).collect();
    let caught_up = wait_until(PATIENCE, || {
        let out = tail.stdout();
        numbers(&out, "append").len() >= expected_append.len()
            && numbers(&out, "echo").len() >= expected_echo.len()
    });
    signal(tail.pid(), rustix::process::Signal::INT).expect("Ctrl-C");
    let outcome = tail.wait(PATIENCE);
    let out = outcome.stdout.clone();
    let (got_append, got_echo) = (numbers(&out, "append"), numbers(&out, "echo"));
    assert!(
        caught_up,
        "the follower printed {} of {} O_APPEND lines and {} of {} echo lines; prunes {methods:?}\n--- stderr\n{}",
        got_append.len(),
        expected_append.len(),
        got_echo.len(),
        expected_echo.len(),
        outcome.stderr
    );
    assert_eq!(outcome.code, Some(0), "{}", outcome.stderr);
    assert_eq!(
        got_append, expected_append,
        "the O_APPEND writer's lines, in order, each once"
    );
    assert_eq!(
        got_echo, expected_echo,
        "the echo writer's lines, in order, each once"
    );
    assert!(
        !out.contains("before the follow"),
        "a line from before the start"
    );
    assert!(!out.contains("nohup"), "a line from before the start");
    assert!(!out.contains("v0-prune:"), "a padding line was printed");
    assert_eq!(
        out.lines().count() as u64,
        appended_a + appended_c + echoed_b + echoed_c,
        "nothing else"
    );
    // Both kinds of prune happened (in place where the filesystem can).
    assert!(
        methods.iter().any(|m| m == "Rewrite"),
        "no rename prune: {methods:?}"
    );
    let collapses = std::fs::File::open(&path).is_ok_and(|f| platform::supports_collapse(&f));
    if collapses {
        assert!(
            methods.iter().any(|m| m.starts_with("InPlace")),
            "no in-place prune: {methods:?}"
        );
    }
}
