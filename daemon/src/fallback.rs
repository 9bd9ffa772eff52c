//! `BUILD_DIR` and the interval/retention variables read straight from the
//! environment, for when `config::discover` does not handle them itself.
//!
//! Interim: `shared::config` is meant to own this; once its `discover` honours
//! `BUILD_DIR`, `V0_PRUNE_INTERVAL` and `V0_PRUNE_RETENTION`, this is never
//! reached and can go.

use std::time::Duration;

use v0_prune_shared::config::{ConfigError, Settings};
use v0_prune_shared::paths::BuildDir;

use crate::DaemonOptions;

/// Options from `BUILD_DIR`, or `None` when it is not set.
pub fn from_env() -> Option<Result<DaemonOptions, ConfigError>> {
    let build = std::env::var_os("BUILD_DIR").filter(|dir| !dir.is_empty())?;
    Some(settings().map(|settings| DaemonOptions {
        build_dir: BuildDir::new(build),
        project: None,
        settings,
    }))
}

fn settings() -> Result<Settings, ConfigError> {
    let mut settings = Settings::default();
    if let Some(interval) = duration_var("V0_PRUNE_INTERVAL")? {
        settings.interval = interval;
    }
    if let Some(retention) = duration_var("V0_PRUNE_RETENTION")? {
        settings.retention = retention;
    }
    Ok(settings)
}

fn duration_var(var: &str) -> Result<Option<Duration>, ConfigError> {
    let Ok(value) = std::env::var(var) else {
        return Ok(None);
    };
    match parse_duration(value.trim()) {
        Some(duration) if !duration.is_zero() => Ok(Some(duration)),
        _ => Err(ConfigError::InvalidSetting {
            var: var.to_owned(),
            value,
            reason: "expected a positive duration such as 3600, 90s, 30m, 6h or 500ms".to_owned(),
        }),
    }
}

/// `3600` (seconds), `500ms`, `90s`, `30m`, `6h`, `2d`.
fn parse_duration(text: &str) -> Option<Duration> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let secs = |mult: u64| n.checked_mul(mult).map(Duration::from_secs);
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "" | "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86_400),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_v0_units() {
        assert_eq!(parse_duration("3600"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("6h"), Some(Duration::from_secs(6 * 3600)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("5 weeks"), None);
    }
}
