use std::collections::HashMap;

use super::*;

/// A machine in a temp dir: `state` (XDG_STATE_HOME), `home`, and projects.
struct Machine {
    dir: tempfile::TempDir,
}

impl Machine {
    fn new() -> Self {
        let machine = Self {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        std::fs::create_dir_all(machine.state()).expect("state");
        std::fs::create_dir_all(machine.path("home")).expect("home");
        machine
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn state(&self) -> PathBuf {
        self.path("state/v0")
    }

    /// A v0 project at `projects/<dir>` with `.v0.rc` text and a build dir
    /// holding `logs/`.
    fn project(&self, dir: &str, rc: &str) -> PathBuf {
        let root = self.path(&format!("projects/{dir}"));
        std::fs::create_dir_all(root.join(".v0/build/logs")).expect("mkdir");
        std::fs::write(root.join(RC_FILE), rc).expect(".v0.rc");
        root
    }

    /// `…/v0/<name>/.v0.root` naming `root`, as v0 writes it.
    fn register(&self, name: &str, root: &Path) {
        let dir = self.state().join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join(ROOT_FILE), format!("{}\n", root.display())).expect("write");
    }

    fn env(&self, extra: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let mut vars: HashMap<String, String> = HashMap::new();
        vars.insert(
            "XDG_STATE_HOME".into(),
            self.path("state").display().to_string(),
        );
        vars.insert("HOME".into(), self.path("home").display().to_string());
        for (k, v) in extra {
            vars.insert((*k).into(), (*v).into());
        }
        move |name: &str| vars.get(name).cloned()
    }
}

fn names(all: &[Registered]) -> Vec<&str> {
    all.iter().map(|entry| entry.name.as_str()).collect()
}

fn project(entry: &Registered) -> &Project {
    match &entry.found {
        Found::Project(project) => project,
        other => panic!("{}: not a project: {other:?}", entry.name),
    }
}

#[test]
fn registered_projects_are_found_with_their_own_settings() {
    let machine = Machine::new();
    let a = machine.project("alpha", "PROJECT=alpha\nV0_PRUNE_RETENTION=2h\n");
    let b = machine.project(
        "beta",
        "PROJECT=beta\nV0_BUILD_DIR=build-b\nsource .v0.profile.rc\n",
    );
    std::fs::create_dir_all(b.join("build-b")).expect("mkdir");
    std::fs::write(b.join(".v0.profile.rc"), "V0_PRUNE_MAX_SIZE=10M\n").expect("profile");
    machine.register("alpha", &a);
    machine.register("beta", &b);
    // The caller's own project settings never leak into the others'.
    let env = machine.env(&[
        ("BUILD_DIR", "/elsewhere"),
        ("V0_PRUNE_RETENTION", "1m"),
        ("PROJECT", "mine"),
    ]);
    let all = discover_all_with(&env, None);
    assert_eq!(names(&all), ["alpha", "beta"]);
    let alpha = project(&all[0]);
    assert_eq!(all[0].origin, Origin::Registry);
    assert_eq!(alpha.root.as_deref(), Some(a.as_path()));
    assert_eq!(alpha.build_dir.root(), a.join(".v0/build"));
    assert_eq!(alpha.settings.retention.as_secs(), 2 * 3600);
    let beta = project(&all[1]);
    assert_eq!(beta.build_dir.root(), b.join("build-b"));
    assert_eq!(beta.settings.max_size, Some(10 * 1024 * 1024));
    assert_eq!(beta.name.as_deref(), Some("beta"));
}

#[test]
fn a_root_that_no_longer_exists_is_gone_not_an_error() {
    let machine = Machine::new();
    let root = machine.path("projects/removed");
    machine.register("removed", &root);
    let all = discover_all_with(&machine.env(&[]), None);
    assert_eq!(names(&all), ["removed"]);
    assert!(matches!(&all[0].found, Found::Gone { root: r } if *r == root));
}

#[test]
fn standalone_is_its_own_entry_when_its_build_dir_exists() {
    let machine = Machine::new();
    std::fs::create_dir_all(machine.state().join(STANDALONE)).expect("mkdir");
    assert!(
        discover_all_with(&machine.env(&[]), None).is_empty(),
        "no build dir: no entry"
    );
    std::fs::create_dir_all(machine.state().join("standalone/build/logs")).expect("mkdir");
    let all = discover_all_with(&machine.env(&[]), None);
    assert_eq!(names(&all), ["standalone"]);
    assert_eq!(all[0].origin, Origin::Standalone);
    let standalone = project(&all[0]);
    assert_eq!(
        standalone.build_dir.root(),
        machine.state().join("standalone/build")
    );
    assert!(standalone.root.is_none());
}

#[test]
fn the_current_directory_s_project_is_added_once() {
    let machine = Machine::new();
    let a = machine.project("alpha", "PROJECT=alpha\n");
    let c = machine.project("gamma", "PROJECT=gamma\n");
    machine.register("alpha", &a);
    let env = machine.env(&[]);
    // Not registered: added at the end, from a subdirectory too.
    let all = discover_all_with(&env, Some(&c.join(".v0")));
    assert_eq!(names(&all), ["alpha", "gamma"]);
    assert_eq!(all[1].origin, Origin::CurrentDir);
    // Registered already: not twice.
    let all = discover_all_with(&env, Some(&a));
    assert_eq!(names(&all), ["alpha"]);
    // No project here: nothing added.
    let all = discover_all_with(&env, Some(&machine.path("home")));
    assert_eq!(names(&all), ["alpha"]);
}

#[test]
fn what_we_would_refuse_for_one_project_is_refused_here() {
    let machine = Machine::new();
    // A root file that is a link, one with a relative path, an empty one.
    let real = machine.project("real", "PROJECT=real\n");
    let linked = machine.state().join("linked");
    std::fs::create_dir_all(&linked).expect("mkdir");
    let target = machine.path("root-target");
    std::fs::write(&target, format!("{}\n", real.display())).expect("write");
    std::os::unix::fs::symlink(&target, linked.join(ROOT_FILE)).expect("symlink");
    let relative = machine.state().join("relative");
    std::fs::create_dir_all(&relative).expect("mkdir");
    std::fs::write(relative.join(ROOT_FILE), "projects/real\n").expect("write");
    let empty = machine.state().join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    std::fs::write(empty.join(ROOT_FILE), "").expect("write");
    // A root without .v0.rc, and a project whose build dir is its root (a
    // project root, not a build directory: the guard refuses it).
    let bare = machine.path("projects/bare");
    std::fs::create_dir_all(&bare).expect("mkdir");
    machine.register("bare", &bare);
    let homey = machine.project("homey", "PROJECT=homey\nV0_BUILD_DIR=.\n");
    std::fs::remove_dir_all(homey.join(".v0")).expect("rm");
    std::fs::write(homey.join("notes.txt"), "not v0's").expect("write");
    machine.register("homey", &homey);
    // A state dir without a root file is not a project (v0 skips it too).
    std::fs::create_dir_all(machine.state().join("leftover")).expect("mkdir");

    let all = discover_all_with(&machine.env(&[]), None);
    assert_eq!(
        names(&all),
        ["bare", "empty", "homey", "linked", "relative"]
    );
    let reason = |name: &str| match &all.iter().find(|e| e.name == name).expect(name).found {
        Found::Refused { reason, .. } => reason.clone(),
        other => panic!("{name}: not refused: {other:?}"),
    };
    assert!(reason("bare").contains("no .v0.rc"), "{}", reason("bare"));
    assert!(
        reason("empty").contains("absolute path"),
        "{}",
        reason("empty")
    );
    assert!(
        reason("homey").contains("--force"),
        "the guard's refusal: {}",
        reason("homey")
    );
    assert!(
        reason("linked").contains("Too many levels")
            || reason("linked").contains("symbolic link")
            || reason("linked").contains("os error 40"),
        "{}",
        reason("linked")
    );
    assert!(
        reason("relative").contains("absolute path"),
        "{}",
        reason("relative")
    );
}

#[test]
fn a_root_reached_through_a_link_is_judged_by_where_it_leads() {
    let machine = Machine::new();
    let real = machine.project("real", "PROJECT=real\n");
    let link = machine.path("link-to-real");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    machine.register("real", &link);
    let all = discover_all_with(&machine.env(&[]), None);
    assert_eq!(project(&all[0]).build_dir.root(), link.join(".v0/build"));
}

#[test]
fn the_state_dir_follows_xdg_then_home() {
    let env = |vars: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    assert_eq!(
        state_dir(&env(&[("XDG_STATE_HOME", "/s"), ("HOME", "/h")])),
        Some(PathBuf::from("/s/v0"))
    );
    assert_eq!(
        state_dir(&env(&[("XDG_STATE_HOME", ""), ("HOME", "/h")])),
        Some(PathBuf::from("/h/.local/state/v0"))
    );
    assert_eq!(state_dir(&env(&[])), None);
}

#[test]
fn a_project_is_registered_as_v0_registers_it_once() {
    let machine = Machine::new();
    let root = machine.project("delta", "PROJECT=delta\n");
    let env = machine.env(&[]);
    let project = discover_with(&env, &root, None).expect("project");
    assert!(register(&project, &env).expect("register"), "written");
    let file = machine.state().join("delta").join(ROOT_FILE);
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        format!("{}\n", root.display())
    );
    assert!(
        !register(&project, &env).expect("again"),
        "unchanged: not written"
    );
    let all = discover_all_with(&env, None);
    assert_eq!(names(&all), ["delta"]);
    assert_eq!(all[0].origin, Origin::Registry);
    // A merge clone inside v0's workspace never overwrites the root.
    let clone = machine.state().join("delta/workspace/delta");
    std::fs::create_dir_all(&clone).expect("mkdir");
    std::fs::write(clone.join(RC_FILE), "PROJECT=delta\n").expect("rc");
    let in_workspace = discover_with(&env, &clone, None).expect("clone");
    assert!(!register(&in_workspace, &env).expect("workspace"));
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        format!("{}\n", root.display())
    );
    // No name: nothing to register.
    let unnamed = machine.project("unnamed", "");
    let unnamed = discover_with(&env, &unnamed, None).expect("project");
    assert!(!register(&unnamed, &env).expect("unnamed"));
}
