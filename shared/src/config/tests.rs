//! Discovery against real directories, with the environment passed in.

use super::*;
use std::collections::HashMap;
use tempfile::TempDir;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

/// A project directory with `rc` as its `.v0.rc`.
fn project_with(rc: &str) -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join(RC_FILE), rc).expect("write .v0.rc");
    dir
}

fn text(path: &Path) -> String {
    path.to_str().expect("utf-8 temp path").to_string()
}

#[test]
fn the_project_is_found_walking_up_and_its_build_dir_defaults() {
    let dir = project_with("PROJECT=\"demo\"\nISSUE_PREFIX=dm\n");
    let nested = dir.path().join("a/b/c");
    std::fs::create_dir_all(&nested).expect("mkdir");
    let project = discover_with(&env_of(&[]), &nested, None).expect("discover");
    assert_eq!(project.root.as_deref(), Some(dir.path()));
    assert_eq!(project.name.as_deref(), Some("demo"));
    assert_eq!(project.build_dir.root(), dir.path().join(".v0/build"));
    assert_eq!(project.source, BuildDirSource::Default);
    assert_eq!(project.settings, Settings::default());
    assert!(
        !project.build_dir.root().exists(),
        "discovery creates nothing"
    );
}

#[test]
fn the_nearest_rc_file_wins_over_outer_ones_and_v0_root() {
    let outer = project_with("PROJECT=outer\n");
    let inner = outer.path().join("sub");
    std::fs::create_dir_all(inner.join("deeper")).expect("mkdir");
    std::fs::write(inner.join(RC_FILE), "PROJECT=inner\n").expect("write");
    let other = project_with("PROJECT=other\n");
    let env = env_of(&[("V0_ROOT", &text(other.path()))]);
    let project = discover_with(&env, &inner.join("deeper"), None).expect("discover");
    assert_eq!(project.root.as_deref(), Some(inner.as_path()));
    assert_eq!(project.name.as_deref(), Some("inner"));
}

#[test]
fn a_directory_named_like_the_rc_file_is_not_a_project() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join(RC_FILE)).expect("mkdir");
    let err = discover_with(&env_of(&[]), dir.path(), None).expect_err("no project");
    assert!(matches!(err, ConfigError::NoProject), "{err}");
}

#[test]
fn v0_build_dir_may_be_relative_absolute_or_use_v0_root() {
    let dir = project_with("export V0_BUILD_DIR=out/build # ours\n");
    let nested = dir.path().join("src");
    std::fs::create_dir(&nested).expect("mkdir");
    // Relative to the project root, not to where we stand.
    let project = discover_with(&env_of(&[]), &nested, None).expect("discover");
    assert_eq!(project.build_dir.root(), dir.path().join("out/build"));
    assert_eq!(project.source, BuildDirSource::RcFile);

    std::fs::write(dir.path().join(RC_FILE), "V0_BUILD_DIR=./b\n").expect("write");
    let project = discover_with(&env_of(&[]), &nested, None).expect("discover");
    assert_eq!(project.build_dir.root(), dir.path().join("b"));

    std::fs::write(
        dir.path().join(RC_FILE),
        "V0_BUILD_DIR=\"${V0_ROOT}/elsewhere\"\n",
    )
    .expect("write");
    let project = discover_with(&env_of(&[]), &nested, None).expect("discover");
    assert_eq!(project.build_dir.root(), dir.path().join("elsewhere"));

    let abs = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join(RC_FILE),
        format!("V0_BUILD_DIR='{}'\n", text(abs.path())),
    )
    .expect("write");
    let project = discover_with(&env_of(&[]), &nested, None).expect("discover");
    assert_eq!(project.build_dir.root(), abs.path());

    // An empty value is unset, as `${V0_BUILD_DIR:-.v0/build}` would have it.
    std::fs::write(dir.path().join(RC_FILE), "V0_BUILD_DIR=\n").expect("write");
    let project = discover_with(&env_of(&[]), &nested, None).expect("discover");
    assert_eq!(project.build_dir.root(), dir.path().join(".v0/build"));
    assert_eq!(project.source, BuildDirSource::Default);
}

#[test]
fn v0_root_is_the_fallback_when_no_rc_file_is_up_the_tree() {
    let project_dir = project_with("PROJECT=p\nV0_BUILD_DIR=${V0_ROOT}/bd\n");
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let env = env_of(&[("V0_ROOT", &text(project_dir.path()))]);
    let project = discover_with(&env, elsewhere.path(), None).expect("discover");
    assert_eq!(project.root.as_deref(), Some(project_dir.path()));
    assert_eq!(project.name.as_deref(), Some("p"));
    assert_eq!(project.build_dir.root(), project_dir.path().join("bd"));
    assert_eq!(project.source, BuildDirSource::RcFile);

    // V0_ROOT must hold a .v0.rc to count.
    let env = env_of(&[("V0_ROOT", &text(elsewhere.path()))]);
    let err = discover_with(&env, elsewhere.path(), None).expect_err("no rc in V0_ROOT");
    assert!(matches!(err, ConfigError::NoProject), "{err}");
}

#[test]
fn build_dir_in_the_environment_overrides_the_rc_file() {
    let dir = project_with("PROJECT=p\nV0_BUILD_DIR=from-rc\nV0_PRUNE_RETENTION=2h\n");
    let abs = tempfile::tempdir().expect("tempdir");
    let env = env_of(&[("BUILD_DIR", &text(abs.path()))]);
    let project = discover_with(&env, dir.path(), None).expect("discover");
    assert_eq!(project.build_dir.root(), abs.path());
    assert_eq!(project.source, BuildDirSource::Env);
    // The rc file found is still read for the name and the settings.
    assert_eq!(project.root.as_deref(), Some(dir.path()));
    assert_eq!(project.name.as_deref(), Some("p"));
    assert_eq!(project.settings.retention, Duration::from_secs(7200));

    // Relative to the current directory, not the project root.
    let nested = dir.path().join("x");
    std::fs::create_dir(&nested).expect("mkdir");
    let project =
        discover_with(&env_of(&[("BUILD_DIR", "rel/b")]), &nested, None).expect("discover");
    assert_eq!(project.build_dir.root(), nested.join("rel/b"));

    // No rc file needed at all; an empty BUILD_DIR counts as unset.
    let bare = tempfile::tempdir().expect("tempdir");
    let project = discover_with(&env, bare.path(), None).expect("discover");
    assert_eq!(project.root, None);
    assert_eq!(project.name, None);
    assert_eq!(project.build_dir.root(), abs.path());
    assert_eq!(project.settings, Settings::default());
    let err = discover_with(&env_of(&[("BUILD_DIR", "")]), bare.path(), None)
        .expect_err("empty is unset");
    assert!(matches!(err, ConfigError::NoProject), "{err}");
}

#[test]
fn the_flag_overrides_build_dir_and_is_relative_to_the_current_directory() {
    let dir = project_with("V0_BUILD_DIR=from-rc\n");
    let env = env_of(&[("BUILD_DIR", "/from/env")]);
    let project = discover_with(&env, dir.path(), Some(Path::new("./rel"))).expect("discover");
    assert_eq!(project.build_dir.root(), dir.path().join("rel"));
    assert_eq!(project.source, BuildDirSource::Flag);

    let bare = tempfile::tempdir().expect("tempdir");
    let project =
        discover_with(&env_of(&[]), bare.path(), Some(Path::new("/abs/b"))).expect("discover");
    assert_eq!(project.build_dir.root(), Path::new("/abs/b"));
    assert_eq!(project.root, None);

    let err = discover_with(&env_of(&[]), bare.path(), Some(Path::new(""))).expect_err("empty");
    assert_eq!(
        err.to_string(),
        "invalid --build-dir=\"\": expected a directory"
    );
}

#[test]
fn no_project_says_so_in_v0s_words() {
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let err = discover_with(&env_of(&[]), elsewhere.path(), None).expect_err("no project");
    assert!(matches!(err, ConfigError::NoProject));
    assert_eq!(
        err.to_string(),
        "No .v0.rc found in current directory or parents."
    );
    let env = env_of(&[("V0_ROOT", "/nonexistent/v0-prune-test")]);
    let err = discover_with(&env, elsewhere.path(), None).expect_err("bad root");
    assert!(matches!(err, ConfigError::NoProject));
}

#[test]
fn settings_come_from_the_environment_first_then_the_rc_file() {
    let dir = project_with("V0_PRUNE_RETENTION=2d\nexport V0_PRUNE_INTERVAL='30m'\n");
    let project = discover_with(&env_of(&[]), dir.path(), None).expect("discover");
    assert_eq!(project.settings.retention, Duration::from_secs(172_800));
    assert_eq!(project.settings.interval, Duration::from_secs(1800));

    let env = env_of(&[("V0_PRUNE_RETENTION", "90s"), ("V0_PRUNE_INTERVAL", "")]);
    let project = discover_with(&env, dir.path(), None).expect("discover");
    assert_eq!(project.settings.retention, Duration::from_secs(90));
    assert_eq!(
        project.settings.interval,
        Duration::from_secs(1800),
        "an empty variable falls back to the rc file"
    );
}

#[test]
fn bad_settings_are_errors_naming_the_variable() {
    let dir = project_with("PROJECT=p\n");
    for (var, value, expected) in [
        (
            "V0_PRUNE_INTERVAL",
            "0",
            "invalid V0_PRUNE_INTERVAL=\"0\": the interval must be at least 1s",
        ),
        (
            "V0_PRUNE_INTERVAL",
            "soon",
            "invalid V0_PRUNE_INTERVAL=\"soon\": expected seconds",
        ),
        (
            "V0_PRUNE_RETENTION",
            "-1h",
            "invalid V0_PRUNE_RETENTION=\"-1h\": expected seconds",
        ),
        (
            "V0_PRUNE_RETENTION",
            "6x",
            "invalid V0_PRUNE_RETENTION=\"6x\": expected seconds",
        ),
    ] {
        let err = discover_with(&env_of(&[(var, value)]), dir.path(), None).expect_err(value);
        assert!(matches!(err, ConfigError::InvalidSetting { .. }));
        assert!(err.to_string().starts_with(expected), "{err}");
    }
    // A zero retention is allowed: it expires everything older than now.
    let project = discover_with(&env_of(&[("V0_PRUNE_RETENTION", "0")]), dir.path(), None)
        .expect("zero retention");
    assert_eq!(project.settings.retention, Duration::ZERO);

    // A bad value in the rc file is as much an error as one in the environment.
    std::fs::write(dir.path().join(RC_FILE), "V0_PRUNE_RETENTION=\"6 hours\"\n").expect("write");
    let err = discover_with(&env_of(&[]), dir.path(), None).expect_err("bad rc value");
    assert!(
        err.to_string()
            .starts_with("invalid V0_PRUNE_RETENTION=\"6 hours\""),
        "{err}"
    );
}

#[test]
fn the_rc_file_is_read_not_executed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("executed");
    std::fs::write(
        dir.path().join(RC_FILE),
        format!(
            "touch {m}\nPROJECT=\"$(touch {m})\"\nV0_BUILD_DIR=`touch {m}`\nPROJECT=safe\n",
            m = text(&marker)
        ),
    )
    .expect("write");
    let project = discover_with(&env_of(&[]), dir.path(), None).expect("discover");
    assert!(!marker.exists(), "nothing in .v0.rc may run");
    assert_eq!(project.name.as_deref(), Some("safe"));
    assert_eq!(project.source, BuildDirSource::Default);
}

/// What `v0 init` writes (its `branch_line` when the branch was generated),
/// trimmed to what matters here.
const V0_INIT_RC: &str = r#"# v0 project configuration
PROJECT="inited"
ISSUE_PREFIX="in"    # Issue IDs: in-abc123

# Build and merge configuration
# V0_DEVELOP_BRANCH defined in .v0.profile.rc (user-specific)
[[ -f "${V0_ROOT:-$(dirname "${BASH_SOURCE[0]}")}/.v0.profile.rc" ]] && source "${V0_ROOT:-$(dirname "${BASH_SOURCE[0]}")}/.v0.profile.rc"
V0_GIT_REMOTE="agent"        # Git remote for push/fetch (local agent remote)

# Build state directories
V0_BUILD_DIR=".v0/build"          # Build state directory
"#;

#[test]
fn a_gone_current_directory_still_finds_the_project_through_build_dir_or_v0_root() {
    let gone = Err(std::io::ErrorKind::NotFound);
    let dir = project_with("PROJECT=p\nV0_BUILD_DIR=${V0_ROOT}/bd\nV0_PRUNE_RETENTION=2h\n");
    let build = dir.path().join("b");

    // BUILD_DIR alone, as v0 exports it (with PROJECT): no .v0.rc needed.
    let env = env_of(&[("BUILD_DIR", &text(&build)), ("PROJECT", "from-env")]);
    let project = discover_from(&env, gone, None).expect("BUILD_DIR alone");
    assert_eq!(project.build_dir.root(), build);
    assert_eq!(project.source, BuildDirSource::Env);
    assert_eq!(project.root, None);
    assert_eq!(project.name.as_deref(), Some("from-env"));

    // With V0_ROOT too, the rc file's settings and name count.
    let env = env_of(&[
        ("BUILD_DIR", &text(&build)),
        ("V0_ROOT", &text(dir.path())),
        ("PROJECT", "from-env"),
    ]);
    let project = discover_from(&env, gone, None).expect("with V0_ROOT");
    assert_eq!(project.build_dir.root(), build);
    assert_eq!(project.name.as_deref(), Some("p"), "the rc file wins");
    assert_eq!(project.settings.retention, Duration::from_secs(7200));

    // V0_ROOT alone: the rc file's build directory.
    let env = env_of(&[("V0_ROOT", &text(dir.path()))]);
    let project = discover_from(&env, gone, None).expect("V0_ROOT alone");
    assert_eq!(project.build_dir.root(), dir.path().join("bd"));

    // The flag, absolute.
    let project = discover_from(&env_of(&[]), gone, Some(&build)).expect("flag");
    assert_eq!(project.build_dir.root(), build);
}

#[test]
fn a_gone_current_directory_searches_up_from_pwd_as_bash_would() {
    let gone = Err(std::io::ErrorKind::NotFound);
    let dir = project_with("PROJECT=p\n");
    let removed = dir.path().join("worktree/sub");
    let env = env_of(&[("PWD", &text(&removed))]);
    let project = discover_from(&env, gone, None).expect("found from $PWD");
    assert_eq!(project.root.as_deref(), Some(dir.path()));
    assert_eq!(project.build_dir.root(), dir.path().join(".v0/build"));
    // A relative PWD is no help.
    let err = discover_from(&env_of(&[("PWD", "worktree")]), gone, None).expect_err("relative");
    assert!(matches!(err, ConfigError::NoCurrentDir { .. }), "{err}");
}

#[test]
fn a_gone_current_directory_with_relative_or_no_paths_is_a_clear_error() {
    let gone = Err(std::io::ErrorKind::NotFound);
    for (env, flag, var) in [
        (env_of(&[("BUILD_DIR", "rel/b")]), None, "BUILD_DIR"),
        (env_of(&[]), Some(Path::new("rel")), "--build-dir"),
    ] {
        let err = discover_from(&env, gone, flag).expect_err("relative");
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("invalid {var}=\"rel")),
            "{message}"
        );
        assert!(
            message.contains("the current directory cannot be read")
                && message.contains("absolute path"),
            "{message}"
        );
    }
    let err = discover_from(&env_of(&[("V0_ROOT", "relative/root")]), gone, None)
        .expect_err("nothing usable");
    assert!(matches!(err, ConfigError::NoCurrentDir { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("set BUILD_DIR or V0_ROOT to absolute paths"),
        "{err}"
    );
}

#[test]
fn the_profile_that_v0_init_makes_the_rc_file_source_counts() {
    let dir = project_with(V0_INIT_RC);
    std::fs::write(
        dir.path().join(".v0.profile.rc"),
        "# v0 user profile\nexport V0_DEVELOP_BRANCH=\"v0/agent/me-1234\"\n\
         export V0_PRUNE_RETENTION=3h\nV0_PRUNE_INTERVAL=\"${V0_PRUNE_INTERVAL:-15m}\"\n\
         V0_BUILD_DIR=from-profile\n",
    )
    .expect("profile");
    let check = |project: Project| {
        assert_eq!(project.name.as_deref(), Some("inited"));
        assert_eq!(project.settings.retention, Duration::from_secs(3 * 3600));
        assert_eq!(project.settings.interval, Duration::from_secs(15 * 60));
        // As in bash: the rc file's later line wins over the profile's.
        assert_eq!(project.build_dir.root(), dir.path().join(".v0/build"));
    };
    check(discover_with(&env_of(&[]), dir.path(), None).expect("from the root"));
    // From a removed directory, through V0_ROOT as v0 exports it.
    let env = env_of(&[("V0_ROOT", &text(dir.path()))]);
    check(discover_from(&env, Err(std::io::ErrorKind::NotFound), None).expect("from V0_ROOT"));

    // Without the source line, v0 still reads the profile when the branch is
    // left at `main`; not when the rc file names another branch.
    std::fs::write(dir.path().join(RC_FILE), "PROJECT=x\n").expect("rc");
    std::fs::write(dir.path().join(".v0.profile.rc"), "V0_PRUNE_RETENTION=5h\n").expect("p");
    let project = discover_with(&env_of(&[]), dir.path(), None).expect("default branch");
    assert_eq!(project.settings.retention, Duration::from_secs(5 * 3600));
    std::fs::write(dir.path().join(RC_FILE), "V0_DEVELOP_BRANCH=dev\n").expect("rc");
    let project = discover_with(&env_of(&[]), dir.path(), None).expect("other branch");
    assert_eq!(project.settings.retention, DEFAULT_RETENTION);
}

#[test]
fn only_the_projects_own_profile_is_read_and_never_executed_or_looped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("executed");
    let elsewhere = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        elsewhere.path().join(".v0.profile.rc"),
        "V0_PRUNE_RETENTION=9h\n",
    )
    .expect("foreign profile");
    std::fs::write(elsewhere.path().join("other.rc"), "V0_PRUNE_RETENTION=8h\n").expect("other");
    std::fs::write(
        dir.path().join(RC_FILE),
        format!(
            "V0_DEVELOP_BRANCH=dev\nsource {e}/.v0.profile.rc\n. {e}/other.rc\n\
             source \"$V0_ROOT/.v0.profile.rc\"\n",
            e = text(elsewhere.path())
        ),
    )
    .expect("rc");
    // The profile sources itself and the rc file, and tries to run something.
    std::fs::write(
        dir.path().join(".v0.profile.rc"),
        format!(
            "V0_PRUNE_INTERVAL=7m\nsource \"$V0_ROOT/.v0.profile.rc\"\n. \"${{V0_ROOT}}/.v0.rc\"\n\
             touch {m}\nV0_PRUNE_RETENTION=\"$(touch {m})\"\n",
            m = text(&marker)
        ),
    )
    .expect("profile");
    let project = discover_with(&env_of(&[]), dir.path(), None).expect("discover");
    assert_eq!(project.settings.interval, Duration::from_secs(7 * 60));
    assert_eq!(
        project.settings.retention, DEFAULT_RETENTION,
        "no other directory's profile, no other file"
    );
    assert!(!marker.exists(), "nothing in the profile may run");
}

#[test]
fn the_size_budget_comes_from_the_environment_or_the_rc_file() {
    let dir = project_with("V0_PRUNE_MAX_SIZE=500M\nexport V0_PRUNE_MIN_KEEP='30m'\n");
    let project = discover_with(&env_of(&[]), dir.path(), None).expect("discover");
    assert_eq!(project.settings.max_size, Some(500 << 20));
    assert_eq!(project.settings.min_keep, Duration::from_secs(1800));

    let env = env_of(&[("V0_PRUNE_MAX_SIZE", "2G"), ("V0_PRUNE_MIN_KEEP", "")]);
    let project = discover_with(&env, dir.path(), None).expect("discover");
    assert_eq!(project.settings.max_size, Some(2 << 30));
    assert_eq!(project.settings.min_keep, Duration::from_secs(1800));

    // Unset: no cap, and ten minutes kept.
    let plain = project_with("PROJECT=p\n");
    let project = discover_with(&env_of(&[]), plain.path(), None).expect("discover");
    assert_eq!(project.settings.max_size, None);
    assert_eq!(project.settings.min_keep, DEFAULT_MIN_KEEP);
    assert_eq!(DEFAULT_MIN_KEEP, Duration::from_secs(600));
    assert!(project.settings.budget(jiff::Timestamp::now()).is_none());
    let env = env_of(&[("V0_PRUNE_MAX_SIZE", "104857600")]);
    let project = discover_with(&env, plain.path(), None).expect("discover");
    assert_eq!(project.settings.max_size, Some(104_857_600));
}

#[test]
fn bad_budget_settings_are_errors_naming_the_variable_and_the_forms() {
    let dir = project_with("PROJECT=p\n");
    for (var, value, expected) in [
        (
            "V0_PRUNE_MAX_SIZE",
            "lots",
            "invalid V0_PRUNE_MAX_SIZE=\"lots\": expected bytes or a whole number with K, M, G or T",
        ),
        (
            "V0_PRUNE_MAX_SIZE",
            "1.5G",
            "invalid V0_PRUNE_MAX_SIZE=\"1.5G\": expected bytes",
        ),
        (
            "V0_PRUNE_MAX_SIZE",
            "0",
            "invalid V0_PRUNE_MAX_SIZE=\"0\": a cap of 0 would remove",
        ),
        (
            "V0_PRUNE_MIN_KEEP",
            "10 minutes",
            "invalid V0_PRUNE_MIN_KEEP=\"10 minutes\": expected seconds or a number with s, m, h or d",
        ),
    ] {
        let err = discover_with(&env_of(&[(var, value)]), dir.path(), None).expect_err(value);
        assert!(matches!(err, ConfigError::InvalidSetting { .. }));
        assert!(err.to_string().starts_with(expected), "{err}");
    }
    std::fs::write(dir.path().join(RC_FILE), "V0_PRUNE_MAX_SIZE=100MB\n").expect("write");
    let err = discover_with(&env_of(&[]), dir.path(), None).expect_err("bad rc value");
    assert!(
        err.to_string()
            .starts_with("invalid V0_PRUNE_MAX_SIZE=\"100MB\""),
        "{err}"
    );
}
