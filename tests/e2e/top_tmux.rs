//! `v0-prune top` in a real terminal: tmux runs a shell, the shell runs the
//! dashboard against a real daemon on a generated project, and the test reads
//! the screen with `capture-pane` and presses keys as a user would. Every wait
//! polls the screen (or the process table) against a deadline; none is a
//! fixed sleep.

use std::fs::OpenOptions;
use std::io::Write;

use v0_prune_shared::demo::{DemoSpec, log_line};
use v0_prune_testkit::{
    Background, Invocation, PATIENCE, TestProject, TmuxPane, Tree, Writer, bin, process_gone,
};

/// The prompt of the pane's shell, to know when it is back.
const PROMPT: &str = "top-e2e$";

/// Expired lines appended before `r`, so the requested run has something to reclaim.
const APPENDED_LINES: usize = 300;

/// Every state word the header can end with; longer words first, since
/// "not running" ends with "running".
const STATES: [&str; 8] = [
    "not running",
    "disconnected",
    "incompatible",
    "connecting",
    "draining",
    "starting",
    "running",
    "idle",
];

/// The daemon's state as the header shows it (right end of the first row).
fn state(screen: &str) -> Option<&'static str> {
    let header = screen.lines().next()?.trim_end();
    if !header.contains("v0-prune top") {
        return None;
    }
    STATES
        .into_iter()
        .find(|word| header.ends_with(&format!(" {word}")))
}

/// One row of the run-history table, as drawn.
#[derive(Debug)]
struct HistoryRow {
    lines: String,
    queue: String,
    reclaimed: String,
}

/// The rows of the run-history table, newest first, cut at the columns of
/// its heading row.
fn history(screen: &str) -> Vec<HistoryRow> {
    let rows: Vec<Vec<char>> = screen.lines().map(|l| l.chars().collect()).collect();
    let Some(heading) = rows.iter().position(|row| {
        let text: String = row.iter().collect();
        text.contains("Start") && text.contains("Reclaimed") && text.contains("Skip/Err")
    }) else {
        return Vec::new();
    };
    let text: String = rows[heading].iter().collect();
    let column = |name: &str| {
        let byte = text.find(name).expect("a heading");
        text[..byte].chars().count()
    };
    let (lines, queue, reclaimed, skip) = (
        column("Lines"),
        column("Queue"),
        column("Reclaimed"),
        column("Skip/Err"),
    );
    let cell = |row: &[char], from: usize, to: usize| -> String {
        row.get(from..to.min(row.len()))
            .unwrap_or_default()
            .iter()
            .collect::<String>()
            .trim()
            .to_owned()
    };
    rows[heading + 1..]
        .iter()
        .take_while(|row| row.first() == Some(&'│'))
        .filter(|row| !cell(row, 1, lines).is_empty())
        .map(|row| HistoryRow {
            lines: cell(row, lines, queue),
            queue: cell(row, queue, reclaimed),
            reclaimed: cell(row, reclaimed, skip),
        })
        .collect()
}

/// Bytes in a human size as the dashboard writes it (`13.7 KiB`).
fn bytes(human: &str) -> f64 {
    let (number, unit) = human
        .split_once(' ')
        .unwrap_or_else(|| panic!("not a size: {human:?}"));
    let number: f64 = number
        .parse()
        .unwrap_or_else(|_| panic!("not a size: {human:?}"));
    let scale = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => panic!("unknown unit in {human:?}"),
    };
    number * scale
}

/// A count as the dashboard writes it (`37,137`).
fn count(text: &str) -> u64 {
    text.replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("not a count: {text:?}"))
}

/// Whether `screen` shows the run history with `runs` runs and idles.
fn idle_with_runs(screen: &str, runs: usize) -> bool {
    state(screen) == Some("idle")
        && screen.contains(&format!("Run history ({runs})"))
        && history(screen).len() == runs.min(history_capacity(screen))
}

/// Rows the history table has room for on this screen.
fn history_capacity(screen: &str) -> usize {
    let mut lines = screen.lines().skip_while(|l| !l.contains("Skip/Err"));
    lines.next();
    lines.take_while(|l| l.starts_with('│')).count()
}

/// The last row with something on it, without trailing blanks.
fn last_line(screen: &str) -> Option<&str> {
    screen
        .lines()
        .map(str::trim_end)
        .rfind(|line| !line.is_empty())
}

/// Starts `v0-prune-daemon` on `project`: runs only when asked (a one-hour
/// interval, after the one at start), with the retention the data was aged
/// against, so that half the generated lines have expired.
fn start_daemon(project: &TestProject) -> Background {
    let daemon = Invocation::new("v0-prune-daemon", &project.root)
        .env("BUILD_DIR", project.build.root())
        .env("V0_PRUNE_INTERVAL", "1h")
        .env("V0_PRUNE_RETENTION", "6h")
        .spawn();
    project.build.wait_for_daemon_log("Sleeping for", 1);
    assert_eq!(project.build.daemon_pid(), Some(daemon.pid()));
    daemon
}

/// Appends expired entries to a log a v0 daemon writes; returns the bytes.
fn append_expired_lines(project: &TestProject) -> (String, u64) {
    let long_ago = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(30))
        .expect("a representable time");
    let stamp = log_line(long_ago, "");
    let stamp = stamp.trim_end().to_owned();
    let text: String = (0..APPENDED_LINES)
        .map(|i| {
            log_line(
                long_ago,
                &format!("mergeq: late entry {i} written by the e2e test"),
            )
        })
        .collect();
    let mut log = OpenOptions::new()
        .append(true)
        .open(project.build.path("logs/mergeq.log"))
        .expect("the generated project has logs/mergeq.log");
    log.write_all(text.as_bytes()).expect("append");
    (stamp, text.len() as u64)
}

#[test]
#[cfg_attr(
    not(v0_prune_has_tmux),
    ignore = "needs tmux on PATH (apt install tmux)"
)]
fn top_runs_drains_and_quits_in_a_real_terminal() {
    let project = TestProject::demo_with(&DemoSpec::default());
    let expected = project.expected.clone().expect("a demo project");
    assert!(
        expected.log_bytes_removed > 0,
        "the demo data has expired lines"
    );
    let mut daemon = start_daemon(&project);
    let pid = daemon.pid();

    // A shell in a 100x30 terminal; it notes the tty settings, runs the
    // dashboard, then says how it exited and notes the settings again.
    let pane = TmuxPane::start(project.temp(), 100, 30, &[], "sh");
    pane.wait_for("the shell", PATIENCE, |s| !s.trim().is_empty());
    // Set here, not in the environment: dash ignores PS1 from it for root.
    pane.type_text(&format!("PS1='{PROMPT} '"));
    pane.keys(&["Enter"]);
    pane.wait_for("the shell's prompt", PATIENCE, |s| {
        last_line(s) == Some(PROMPT)
    });
    let (before, after) = (
        project.temp().join("tty.before"),
        project.temp().join("tty.after"),
    );
    pane.type_text(&format!(
        "stty -g > '{}'; BUILD_DIR='{}' '{}' top; echo \"TOP_EXITED=$?\"; stty -g > '{}'",
        before.display(),
        project.build.root().display(),
        bin("v0-prune").display(),
        after.display(),
    ));
    pane.keys(&["Enter"]);

    // Idle, with the run the daemon made at start in the history.
    let screen = pane.wait_for("idle with one run in the history", PATIENCE, |s| {
        idle_with_runs(s, 1)
    });
    assert_eq!(
        pane.display("#{alternate_on}"),
        "1",
        "on the alternate screen"
    );
    assert!(screen.contains(&format!("daemon pid {pid}")), "{screen}");
    assert!(screen.contains("retention 6h · interval 1h"), "{screen}");
    let first = &history(&screen)[0];
    assert_eq!(
        count(&first.lines),
        expected.log_lines_removed,
        "the start-up run removed the generated expired lines:\n{screen}"
    );
    assert_eq!(
        count(&first.queue),
        expected.queue_entries_removed as u64,
        "{screen}"
    );
    assert!(
        // A log pruned in place keeps one padding line of under a block
        // (4 KiB here) plus 80 bytes where its expired head was.
        bytes(&first.reclaimed)
            >= expected
                .log_bytes_removed
                .saturating_sub(expected.log_files as u64 * (4096 + 80)) as f64
                * 0.95,
        "{first:?}\n{screen}"
    );

    // `r`: a new run appears, and reclaims at least what was appended.
    let (old_stamp, appended) = append_expired_lines(&project);
    pane.keys(&["r"]);
    let screen = pane.wait_for("a second run in the history", PATIENCE, |s| {
        idle_with_runs(s, 2)
    });
    let newest = &history(&screen)[0];
    // Expired lines after current ones: a rewrite, which also drops the
    // padding line (under 4 KiB + 80 bytes) the first run's in-place prune
    // may have left at the head of the file.
    let padding = if count(&newest.lines) == APPENDED_LINES as u64 + 1 {
        4096.0 + 80.0
    } else {
        0.0
    };
    assert!(
        (APPENDED_LINES as u64..=APPENDED_LINES as u64 + 1).contains(&count(&newest.lines)),
        "the requested run removed the appended lines: {newest:?}\n{screen}"
    );
    // The size is shown rounded to one decimal.
    let reclaimed = bytes(&newest.reclaimed);
    assert!(
        reclaimed >= appended as f64 * 0.95 && reclaimed <= (appended as f64 + padding) * 1.05,
        "the requested run reclaimed the {appended} bytes appended: {newest:?}\n{screen}"
    );
    assert!(
        !project
            .build
            .read_text("logs/mergeq.log")
            .contains(&old_stamp),
        "the expired lines are gone from the file"
    );

    // `d`, `y`: a run held at its start by the run lock keeps the daemon
    // draining until the lock goes; then it exits and the screen says so.
    let run_lock = project.build.hold_run_lock();
    pane.keys(&["r"]);
    pane.wait_for("a run in progress", PATIENCE, |s| {
        state(s) == Some("running")
    });
    pane.keys(&["d"]);
    pane.wait_for("the drain confirmation", PATIENCE, |s| {
        s.contains(&format!("Drain the prune daemon (pid {pid})?"))
    });
    pane.keys(&["y"]);
    // The state and the daemon's log line come as separate events.
    let screen = pane.wait_for("draining, waiting for run #3", PATIENCE, |s| {
        state(s) == Some("draining") && s.contains("Waiting for run #3 to finish")
    });
    assert!(
        !process_gone(pid),
        "draining waits for the run in progress:\n{screen}"
    );
    drop(run_lock);
    let screen = pane.wait_for("the daemon shown as not running", PATIENCE, |s| {
        // Reaps the daemon as soon as it exits (it is this test's child).
        daemon.running();
        state(s) == Some("not running")
    });
    assert!(
        last_line(&screen).is_some_and(|keys| keys.contains("s start daemon")),
        "it offers to start the daemon again:\n{screen}"
    );
    daemon.wait(PATIENCE).expect_code(0);
    assert!(process_gone(pid));

    // `q`: the dashboard exits 0 and the shell has its terminal back as it was.
    pane.keys(&["q"]);
    let screen = pane.wait_for("the prompt after the dashboard", PATIENCE, |s| {
        s.lines().any(|l| l.trim_end() == "TOP_EXITED=0") && last_line(s) == Some(PROMPT)
    });
    assert_eq!(
        pane.display("#{alternate_on}"),
        "0",
        "back on the normal screen:\n{screen}"
    );
    assert_eq!(
        pane.display("#{cursor_flag}"),
        "1",
        "the cursor shows again"
    );
    let tty_before = std::fs::read_to_string(&before).expect("tty settings before");
    let tty_after = std::fs::read_to_string(&after).expect("tty settings after");
    assert_eq!(
        tty_before, tty_after,
        "the tty modes are restored (no raw mode left)"
    );
    assert!(
        !project
            .build
            .root()
            .join(".prune-daemon/daemon.sock")
            .exists()
    );
}

#[test]
fn top_refuses_a_stdout_that_is_not_a_terminal() {
    let project = TestProject::bare();
    let before = Tree::of(project.temp());
    let run = project.v0_prune(["top"]).run();
    run.expect_code(1)
        .expect_stderr("needs a terminal")
        .expect_stderr("v0-prune status")
        .expect_stderr("v0-prune events");
    assert_eq!(run.stdout, "", "no escape codes on a pipe");
    before.assert_same(&Tree::of(project.temp()), "a refused `top`");
    assert_eq!(project.build.daemon_pid(), None, "no daemon started");
}

/// The row of the Files table that names `path`, and the line under it.
fn file_row<'s>(screen: &'s str, path: &str) -> Option<(&'s str, Option<&'s str>)> {
    let mut lines = screen.lines();
    let row = lines.find(|l| l.starts_with(&format!("│{path} ")))?;
    Some((row, lines.next()))
}

#[test]
#[cfg_attr(
    not(all(v0_prune_has_tmux, target_os = "linux")),
    ignore = "needs tmux on PATH (apt install tmux), and Linux's /proc to see the writer"
)]
fn top_files_view_lists_the_logs_and_a_skipped_positional_writer() {
    let project = TestProject::demo_with(&DemoSpec::default());
    let held = project.build.path("logs/held.log");
    // An expired entry and a fresh one: a run would prune it but for the writer.
    let long_ago = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(30))
        .expect("a representable time");
    std::fs::write(
        &held,
        log_line(long_ago, "written before the writer took it")
            + &log_line(jiff::Timestamp::now(), "and one still kept"),
    )
    .expect("held log");
    let writer = Writer::positional(&held);
    let mut daemon = start_daemon(&project);

    let pane = TmuxPane::start(project.temp(), 120, 40, &[], "sh");
    pane.wait_for("the shell", PATIENCE, |s| !s.trim().is_empty());
    pane.type_text(&format!("PS1='{PROMPT} '"));
    pane.keys(&["Enter"]);
    pane.wait_for("the shell's prompt", PATIENCE, |s| {
        last_line(s) == Some(PROMPT)
    });
    pane.type_text(&format!(
        "BUILD_DIR='{}' '{}' top; echo \"TOP_EXITED=$?\"",
        project.build.root().display(),
        bin("v0-prune").display(),
    ));
    pane.keys(&["Enter"]);
    pane.wait_for("idle with one run in the history", PATIENCE, |s| {
        idle_with_runs(s, 1)
    });

    // `v`: the Files view, the logs as the start-up run left them.
    pane.keys(&["v"]);
    let screen = pane.wait_for("the Files view with mergeq.log", PATIENCE, |s| {
        file_row(s, "logs/mergeq.log").is_some() && file_row(s, "logs/held.log").is_some()
    });
    assert!(
        last_line(&screen).is_some_and(|keys| keys.contains("v runs")),
        "{screen}"
    );
    // Its size, as the file has it now (rounded to a tenth of a unit).
    let (row, _) = file_row(&screen, "logs/mergeq.log").expect("the row");
    let on_disk = std::fs::metadata(project.build.path("logs/mergeq.log"))
        .expect("mergeq.log")
        .len() as f64;
    let size = row
        .split("  ")
        .map(str::trim)
        .find(|cell| cell.ends_with("iB") || cell.ends_with(" B"))
        .unwrap_or_else(|| panic!("a size in {row:?}"));
    assert!(
        (bytes(size) - on_disk).abs() <= on_disk * 0.05 + 1.0,
        "{size} shown, {on_disk} bytes on disk:\n{screen}"
    );
    // The held log: skipped, with the reason on the line under it.
    let (row, reason) = file_row(&screen, "logs/held.log").expect("the held row");
    assert!(row.contains("skipped"), "{row}\n{screen}");
    let reason = reason.unwrap_or_default();
    assert!(reason.contains("↳ skipped: "), "{reason}\n{screen}");
    assert!(
        reason.contains("without O_APPEND") && reason.contains(&format!("pid {}", writer.pid())),
        "the reason names the positional writer: {reason}\n{screen}"
    );

    // `Enter` on the largest log: its last lines, read from the file.
    let largest = screen
        .lines()
        .skip_while(|l| !l.contains("Next run"))
        .nth(1)
        .and_then(|l| l.trim_start_matches('│').split_whitespace().next())
        .expect("a first row")
        .to_owned();
    let last = project
        .build
        .read_text(&largest)
        .lines()
        .last()
        .expect("a line")
        .split_whitespace()
        .last()
        .expect("a word")
        .to_owned();
    pane.keys(&["Enter"]);
    // Read in the background: "reading..." first, then the lines.
    let screen = pane.wait_for("the last lines", PATIENCE, |s| {
        s.contains(&format!("Last lines of {largest}")) && !s.contains("reading...")
    });
    assert!(screen.contains(&last), "{last:?} missing:\n{screen}");
    pane.keys(&["Escape"]);
    // Not at once: Escape then `v` would read as Alt-v.
    pane.wait_for("the Files view again", PATIENCE, |s| {
        !s.contains("Last lines of") && file_row(s, "logs/held.log").is_some()
    });
    pane.keys(&["v"]);
    pane.wait_for("the runs again", PATIENCE, |s| {
        s.contains("Run history (1)")
    });

    pane.keys(&["q"]);
    pane.wait_for("the prompt after the dashboard", PATIENCE, |s| {
        s.lines().any(|l| l.trim_end() == "TOP_EXITED=0")
    });
    drop(writer);
    let _ = daemon.running();
    drop(daemon);
}
