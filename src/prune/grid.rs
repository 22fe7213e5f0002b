//! zrepl's retention grid: the `grid` keep rule's spec (`1x1h(keep=all) | 24x1h | 14x1d | 3x30d`) and
//! the sieve that fits snapshots into it.
//!
//! # Syntax (zrepl `config/retentiongrid.go`, `config/config.go`)
//! Intervals are separated by `|`; each is `<count>x<duration>` with an optional `(keep=N)` or
//! `(keep=all)` (default `keep=1`). `<count>x<duration>` stands for `count` adjacent buckets of that
//! duration. Durations are a positive integer followed by `s`, `m`, `h`, `d` (24 h) or `w` (7 d), like
//! zrepl's own duration parser; whitespace around the parts is allowed. Like zrepl, interval lengths
//! must not decrease from one interval to the next, except after intervals that are all `keep=all`.
//! zreplrs is stricter than zrepl in one respect: `keep=0` and negative keep counts are rejected
//! (zrepl's parser happens to read `keep=-1` as `keep=all`).
//!
//! # Semantics (zrepl `pruning/retentiongrid/retentiongrid.go` and `docs/configuration/prune.rst`)
//! * The grid is laid on the time axis with the left edge of the first bucket at the **youngest**
//!   snapshot's creation (not at `now`), so a grid never empties a dataset whose snapshotting stopped.
//! * Buckets include their younger edge and exclude their older edge: a snapshot exactly one bucket
//!   length older than the anchor falls into the second bucket, and one exactly as old as the whole
//!   grid falls into no bucket.
//! * Each bucket keeps its `keep` **oldest** snapshots (`keep=all`: all of them); the younger ones are
//!   not kept. Snapshots older than the whole grid are not kept.
//!
//! Two decisions of zreplrs go beyond zrepl; both only ever keep more:
//! * **The anchor is always kept.** zrepl destroys the youngest snapshot when the first bucket holds
//!   more than `keep` snapshots (which is why its docs tell users to start grids with
//!   `1x…(keep=all)`). The next run then anchors the grid at an older snapshot, the buckets shift and
//!   more snapshots go, run after run. Keeping the anchor makes pruning idempotent: evaluating the
//!   survivors again keeps all of them.
//! * **Clock skew.** Snapshots whose creation lies after `now` are always kept, and the grid is anchored
//!   at `now` instead of at such a snapshot; otherwise one snapshot stamped far in the future (a wrong
//!   clock) would push every real snapshot out of the grid. Without skew the anchor is the youngest
//!   snapshot, exactly as in zrepl.

use crate::error::Invalid;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

/// The form of one grid interval, quoted in parse errors.
const FORM: &str = "<count>x<duration>[(keep=N|all)]";

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
const WEEK: u64 = 7 * DAY;

/// How many snapshots one bucket keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// `keep=all`: every snapshot in the bucket.
    All,
    /// `keep=N`: the `N` oldest snapshots in the bucket (`N` ≥ 1 when parsed).
    N(u32),
}

/// `<count>x<duration>(keep=…)`: `count` adjacent buckets of `length_secs` seconds each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridInterval {
    /// How many buckets of this length follow each other (≥ 1 when parsed).
    pub count: u32,
    /// The length of one bucket in seconds (≥ 1 when parsed).
    pub length_secs: u64,
    /// How many snapshots each of these buckets keeps.
    pub keep: Keep,
}

/// A parsed retention grid: its intervals from the youngest to the oldest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grid {
    /// The intervals, youngest first, as written (not expanded by their count).
    pub intervals: Vec<GridInterval>,
}

impl Grid {
    /// The time the whole grid covers, in seconds (saturating).
    pub fn span_secs(&self) -> u64 {
        self.intervals.iter().fold(0u64, |acc, iv| {
            acc.saturating_add(u64::from(iv.count).saturating_mul(iv.length_secs))
        })
    }

    /// The bucket a snapshot `age` seconds older than the anchor falls into, as (interval index, bucket
    /// index within that interval); `None` when it is as old as the whole grid or older.
    fn bucket_of(&self, age: u64) -> Option<(usize, u64)> {
        let mut start = 0u64;
        for (i, iv) in self.intervals.iter().enumerate() {
            if iv.count == 0 || iv.length_secs == 0 {
                continue; // not produced by the parser; such an interval covers no time
            }
            let span = u64::from(iv.count).saturating_mul(iv.length_secs);
            let offset = age.checked_sub(start)?;
            if offset < span {
                return Some((i, offset / iv.length_secs));
            }
            start = start.saturating_add(span);
        }
        None
    }
}

impl FromStr for Grid {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Grid, Invalid> {
        if s.trim().is_empty() {
            return Err(Invalid::from(format!(
                "grid spec is empty: expected intervals separated by '|', each {FORM}, \
                 e.g. \"1x1h(keep=all) | 24x1h | 14x1d\""
            )));
        }
        let mut intervals = Vec::new();
        let mut span = 0u64;
        for part in s.split('|') {
            let iv = parse_interval(part)?;
            span = u64::from(iv.count)
                .checked_mul(iv.length_secs)
                .and_then(|iv_span| span.checked_add(iv_span))
                .ok_or_else(|| interval_error(part, "the grid spans more time than can be represented"))?;
            intervals.push(iv);
        }
        check_lengths(&intervals)?;
        Ok(Grid { intervals })
    }
}

impl fmt::Display for GridInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.count, format_duration(self.length_secs))?;
        match self.keep {
            Keep::All => f.write_str("(keep=all)"),
            Keep::N(1) => Ok(()),
            Keep::N(n) => write!(f, "(keep={n})"),
        }
    }
}

/// The normalized spec: intervals joined by `" | "`, durations in the largest of `d`, `h`, `m`, `s`
/// that divides them, `(keep=1)` left out. Parsing it gives back an equal [`Grid`].
impl fmt::Display for Grid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, iv) in self.intervals.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{iv}")?;
        }
        Ok(())
    }
}

/// `secs` in the largest unit of `d`, `h`, `m`, `s` that divides it.
fn format_duration(secs: u64) -> String {
    if secs == 0 {
        return "0s".to_string();
    }
    for (unit, len) in [("d", DAY), ("h", HOUR), ("m", MINUTE)] {
        if secs.is_multiple_of(len) {
            return format!("{}{unit}", secs / len);
        }
    }
    format!("{secs}s")
}

fn interval_error(part: &str, detail: &str) -> String {
    format!("grid interval {:?}: {detail}", part.trim())
}

/// Parses one `|`-separated part: `<count>x<duration>[(keep=N|all)]`.
fn parse_interval(part: &str) -> Result<GridInterval, Invalid> {
    let trimmed = part.trim();
    if trimmed.is_empty() {
        return Err(Invalid::from(interval_error(
            part,
            &format!("empty interval (a stray '|'?); expected {FORM}"),
        )));
    }
    let Some((count_str, rest)) = trimmed.split_once('x') else {
        return Err(Invalid::from(interval_error(part, &format!("expected {FORM}"))));
    };
    let count_str = count_str.trim();
    if !is_digits(count_str) {
        return Err(Invalid::from(interval_error(part, &format!("expected {FORM}"))));
    }
    let count: u32 = count_str
        .parse()
        .map_err(|_| interval_error(part, &format!("the count {count_str} is too large")))?;
    if count == 0 {
        return Err(Invalid::from(interval_error(part, "the count must be at least 1")));
    }
    let (duration_str, params) = match rest.find('(') {
        None => (rest, None),
        Some(open) => {
            let Some(inner) = rest[open + 1..].trim_end().strip_suffix(')') else {
                return Err(Invalid::from(interval_error(part, &format!("expected {FORM}"))));
            };
            (&rest[..open], Some(inner))
        }
    };
    let length_secs = parse_duration(duration_str).map_err(|e| interval_error(part, &e))?;
    let keep = match params {
        None => Keep::N(1),
        Some(p) => parse_keep(p).map_err(|e| interval_error(part, &e))?,
    };
    Ok(GridInterval {
        count,
        length_secs,
        keep,
    })
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// zrepl's duration syntax: a positive integer, optional whitespace, one of `s m h d w`.
fn parse_duration(s: &str) -> Result<u64, Invalid> {
    let t = s.trim();
    let invalid = || {
        format!(
            "invalid duration {t:?}: expected a positive integer followed by s, m, h, d or w \
             (e.g. 15m, 1h, 30d)"
        )
    };
    let unit_at = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(invalid)?;
    let (number, unit) = t.split_at(unit_at);
    let unit_secs = match unit.trim_start() {
        "s" => 1,
        "m" => MINUTE,
        "h" => HOUR,
        "d" => DAY,
        "w" => WEEK,
        _ => return Err(Invalid::from(invalid())),
    };
    if !is_digits(number) {
        return Err(Invalid::from(invalid()));
    }
    let n: u64 = number.parse().map_err(|_| format!("duration {t:?} is too long"))?;
    if n == 0 {
        return Err(Invalid::from(format!("duration {t:?} must be positive")));
    }
    n.checked_mul(unit_secs)
        .ok_or_else(|| Invalid(format!("duration {t:?} is too long")))
}

/// The inside of `( … )`: `keep=N` (N ≥ 1) or `keep=all`.
fn parse_keep(p: &str) -> Result<Keep, Invalid> {
    let invalid = || format!("invalid parameter \"({p})\": expected (keep=N) with N at least 1, or (keep=all)");
    let value = p.trim().strip_prefix("keep=").ok_or_else(invalid)?.trim();
    if value == "all" {
        return Ok(Keep::All);
    }
    if !is_digits(value) {
        return Err(Invalid::from(invalid()));
    }
    match value.parse::<u32>() {
        Ok(0) | Err(_) => Err(Invalid::from(invalid())),
        Ok(n) => Ok(Keep::N(n)),
    }
}

/// zrepl (`pruning/keep_grid.go`): interval lengths must not decrease, since that indicates a mistake,
/// unless every earlier interval is `keep=all`.
fn check_lengths(intervals: &[GridInterval]) -> Result<(), Invalid> {
    let mut last = 0u64;
    for (i, iv) in intervals.iter().enumerate() {
        if iv.length_secs < last && !intervals[..i].iter().all(|p| p.keep == Keep::All) {
            return Err(Invalid::from(format!(
                "grid interval \"{iv}\": interval lengths must not decrease from one interval to \
                 the next (it follows a {} interval); only intervals after keep=all intervals may \
                 be shorter",
                format_duration(last)
            )));
        }
        last = iv.length_secs;
    }
    Ok(())
}

/// The names of the snapshots `grid` keeps among `snaps` (`(name, creation in unix seconds, createtxg)`,
/// any order; the caller has already filtered them by the rule's regex). See the module docs for the
/// semantics; `now` only matters for snapshots created after it (clock skew), which are all kept.
///
/// Within a bucket "oldest" means smallest `(creation, createtxg, name)`, so the result is deterministic
/// even for snapshots created in the same second.
pub fn grid_keep(grid: &Grid, now: u64, snaps: &[(String, u64, u64)]) -> BTreeSet<String> {
    let mut kept = BTreeSet::new();
    let key = |s: &(String, u64, u64)| (s.1, s.2, s.0.clone());
    let Some(youngest) = snaps.iter().max_by_key(|s| key(s)) else {
        return kept;
    };
    let anchor = youngest.1.min(now);
    if youngest.1 <= now {
        kept.insert(youngest.0.clone());
    }
    // (interval index, bucket index within it) → the snapshots in that bucket
    type Bucket<'a> = Vec<&'a (String, u64, u64)>;
    let mut buckets: BTreeMap<(usize, u64), Bucket<'_>> = BTreeMap::new();
    for snap in snaps {
        match anchor.checked_sub(snap.1) {
            // created after the anchor, which is `now` here: clock skew, keep
            None => {
                kept.insert(snap.0.clone());
            }
            Some(age) => {
                if let Some(bucket) = grid.bucket_of(age) {
                    buckets.entry(bucket).or_default().push(snap);
                }
            }
        }
    }
    for ((interval, _), mut entries) in buckets {
        let keep = match grid.intervals.get(interval).map(|iv| iv.keep) {
            Some(Keep::All) => entries.len(),
            Some(Keep::N(n)) => usize::try_from(n).unwrap_or(usize::MAX),
            None => 0,
        };
        entries.sort_by_key(|s| key(s));
        kept.extend(entries.into_iter().take(keep).map(|s| s.0.clone()));
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(s: &str) -> Grid {
        s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn snaps(list: &[(&str, u64)]) -> Vec<(String, u64, u64)> {
        list.iter()
            .enumerate()
            .map(|(i, (n, c))| (n.to_string(), *c, i as u64 + 1))
            .collect()
    }

    fn kept(g: &Grid, now: u64, list: &[(&str, u64)]) -> Vec<String> {
        grid_keep(g, now, &snaps(list)).into_iter().collect()
    }

    fn names(list: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    }

    const T: u64 = 1_700_000_000;
    const M: u64 = 60;

    #[test]
    fn parses_the_zrepl_example() {
        let g = grid("1x1h(keep=all) | 24x1h | 14x1d | 3x30d");
        assert_eq!(
            g.intervals,
            vec![
                GridInterval {
                    count: 1,
                    length_secs: HOUR,
                    keep: Keep::All
                },
                GridInterval {
                    count: 24,
                    length_secs: HOUR,
                    keep: Keep::N(1)
                },
                GridInterval {
                    count: 14,
                    length_secs: DAY,
                    keep: Keep::N(1)
                },
                GridInterval {
                    count: 3,
                    length_secs: 30 * DAY,
                    keep: Keep::N(1)
                },
            ]
        );
        assert_eq!(g.to_string(), "1x1h(keep=all) | 24x1h | 14x1d | 3x30d");
        assert_eq!(g.span_secs(), HOUR + 24 * HOUR + 14 * DAY + 90 * DAY);
    }

    #[test]
    fn durations_with_each_unit() {
        for (spec, secs) in [
            ("1x45s", 45),
            ("1x15m", 15 * M),
            ("1x2h", 2 * HOUR),
            ("1x1d", DAY),
            ("1x30d", 30 * DAY),
            ("1x1w", WEEK),
            ("1x3w", 3 * WEEK),
        ] {
            assert_eq!(grid(spec).intervals[0].length_secs, secs, "{spec}");
        }
    }

    #[test]
    fn whitespace_and_keep_variants() {
        let g = grid("  2 x 1 h ( keep=3 ) |3x1d(keep=all)  ");
        assert_eq!(
            g.intervals[0],
            GridInterval {
                count: 2,
                length_secs: HOUR,
                keep: Keep::N(3)
            }
        );
        assert_eq!(g.intervals[1].keep, Keep::All);
        assert_eq!(g.to_string(), "2x1h(keep=3) | 3x1d(keep=all)");
    }

    #[test]
    fn display_round_trips_normalized() {
        for (spec, normal) in [
            ("1x60m", "1x1h"),
            ("1x90m", "1x90m"),
            ("2x1w", "2x7d"),
            ("1x86400s", "1x1d"),
            ("1x1h(keep=1)", "1x1h"),
            ("4x15m(keep=2)|1x1h", "4x15m(keep=2) | 1x1h"),
        ] {
            let g = grid(spec);
            assert_eq!(g.to_string(), normal, "{spec}");
            assert_eq!(grid(normal), g, "{spec}");
        }
    }

    #[test]
    fn malformed_specs_are_rejected_clearly() {
        for (spec, needle) in [
            ("", "grid spec is empty"),
            ("   ", "grid spec is empty"),
            (
                "x1h",
                "grid interval \"x1h\": expected <count>x<duration>[(keep=N|all)]",
            ),
            (
                "24y1h",
                "grid interval \"24y1h\": expected <count>x<duration>[(keep=N|all)]",
            ),
            ("2x", "grid interval \"2x\": invalid duration \"\""),
            ("2x1h(keep=)", "invalid parameter \"(keep=)\""),
            ("2x1h(keep=-1)", "invalid parameter \"(keep=-1)\""),
            ("2x1h(keep=0)", "invalid parameter \"(keep=0)\""),
            ("2x1h(keep=x)", "invalid parameter"),
            ("2x1h(foo=1)", "invalid parameter"),
            ("2x1h(keep=1", "expected <count>x<duration>"),
            ("2x1h(keep=1)x", "expected <count>x<duration>"),
            ("2x1h keep", "invalid duration \"1h keep\""),
            ("1x1h || 2x1d", "grid interval \"\": empty interval"),
            ("1x1h |", "empty interval"),
            ("0x1h", "grid interval \"0x1h\": the count must be at least 1"),
            ("-1x1h", "expected <count>x<duration>"),
            ("1x0h", "must be positive"),
            ("1x1y", "invalid duration \"1y\""),
            ("1x1H", "invalid duration"),
            ("1xh", "invalid duration"),
            ("1x1.5h", "invalid duration"),
            ("99999999999x1h", "too large"),
            ("1x99999999999999999999s", "too long"),
            ("4294967295x99999999999w", "more time than can be represented"),
            ("1x1d | 1x1h", "interval lengths must not decrease"),
        ] {
            let err = spec.parse::<Grid>().expect_err(spec);
            assert!(err.contains(needle), "{spec:?}: {err:?} lacks {needle:?}");
        }
    }

    #[test]
    fn shorter_intervals_only_after_keep_all() {
        // zrepl allows a shorter interval when every earlier one is keep=all
        assert!("1x1d(keep=all) | 24x1h".parse::<Grid>().is_ok());
        assert!("1x1d(keep=all) | 1x2d(keep=all) | 1x1h".parse::<Grid>().is_ok());
        assert!("1x1d(keep=all) | 1x2d | 1x1h".parse::<Grid>().is_err());
        assert!("24x1h | 14x1d | 1x12h".parse::<Grid>().is_err());
    }

    #[test]
    fn empty_input_keeps_nothing() {
        assert!(grid_keep(&grid("1x1h"), T, &[]).is_empty());
    }

    #[test]
    fn buckets_are_inclusive_at_the_young_edge_exclusive_at_the_old_edge() {
        // zrepl's TestIntervalBoundariesAndAlignment, anchored at `now` by a snapshot from the future
        let g = grid("3x10m");
        let list = [
            ("0", T + M),      // future: kept
            ("1", T),          // 1st bucket, young edge
            ("2", T - 10 * M), // 2nd bucket, young edge
            ("3", T - 20 * M), // 3rd bucket, young edge
            ("4", T - 30 * M), // 3rd bucket's old edge: outside the grid
            ("5", T - 40 * M), // older than the grid
        ];
        assert_eq!(kept(&g, T, &list), names(&["0", "1", "2", "3"]));
    }

    #[test]
    fn snapshot_exactly_on_a_boundary_falls_into_the_older_bucket() {
        // anchor at T; "edge" is exactly 1h older, so it shares the 2nd bucket with "older" and,
        // being the younger one of the two, is not kept
        let g = grid("1x1h | 1x1h");
        let list = [("anchor", T), ("edge", T - HOUR), ("older", T - HOUR - 30 * M)];
        assert_eq!(kept(&g, T, &list), names(&["anchor", "older"]));
        // without "older" the edge snapshot is the only one in the 2nd bucket
        assert_eq!(kept(&g, T, &list[..2]), names(&["anchor", "edge"]));
    }

    #[test]
    fn keeps_the_oldest_per_bucket() {
        // zrepl's TestKeepsOldestSnapsInABucket: "1m,2" keeps the two oldest; zreplrs also keeps the
        // anchor ("5"), which zrepl would destroy
        let g = grid("1x1m(keep=2)");
        let list = [("1", T + 1), ("2", T + 2), ("3", T + 3), ("4", T + 4), ("5", T + 5)];
        assert_eq!(kept(&g, T + 6, &list), names(&["1", "2", "5"]));
    }

    #[test]
    fn several_snapshots_in_one_bucket() {
        // the anchor sits alone in the first (keep=all) hour; the 2nd bucket [1h, 2h) holds four
        let list = [
            ("anchor", T),
            ("a", T - 61 * M),
            ("b", T - 75 * M),
            ("c", T - 90 * M),
            ("d", T - 119 * M),
        ];
        let keep1 = grid("1x1h(keep=all) | 1x1h");
        assert_eq!(kept(&keep1, T, &list), names(&["anchor", "d"]));
        let keep2 = grid("1x1h(keep=all) | 1x1h(keep=2)");
        assert_eq!(kept(&keep2, T, &list), names(&["anchor", "c", "d"]));
        let all = grid("1x1h(keep=all) | 1x1h(keep=all)");
        assert_eq!(kept(&all, T, &list), names(&["anchor", "a", "b", "c", "d"]));
        // keep=5 with four snapshots keeps all four
        let five = grid("1x1h(keep=all) | 1x1h(keep=5)");
        assert_eq!(kept(&five, T, &list), names(&["anchor", "a", "b", "c", "d"]));
    }

    #[test]
    fn same_creation_second_is_ordered_by_createtxg() {
        let g = grid("1x1h(keep=all) | 1x1h");
        let s = vec![
            ("anchor".to_string(), T, 100),
            ("late".to_string(), T - 90 * M, 12),
            ("early".to_string(), T - 90 * M, 11),
        ];
        let k: Vec<String> = grid_keep(&g, T, &s).into_iter().collect();
        assert_eq!(k, names(&["anchor", "early"]));
    }

    #[test]
    fn empty_buckets_do_not_shift_the_grid() {
        let g = grid("6x1h");
        let list = [("anchor", T), ("h2", T - 2 * HOUR - M), ("h5", T - 5 * HOUR - M)];
        assert_eq!(kept(&g, T, &list), names(&["anchor", "h2", "h5"]));
    }

    #[test]
    fn snapshots_older_than_the_grid_are_not_kept() {
        let g = grid("1x1h(keep=all) | 2x1h");
        let list = [
            ("anchor", T),
            ("in", T - 3 * HOUR + 1),
            ("at_end", T - 3 * HOUR),
            ("old", T - 10 * DAY),
        ];
        assert_eq!(kept(&g, T, &list), names(&["anchor", "in"]));
    }

    #[test]
    fn the_grid_is_anchored_at_the_youngest_snapshot_not_at_now() {
        // snapshotting stopped a month ago: zrepl (and zreplrs) still keep the grid's worth
        let g = grid("1x1h(keep=all) | 24x1h");
        let last = T - 30 * DAY;
        let list = [
            ("newest", last),
            ("two_hours", last - 2 * HOUR - M),
            ("too_old", last - 26 * HOUR),
        ];
        assert_eq!(kept(&g, T, &list), names(&["newest", "two_hours"]));
    }

    #[test]
    fn snapshots_from_the_future_are_kept_and_do_not_move_the_grid() {
        let g = grid("1x1h(keep=all) | 24x1h");
        let list = [
            ("far_future", T + 365 * DAY),
            ("near_future", T + 5 * M),
            ("recent", T - 10 * M),
            ("yesterday", T - 20 * HOUR),
            ("too_old", T - 2 * DAY),
        ];
        // anchored at now: "recent" and "yesterday" stay, "too_old" goes; had the grid been anchored at
        // the far-future snapshot (zrepl), all real snapshots would have been outside it
        assert_eq!(
            kept(&g, T, &list),
            names(&["far_future", "near_future", "recent", "yesterday"])
        );
    }

    #[test]
    fn zrepl_complex_case() {
        // zrepl's TestComplex: "10m,-1|10m|10m,2|1h" with now = 0, shifted to T
        let g = grid("1x10m(keep=all) | 1x10m | 1x10m(keep=2) | 1x1h");
        let list = [
            ("1", T + 3 * M),
            ("b1", T - 6 * M),
            ("b3", T - 8 * M),
            ("b2", T - 9 * M),
            ("a", T - 11 * M),
            ("c", T - 19 * M),
            ("foo", T - 25 * M),
            ("bar", T - 26 * M),
            ("border", T - 30 * M),
            ("d", T - HOUR - 15 * M),
            ("q", T - HOUR - 30 * M),
            ("e", T - HOUR - 31 * M),
            ("f", T - 2 * HOUR),
        ];
        assert_eq!(
            kept(&g, T, &list),
            names(&["1", "b1", "b3", "b2", "c", "foo", "bar", "d"])
        );
    }

    #[test]
    fn zrepl_respects_keep_count_all() {
        // zrepl's TestRespectsKeepCountAll: "1m,-1|1m,1"
        let g = grid("1x1m(keep=all) | 1x1m");
        let list = [("a", T), ("b", T - 1), ("c", T - 2), ("d", T - 60), ("e", T - 61)];
        assert_eq!(kept(&g, T + 61, &list), names(&["a", "b", "c", "e"]));
    }

    #[test]
    fn input_order_does_not_matter_and_pruning_is_idempotent() {
        // dense snapshots: the first bucket holds more than it keeps, so zrepl would destroy the
        // youngest snapshot and the next run would anchor the grid elsewhere and destroy more
        for spec in ["1x10m(keep=2) | 6x10m | 2x1h(keep=2)", "24x1h | 7x1d", "3x15m | 4x1h"] {
            let g = grid(spec);
            for gap in [2 * M, 3 * M, 5 * M, 7 * M, 11 * M, 25 * M] {
                let mut list: Vec<(String, u64, u64)> = (0..80u64)
                    .map(|i| (format!("s{i}"), T - i * gap - (i * i) % 50, 1000 - i))
                    .collect();
                let first = grid_keep(&g, T, &list);
                assert!(first.len() < list.len(), "{spec} {gap}");
                list.reverse();
                assert_eq!(grid_keep(&g, T, &list), first, "{spec} {gap}");
                list.retain(|s| first.contains(&s.0));
                assert_eq!(grid_keep(&g, T, &list), first, "{spec} {gap}");
            }
        }
    }
}
