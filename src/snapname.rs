//! Names of the snapshots `zreplrs snapshot` takes: `<prefix><timestamp>`, with the timestamp in one of
//! zrepl's `utc_timestamp_format`s, so zrepl and zreplrs name snapshots alike.
//!
//! The formats are those of zrepl's `daemon/snapper/timestamp_formatting` (documented in zrepl's
//! `docs/configuration/snapshotting.rst`), always in UTC:
//!
//! | format | zrepl's Go layout | example |
//! |---|---|---|
//! | `dense` (default) | `20060102_150405_000` | `20060102_150405_000` |
//! | `human` | `2006-01-02_15:04:05` | `2006-01-02_15:04:05` |
//! | `iso-8601` | `2006-01-02T15:04:05.000Z0700` | `2006-01-02T15:04:05.123Z` |
//! | `unix-seconds` | (`Unix()`) | `1136214245` |
//!
//! Note the `_000` of `dense`: in a Go layout only `.000`/`,000` stand for fractional seconds, so the
//! `_000` is a literal and zrepl's dense names always end in `_000`; zreplrs does the same. `iso-8601`
//! does carry milliseconds. zrepl's custom Go layouts and non-UTC locations are not supported.
//!
//! Every name is a valid ZFS snapshot component when the prefix is: the timestamps use only digits and
//! `_ - : . T Z`. Everything here is pure: the caller passes the time.

use crate::error::Invalid;
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

/// The timestamp part of a snapshot name (`snapshot.timestamp_format` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimestampFormat {
    /// `20060102_150405_000` (UTC; the last three digits are always `000`, as in zrepl).
    #[default]
    Dense,
    /// `2006-01-02_15:04:05` (UTC).
    Human,
    /// `2006-01-02T15:04:05.000Z` (UTC, with milliseconds).
    #[serde(rename = "iso-8601")]
    Iso8601,
    /// `1136214245`: seconds since the epoch.
    UnixSeconds,
}

impl TimestampFormat {
    /// Every format, the default first.
    pub const ALL: [TimestampFormat; 4] = [
        TimestampFormat::Dense,
        TimestampFormat::Human,
        TimestampFormat::Iso8601,
        TimestampFormat::UnixSeconds,
    ];

    /// The name used in the configuration (zrepl's name): `dense`, `human`, `iso-8601`,
    /// `unix-seconds`.
    pub const fn as_str(self) -> &'static str {
        match self {
            TimestampFormat::Dense => "dense",
            TimestampFormat::Human => "human",
            TimestampFormat::Iso8601 => "iso-8601",
            TimestampFormat::UnixSeconds => "unix-seconds",
        }
    }

    /// The fixed layout of the calendar formats: `Y M D h m s f` are digits of year, month, day, hour,
    /// minute, second and millisecond, anything else is literal. `None` for `unix-seconds`.
    const fn layout(self) -> Option<&'static str> {
        match self {
            TimestampFormat::Dense => Some("YYYYMMDD_hhmmss_fff"),
            TimestampFormat::Human => Some("YYYY-MM-DD_hh:mm:ss"),
            TimestampFormat::Iso8601 => Some("YYYY-MM-DDThh:mm:ss.fffZ"),
            TimestampFormat::UnixSeconds => None,
        }
    }
}

impl fmt::Display for TimestampFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TimestampFormat {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<TimestampFormat, Invalid> {
        TimestampFormat::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                Invalid(format!(
                    "unknown timestamp format {s:?}: expected one of dense, human, iso-8601, \
                     unix-seconds"
                ))
            })
    }
}

/// `<prefix><timestamp>` for the instant `unix_millis` (milliseconds since the epoch, UTC).
///
/// Instants after the year 9999 still produce a name, but one that [`parse_snapshot_time`] does not
/// read back (the calendar formats have four year digits).
pub fn snapshot_name(prefix: &str, format: TimestampFormat, unix_millis: u128) -> String {
    let secs = u64::try_from(unix_millis / 1000).unwrap_or(u64::MAX);
    let millis = unix_millis % 1000;
    let c = Civil::from_unix(secs);
    let (y, mo, d, h, mi, s) = (c.year, c.month, c.day, c.hour, c.minute, c.second);
    match format {
        TimestampFormat::Dense => format!("{prefix}{y:04}{mo:02}{d:02}_{h:02}{mi:02}{s:02}_000"),
        TimestampFormat::Human => format!("{prefix}{y:04}-{mo:02}-{d:02}_{h:02}:{mi:02}:{s:02}"),
        TimestampFormat::Iso8601 => {
            format!("{prefix}{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{millis:03}Z")
        }
        TimestampFormat::UnixSeconds => format!("{prefix}{secs}"),
    }
}

/// Parses the timestamp back out of a name made with this prefix and format (None if it does not
/// match): the whole rest of the name after `prefix` must be a timestamp of `format` denoting a valid
/// UTC date and time from 1970 on. Returns unix seconds (milliseconds are dropped; the last three
/// digits of `dense`, always `000` when zrepl or zreplrs made the name, may be any digits).
pub fn parse_snapshot_time(prefix: &str, format: TimestampFormat, name: &str) -> Option<u64> {
    let rest = name.strip_prefix(prefix)?;
    let Some(layout) = format.layout() else {
        // unix-seconds: canonical decimal only, so that name ↔ time is one-to-one
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if rest.len() > 1 && rest.starts_with('0') {
            return None;
        }
        return rest.parse().ok();
    };
    let f = read_layout(rest, layout)?;
    let (year, month, day, hour, minute, second) = (f[0], f[1], f[2], f[3], f[4], f[5]);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Reads `s` against `layout` (see [`TimestampFormat::layout`]): the values of the fields
/// `Y M D h m s f`, in that order.
fn read_layout(s: &str, layout: &str) -> Option<[u64; 7]> {
    if s.len() != layout.len() {
        return None;
    }
    let mut fields = [0u64; 7];
    for (c, l) in s.bytes().zip(layout.bytes()) {
        match b"YMDhmsf".iter().position(|&f| f == l) {
            Some(i) if c.is_ascii_digit() => fields[i] = fields[i] * 10 + u64::from(c - b'0'),
            Some(_) => return None,
            None if c == l => {}
            None => return None,
        }
    }
    Some(fields)
}

fn is_leap(year: u64) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (`None` before 1970), after Howard Hinnant's
/// `days_from_civil`.
fn days_from_civil(year: u64, month: u64, day: u64) -> Option<u64> {
    let y = if month <= 2 { year.checked_sub(1)? } else { year };
    let era = y / 400;
    let yoe = y % 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
}

/// A UTC calendar date and time.
struct Civil {
    year: u64,
    month: u64,
    day: u64,
    hour: u64,
    minute: u64,
    second: u64,
}

impl Civil {
    /// The UTC date and time of `secs` seconds after the epoch (Howard Hinnant's `civil_from_days`).
    fn from_unix(secs: u64) -> Civil {
        let z = secs / 86_400 + 719_468;
        let rem = secs % 86_400;
        let era = z / 146_097;
        let doe = z % 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + u64::from(month <= 2);
        Civil {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem % 3600 / 60,
            second: rem % 60,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zfs::names::check_component;

    /// Go's reference time, 2006-01-02T15:04:05Z, plus 123 ms.
    const REF_MS: u128 = 1_136_214_245_123;

    #[test]
    fn formats_go_reference_time_like_zrepl() {
        for (format, expected) in [
            (TimestampFormat::Dense, "zrepl_20060102_150405_000"),
            (TimestampFormat::Human, "zrepl_2006-01-02_15:04:05"),
            (TimestampFormat::Iso8601, "zrepl_2006-01-02T15:04:05.123Z"),
            (TimestampFormat::UnixSeconds, "zrepl_1136214245"),
        ] {
            let name = snapshot_name("zrepl_", format, REF_MS);
            assert_eq!(name, expected, "{format}");
            check_component("snapshot name", &name).unwrap();
            assert_eq!(
                parse_snapshot_time("zrepl_", format, &name),
                Some(1_136_214_245),
                "{format}"
            );
        }
    }

    #[test]
    fn default_and_names() {
        assert_eq!(TimestampFormat::default(), TimestampFormat::Dense);
        for f in TimestampFormat::ALL {
            assert_eq!(f.as_str().parse::<TimestampFormat>(), Ok(f));
            assert_eq!(f.to_string(), f.as_str());
        }
        assert!("iso8601".parse::<TimestampFormat>().is_err());
    }

    #[test]
    fn deserializes_zrepl_names() {
        #[derive(Deserialize)]
        struct S {
            f: TimestampFormat,
        }
        for f in TimestampFormat::ALL {
            let s: S = toml::from_str(&format!("f = \"{}\"", f.as_str())).unwrap();
            assert_eq!(s.f, f);
        }
        assert!(toml::from_str::<S>("f = \"iso8601\"").is_err());
        assert!(toml::from_str::<S>("f = \"Dense\"").is_err());
    }

    #[test]
    fn epoch_and_edges() {
        assert_eq!(
            snapshot_name("", TimestampFormat::Iso8601, 0),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(snapshot_name("p", TimestampFormat::UnixSeconds, 999), "p0");
        assert_eq!(
            snapshot_name("", TimestampFormat::Dense, 951_782_399_999),
            "20000228_235959_000"
        );
        assert_eq!(
            snapshot_name("", TimestampFormat::Human, 951_782_400_000),
            "2000-02-29_00:00:00"
        );
        assert_eq!(
            snapshot_name("", TimestampFormat::Human, 253_402_300_799_000),
            "9999-12-31_23:59:59"
        );
        assert_eq!(
            parse_snapshot_time("", TimestampFormat::Human, "9999-12-31_23:59:59"),
            Some(253_402_300_799)
        );
    }

    #[test]
    fn round_trips_and_matches_the_time_crate() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let millis = u128::from(x % 253_402_300_800_000);
            let secs = (millis / 1000) as u64;
            let dt = time::OffsetDateTime::from_unix_timestamp(secs as i64).unwrap();
            let human = format!(
                "{:04}-{:02}-{:02}_{:02}:{:02}:{:02}",
                dt.year(),
                u8::from(dt.month()),
                dt.day(),
                dt.hour(),
                dt.minute(),
                dt.second()
            );
            assert_eq!(snapshot_name("", TimestampFormat::Human, millis), human);
            for f in TimestampFormat::ALL {
                let name = snapshot_name("snap-", f, millis);
                check_component("snapshot name", &name).unwrap();
                assert_eq!(parse_snapshot_time("snap-", f, &name), Some(secs), "{name}");
            }
        }
    }

    #[test]
    fn wrong_prefix_or_format_is_none() {
        let name = snapshot_name("zrepl_", TimestampFormat::Dense, REF_MS);
        assert_eq!(parse_snapshot_time("manual_", TimestampFormat::Dense, &name), None);
        assert_eq!(parse_snapshot_time("zrepl", TimestampFormat::Dense, &name), None);
        assert_eq!(parse_snapshot_time("zrepl_", TimestampFormat::Human, &name), None);
        assert_eq!(parse_snapshot_time("zrepl_", TimestampFormat::Iso8601, &name), None);
        assert_eq!(parse_snapshot_time("zrepl_", TimestampFormat::UnixSeconds, &name), None);
        // a longer prefix that starts with ours
        let hourly = snapshot_name("zrepl_hourly_", TimestampFormat::Dense, REF_MS);
        assert_eq!(parse_snapshot_time("zrepl_", TimestampFormat::Dense, &hourly), None);
    }

    #[test]
    fn rejects_malformed_timestamps() {
        use TimestampFormat::*;
        for (format, rest) in [
            (Dense, "20060102_150405"),
            (Dense, "20060102_150405_0000"),
            (Dense, "20060102-150405_000"),
            (Dense, "2006010a_150405_000"),
            (Dense, "20061302_150405_000"),
            (Dense, "20060100_150405_000"),
            (Dense, "20060230_150405_000"),
            (Dense, "20050229_000000_000"),
            (Dense, "20060102_240000_000"),
            (Dense, "20060102_156005_000"),
            (Dense, "20060102_150460_000"),
            (Dense, "19691231_235959_000"),
            (Human, "2006-01-02 15:04:05"),
            (Human, "2006-01-02_15:04:05Z"),
            (Iso8601, "2006-01-02T15:04:05Z"),
            (Iso8601, "2006-01-02T15:04:05.123+0000"),
            (UnixSeconds, ""),
            (UnixSeconds, "01136214245"),
            (UnixSeconds, "+1136214245"),
            (UnixSeconds, "1136214245.5"),
            (UnixSeconds, "99999999999999999999999"),
        ] {
            assert_eq!(
                parse_snapshot_time("p", format, &format!("p{rest}")),
                None,
                "{format} {rest:?}"
            );
        }
        // leap day and any "milliseconds" digits in dense are accepted
        assert_eq!(
            parse_snapshot_time("p", Dense, "p20040229_000000_123"),
            Some(1_078_012_800)
        );
        assert_eq!(parse_snapshot_time("p", UnixSeconds, "p0"), Some(0));
    }
}
