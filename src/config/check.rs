//! `[jobs.check]`: the thresholds of `zreplrs check` for a job (the command line overrides them).

use std::time::Duration;

use serde::Deserialize;

use crate::error::Invalid;

/// Default age of the newest replicated (or received) snapshot that is a warning: 90 minutes, as for
/// hourly snapshots (sanoid's `hourly_warn`).
pub const DEFAULT_WARNING: Duration = Duration::from_secs(90 * 60);
/// Default age that is critical: 6 hours (sanoid's `hourly_crit`).
pub const DEFAULT_CRITICAL: Duration = Duration::from_secs(6 * 3600);

/// Thresholds of `zreplrs check`, durations such as `"90m"`, `"26h"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawCheck")]
pub struct CheckConfig {
    /// Age of the newest replicated snapshot (lag; on the backup host, of the newest received one) that is a
    /// warning. Default 90 minutes.
    pub warning: Duration,
    /// ... that is critical. Default 6 hours.
    pub critical: Duration,
    /// Age of resumable state (an interrupted receive) that is a warning; default the `warning` age.
    pub resumable_warning: Duration,
    /// ... that is critical; default the `critical` age.
    pub resumable_critical: Duration,
}

impl Default for CheckConfig {
    fn default() -> Self {
        CheckConfig {
            warning: DEFAULT_WARNING,
            critical: DEFAULT_CRITICAL,
            resumable_warning: DEFAULT_WARNING,
            resumable_critical: DEFAULT_CRITICAL,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    #[serde(default, deserialize_with = "positive")]
    warning: Option<Duration>,
    #[serde(default, deserialize_with = "positive")]
    critical: Option<Duration>,
    #[serde(default, deserialize_with = "positive")]
    resumable_warning: Option<Duration>,
    #[serde(default, deserialize_with = "positive")]
    resumable_critical: Option<Duration>,
}

fn positive<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    super::job::positive_duration(d).map(Some)
}

impl TryFrom<RawCheck> for CheckConfig {
    type Error = Invalid;

    fn try_from(raw: RawCheck) -> Result<Self, Invalid> {
        let warning = raw.warning.unwrap_or(DEFAULT_WARNING);
        let critical = raw.critical.unwrap_or(DEFAULT_CRITICAL.max(warning));
        let c = CheckConfig {
            warning,
            critical,
            resumable_warning: raw.resumable_warning.unwrap_or(warning),
            resumable_critical: raw.resumable_critical.unwrap_or(critical),
        };
        c.validate()?;
        Ok(c)
    }
}

impl CheckConfig {
    /// A warning age must come before the critical one.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.warning > self.critical || self.resumable_warning > self.resumable_critical {
            return Err(Invalid(
                "a warning age must not be longer than its critical age (warning <= critical)".into(),
            ));
        }
        Ok(())
    }
}
