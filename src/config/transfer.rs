//! Transfer controls of a job: `bandwidth_limit` (bytes per second on the link to the peer) and
//! `compression` (zstd in transit), with their parsers, shared by the configuration file and the
//! `replicate` command line.

use crate::error::Invalid;
use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer};
use serde::Deserialize;

/// Lowest accepted limit: below 1 KiB/s a single frame header would take seconds.
pub const MIN_BANDWIDTH_LIMIT: u64 = 1024;

/// A bandwidth limit in bytes per second, written `"50MiB/s"`, `"10 MB/s"`, `"800KiB"` (the `/s` is
/// optional). Binary units (`KiB`, `MiB`, `GiB`, and `K`, `M`, `G`) are powers of 1024, decimal ones (`kB`,
/// `KB`, `MB`, `GB`) powers of 1000; `B` or no unit is bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BandwidthLimit(pub u64);

impl BandwidthLimit {
    pub fn bytes_per_second(self) -> u64 {
        self.0
    }
}

impl fmt::Display for BandwidthLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if b >= size && b.is_multiple_of(size) {
                return write!(f, "{}{unit}/s", b / size);
            }
        }
        write!(f, "{b}B/s")
    }
}

impl FromStr for BandwidthLimit {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Invalid> {
        let bad =
            || format!("invalid bandwidth limit {s:?}: write a rate such as \"50MiB/s\", \"10MB/s\" or \"800KiB/s\"");
        let t = s.trim();
        let t = t.strip_suffix("/s").unwrap_or(t).trim_end();
        let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
        let (num, unit) = (&t[..split], t[split..].trim());
        if num.is_empty() || num.starts_with('.') || num.ends_with('.') || num.matches('.').count() > 1 {
            return Err(Invalid::from(bad()));
        }
        let mult: u64 = match unit {
            "" | "B" => 1,
            "K" | "KiB" => 1 << 10,
            "M" | "MiB" => 1 << 20,
            "G" | "GiB" => 1 << 30,
            "kB" | "KB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            _ => return Err(Invalid::from(bad())),
        };
        // Integer arithmetic: "1.5MiB" is 1 MiB plus half of one.
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        let int: u64 = int.parse().map_err(|_| bad())?;
        let mut bytes = int.checked_mul(mult).ok_or_else(bad)?;
        if !frac.is_empty() {
            let digits = u32::try_from(frac.len()).map_err(|_| bad())?;
            let scale = 10u64.checked_pow(digits).ok_or_else(bad)?;
            let f: u64 = frac.parse().map_err(|_| bad())?;
            let part = u128::from(f) * u128::from(mult) / u128::from(scale);
            bytes = bytes
                .checked_add(u64::try_from(part).map_err(|_| bad())?)
                .ok_or_else(bad)?;
        }
        if bytes < MIN_BANDWIDTH_LIMIT {
            return Err(Invalid::from(format!(
                "bandwidth limit {s:?} is below the minimum of 1KiB/s"
            )));
        }
        Ok(BandwidthLimit(bytes))
    }
}

impl<'de> Deserialize<'de> for BandwidthLimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

/// Default zstd level: zstd's own default, a good ratio at several hundred MB/s per core.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

/// The zstd levels a job may ask for (and a send-agent accepts): above 19, zstd's "ultra" levels cost
/// seconds of CPU and hundreds of MiB of memory per chunk.
pub const ZSTD_LEVELS: std::ops::RangeInclusive<i32> = 1..=19;

/// Compression of the stream in transit: `"off"`, `"zstd"` (level [`DEFAULT_ZSTD_LEVEL`]) or `"zstd:N"`
/// with N in 1..=19.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Off,
    Zstd { level: i32 },
}

impl Compression {
    /// The level when compressing.
    pub fn zstd_level(self) -> Option<i32> {
        match self {
            Compression::Off => None,
            Compression::Zstd { level } => Some(level),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compression::Off => f.write_str("off"),
            Compression::Zstd { level } => write!(f, "zstd:{level}"),
        }
    }
}

impl FromStr for Compression {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Invalid> {
        let bad = || format!("invalid compression {s:?}: write \"off\", \"zstd\" or \"zstd:LEVEL\" (LEVEL 1 to 19)");
        match s {
            "off" | "none" => return Ok(Compression::Off),
            "zstd" => {
                return Ok(Compression::Zstd {
                    level: DEFAULT_ZSTD_LEVEL,
                })
            }
            _ => {}
        }
        let level: i32 = s.strip_prefix("zstd:").ok_or_else(bad)?.parse().map_err(|_| bad())?;
        if !ZSTD_LEVELS.contains(&level) {
            return Err(Invalid::from(bad()));
        }
        Ok(Compression::Zstd { level })
    }
}

impl<'de> Deserialize<'de> for Compression {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bandwidth_limits_parse_in_binary_and_decimal_units() {
        let cases = [
            ("50MiB/s", 50 << 20),
            ("50 MiB/s", 50 << 20),
            ("10M", 10 << 20),
            ("10MB/s", 10_000_000),
            ("800KiB", 800 << 10),
            ("1.5MiB/s", 3 << 19),
            ("2GiB/s", 2 << 30),
            ("4096", 4096),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<BandwidthLimit>(), Ok(BandwidthLimit(want)), "{text}");
        }
        assert!("1kB".parse::<BandwidthLimit>().unwrap_err().contains("minimum"));
        for bad in [
            "",
            "fast",
            "10 parsecs",
            "MiB",
            ".5M",
            "1.M",
            "1..2M",
            "-5M",
            "99999999999999GiB",
            "10MiB/h",
        ] {
            let e = bad.parse::<BandwidthLimit>().unwrap_err();
            assert!(e.contains("bandwidth limit"), "{bad}: {e}");
        }
    }

    #[test]
    fn bandwidth_limits_display_as_written() {
        assert_eq!(BandwidthLimit(50 << 20).to_string(), "50MiB/s");
        assert_eq!(BandwidthLimit(10_000_000).to_string(), "10000000B/s");
        assert_eq!(BandwidthLimit(3 << 19).to_string(), "1536KiB/s");
    }

    #[test]
    fn compression_parses_off_zstd_and_a_level() {
        assert_eq!("off".parse(), Ok(Compression::Off));
        assert_eq!("zstd".parse(), Ok(Compression::Zstd { level: 3 }));
        assert_eq!("zstd:1".parse(), Ok(Compression::Zstd { level: 1 }));
        assert_eq!("zstd:19".parse(), Ok(Compression::Zstd { level: 19 }));
        for bad in ["zstd:0", "zstd:20", "zstd:", "lz4", "gzip", "zstd:-1", "ZSTD"] {
            assert!(bad.parse::<Compression>().is_err(), "{bad}");
        }
        assert_eq!(Compression::Zstd { level: 7 }.to_string(), "zstd:7");
    }
}
