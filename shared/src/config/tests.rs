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
        "no .v0.rc found in this directory or its parents"
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
