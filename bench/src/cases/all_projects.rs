//! Every project on the machine at once (issue 24, "Scale"): 50 generated
//! projects registered as v0 registers them (`$XDG_STATE_HOME/v0/<PROJECT>/.v0.root`,
//! in a home of the case's own), each with a running, idle daemon; then
//!
//! - `v0-prune status --all-projects` (every daemon asked in parallel),
//!   against `v0-prune status` run in each project in turn (what a user or
//!   a script did before `--all-projects`) and against one project's
//!   `v0-prune status`;
//! - the idle RSS (`VmRSS`) of the daemons, one sample per daemon.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use v0_prune_testkit::without_steering;

use super::{Case, Ctx, Sizes, not_measured};
use crate::measure::{Contender, race};
use crate::procs::{self, Binaries, Daemon, Project};
use crate::report::{Measured, Outcome, Row, Target, Unit};

/// `status --all-projects` over many projects.
pub struct AllProjects;

/// The limit for the status of all 50 projects, ms.
const STATUS_LIMIT_MS: f64 = 500.0;

/// The limit for an idle daemon (as `daemon-memory`), MB.
const IDLE_LIMIT_MB: f64 = 15.0;

/// The machine the case builds: a home, v0's state directory in it, and
/// the registered projects.
struct Machine {
    home: PathBuf,
    state: PathBuf,
    /// Where the machine-wide commands run: no project there or above.
    cwd: PathBuf,
    projects: Vec<Project>,
}

impl Machine {
    /// `count` demo projects under `dir`, each registered by name (`p00`,
    /// `p01`, …) as `v0_register_project` does.
    fn new(dir: &Path, count: usize) -> Result<Self> {
        let machine = Self {
            home: dir.join("home"),
            state: dir.join("home/.local/state"),
            cwd: dir.join("home/elsewhere"),
            projects: Vec::with_capacity(count),
        };
        std::fs::create_dir_all(&machine.cwd)
            .with_context(|| format!("creating {}", machine.cwd.display()))?;
        let mut projects = Vec::with_capacity(count);
        for i in 0..count {
            let name = format!("p{i:02}");
            let project = Project::demo(&dir.join("projects").join(&name), 200 + i as u64)?;
            let rc = project.root.join(".v0.rc");
            let text = std::fs::read_to_string(&rc)
                .with_context(|| format!("reading {}", rc.display()))?
                .replace("\"demo\"", &format!("\"{name}\""));
            std::fs::write(&rc, text).with_context(|| format!("writing {}", rc.display()))?;
            let registered = machine.state.join("v0").join(&name);
            std::fs::create_dir_all(&registered)
                .with_context(|| format!("creating {}", registered.display()))?;
            std::fs::write(
                registered.join(".v0.root"),
                format!("{}\n", project.root.display()),
            )
            .with_context(|| format!("registering {name}"))?;
            projects.push(project);
        }
        Ok(Self {
            projects,
            ..machine
        })
    }

    /// `v0-prune <args>` where no project is, with this machine's home.
    fn command(&self, binaries: &Binaries, args: &[&str]) -> Command {
        let mut command = Command::new(&binaries.cli);
        without_steering(&mut command)
            .args(args)
            .current_dir(&self.cwd)
            .env("HOME", &self.home)
            .env("XDG_STATE_HOME", &self.state)
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null());
        command
    }
}

impl Case for AllProjects {
    fn id(&self) -> &'static str {
        "all-projects"
    }

    fn title(&self, sizes: &Sizes) -> String {
        format!(
            "`v0-prune status --all-projects`, {} projects with running daemons",
            sizes.projects
        )
    }

    fn needs_binaries(&self) -> bool {
        true
    }

    fn run(&self, ctx: &mut Ctx, notes: &mut Vec<String>) -> Result<Outcome> {
        let binaries = match ctx.binaries(notes) {
            Ok(binaries) => binaries,
            Err(needs) => return Ok(not_measured("≤ 500 ms", needs)),
        };
        let count = ctx.sizes.projects;
        let dir = ctx.case_dir(self.id())?;
        let machine = Machine::new(&dir, count)?;
        let rt = procs::runtime()?;
        // Started one after another (each answers before the next starts),
        // then each waited out through its start-up run: the timed commands
        // never share the CPUs with a prune.
        let mut daemons = Vec::with_capacity(count);
        for project in &machine.projects {
            daemons.push(Daemon::start(&binaries, project, &rt)?);
        }
        let mut rss = Vec::with_capacity(count);
        for daemon in &daemons {
            daemon.wait_idle_after_startup(&rt)?;
            rss.push(procs::status_mb(daemon.pid(), "VmRSS")?);
        }
        // Untimed: the command sees every daemon running.
        let output = procs::output_of(
            &mut machine.command(&binaries, &["status", "--all-projects", "--json"]),
        )?;
        let listing: Value = serde_json::from_slice(&output.stdout)
            .context("`v0-prune status --all-projects --json` printed no JSON")?;
        ensure!(
            listing["totals"]["projects"] == count && listing["totals"]["running"] == count,
            "`status --all-projects` does not see {count} running daemons: {}",
            listing["totals"]
        );

        let all = || -> Result<()> {
            let output =
                procs::output_of(&mut machine.command(&binaries, &["status", "--all-projects"]))?;
            ensure!(
                String::from_utf8_lossy(&output.stdout).contains("p00"),
                "no p00 in `status --all-projects`"
            );
            Ok(())
        };
        let each = || -> Result<()> {
            for project in &machine.projects {
                procs::output_of(&mut procs::cli(&binaries, project, &["status"])?)?;
            }
            Ok(())
        };
        let one = || -> Result<()> {
            procs::output_of(&mut procs::cli(
                &binaries,
                &machine.projects[0],
                &["status"],
            )?)?;
            Ok(())
        };
        let nothing = || Ok(());
        let mut contenders = vec![
            Contender::new("status --all-projects", nothing, all),
            Contender::new("status in each project in turn", nothing, each),
            Contender::new("status, one project", nothing, one),
        ];
        let samples = race(ctx.rounds, &mut contenders)?;
        drop(contenders);

        // Every daemon stopped (SIGTERM, as v0 does), the first failure kept.
        let mut stopped = Ok(());
        for daemon in daemons {
            let result = daemon.stop();
            if stopped.is_ok() {
                stopped = result;
            }
        }
        stopped?;
        notes.push(format!(
            "{count} generated projects (8 logs, a queue of 40, an operation per phase each) registered in a temp XDG_STATE_HOME, each with its own idle daemon (interval 1 h, start-up run done); `status --all-projects` is run where there is no project and asks every daemon in parallel; the baseline runs plain `v0-prune status` in each project's root, one after another; RSS: VmRSS of each daemon once idle"
        ));
        let mut samples = samples.into_iter();
        let mut next =
            |name: String| Measured::new(name, Unit::Ms, samples.next().unwrap_or_default());
        let ours = next(format!("status --all-projects, {count} projects"));
        let each = next(format!("`v0-prune status` in each of the {count} in turn"));
        let one = next("`v0-prune status`, one project".into());
        Ok(Outcome::Measured {
            rows: vec![
                Row::compare(ours.clone(), each, Target::AtMost(STATUS_LIMIT_MS)).with_note(
                    "the ratio is the parallel machine-wide status over the same answers asked one command at a time",
                ),
                Row::compare(ours, one, Target::Info)
                    .with_note("what asking every project costs over asking one"),
                Row::alone(
                    Measured::new(
                        format!("one daemon of the {count}, idle (VmRSS)"),
                        Unit::Mb,
                        rss,
                    ),
                    Target::AtMost(IDLE_LIMIT_MB),
                ),
            ],
        })
    }
}
