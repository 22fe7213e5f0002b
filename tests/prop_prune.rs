//! Property tests for pruning, `zreplrs::prune::rules::evaluate`, on random snapshot sets and keep rules.
//!
//! Snapshots get unique names with a few prefixes, increasing createtxg, creation times spread over weeks
//! (mostly increasing, sometimes equal or jumping back, as with a wrong clock) and random user holds. Rules
//! are grids built from random intervals, `last_n` with and without a regex, `regex` with and without
//! `negate`, and `not_replicated` with a random cursor. Checked: the rules form a union (whatever one rule
//! keeps on its own is kept by the combination, and nothing else is kept except protected snapshots),
//! protected and held snapshots are never destroyed, pruning the survivors again destroys nothing,
//! decisions are deterministic and independent of the input order, and each rule keeps what its
//! documentation says.

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};

use zreplrs::prune::grid::Grid;
use zreplrs::prune::rules::{evaluate, Action, Decision, KeepRule, KeepRuleConfig, PruneContext, SnapInfo};

const T0: u64 = 1_700_000_000;
const MINUTE: u64 = 60;
const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

const PREFIXES: [&str; 5] = ["zrepl_", "zrepl_", "zrepl_", "manual_", "other_"];
const REGEXES: [&str; 6] = [".", "^zrepl_", "^manual_", "_1", "^(zrepl|manual)_", "other"];

// ---------------------------------------------------------------------------------------------------------
// Snapshots.

/// How a snapshot's creation time follows the previous one's.
#[derive(Debug, Clone, Copy)]
enum Clock {
    /// Forward by up to twice the case's typical gap.
    Forward(u64),
    /// The same second.
    Same,
    /// Backwards by up to three hours (a clock jump).
    Back(u64),
}

fn clock() -> impl Strategy<Value = Clock> {
    prop_oneof![
        18 => (0u64..1000).prop_map(Clock::Forward),
        1 => Just(Clock::Same),
        1 => (0u64..3 * HOUR).prop_map(Clock::Back),
    ]
}

fn snaps() -> impl Strategy<Value = Vec<SnapInfo>> {
    let gap = prop::sample::select(vec![5 * MINUTE, 15 * MINUTE, HOUR, 6 * HOUR, DAY]);
    let one = (0..PREFIXES.len(), 1u64..50, clock(), prop::bool::weighted(0.1));
    (gap, prop::collection::vec(one, 0..40)).prop_map(|(gap, list)| {
        let mut creation = T0 - 40 * DAY;
        let mut txg = 1000;
        list.into_iter()
            .enumerate()
            .map(|(i, (prefix, txg_gap, clock, held))| {
                txg += txg_gap;
                creation = match clock {
                    Clock::Forward(per_mille) => creation + 2 * gap * per_mille / 1000,
                    Clock::Same => creation,
                    Clock::Back(secs) => creation.saturating_sub(secs),
                };
                SnapInfo {
                    name: format!("{}{i}", PREFIXES[prefix]),
                    guid: (txg << 20) ^ 0x5eed,
                    createtxg: txg,
                    creation,
                    held,
                }
            })
            .collect()
    })
}

// ---------------------------------------------------------------------------------------------------------
// Rules.

/// Bucket lengths as written in a spec, with their length in seconds.
const LENGTHS: [(&str, u64); 9] = [
    ("30s", 30),
    ("1m", MINUTE),
    ("10m", 10 * MINUTE),
    ("90m", 90 * MINUTE),
    ("1h", HOUR),
    ("6h", 6 * HOUR),
    ("1d", DAY),
    ("1w", 7 * DAY),
    ("30d", 30 * DAY),
];

#[derive(Debug, Clone)]
struct IntervalSpec {
    count: u32,
    length: usize,
    /// 0: keep=all; n: keep=n (1 is sometimes written out, sometimes left implicit).
    keep: u32,
    explicit_keep_1: bool,
}

fn interval() -> impl Strategy<Value = IntervalSpec> {
    (1u32..8, 0..LENGTHS.len(), 0u32..4, any::<bool>()).prop_map(|(count, length, keep, explicit_keep_1)| {
        IntervalSpec {
            count,
            length,
            keep,
            explicit_keep_1,
        }
    })
}

/// A valid grid spec: lengths made non-decreasing, except right after a run of keep=all intervals (which
/// the syntax allows to be followed by a shorter one).
fn grid_spec() -> impl Strategy<Value = String> {
    (prop::collection::vec(interval(), 1..5), any::<bool>()).prop_map(|(mut ivs, spaced)| {
        let mut prev: Option<usize> = None;
        let mut all_keep_all = true;
        for iv in &mut ivs {
            if let Some(p) = prev {
                if !all_keep_all && LENGTHS[iv.length].1 < LENGTHS[p].1 {
                    iv.length = p;
                }
            }
            prev = Some(iv.length);
            all_keep_all &= iv.keep == 0;
        }
        let parts: Vec<String> = ivs
            .iter()
            .map(|iv| {
                let keep = match (iv.keep, iv.explicit_keep_1) {
                    (0, _) => "(keep=all)".to_string(),
                    (1, false) => String::new(),
                    (n, _) => format!("(keep={n})"),
                };
                format!("{}x{}{keep}", iv.count, LENGTHS[iv.length].0)
            })
            .collect();
        parts.join(if spaced { " | " } else { "|" })
    })
}

fn regex() -> impl Strategy<Value = String> {
    prop::sample::select(REGEXES.to_vec()).prop_map(str::to_string)
}

fn rule_config() -> impl Strategy<Value = KeepRuleConfig> {
    prop_oneof![
        3 => (grid_spec(), regex()).prop_map(|(grid, regex)| KeepRuleConfig::Grid { grid, regex }),
        2 => (1usize..8, prop::option::of(prop_oneof![4 => regex(), 1 => Just(String::new())]))
            .prop_map(|(count, regex)| KeepRuleConfig::LastN { count, regex }),
        2 => (regex(), any::<bool>()).prop_map(|(regex, negate)| KeepRuleConfig::Regex { regex, negate }),
        1 => Just(KeepRuleConfig::NotReplicated {}),
    ]
}

fn compile(c: &KeepRuleConfig) -> KeepRule {
    KeepRule::from_config(c).unwrap_or_else(|e| panic!("{c:?}: {e}"))
}

// ---------------------------------------------------------------------------------------------------------
// A case.

#[derive(Debug, Clone)]
struct Case {
    configs: Vec<KeepRuleConfig>,
    snaps: Vec<SnapInfo>,
    ctx: PruneContext,
}

impl Case {
    fn rules(&self) -> Vec<KeepRule> {
        self.configs.iter().map(compile).collect()
    }
}

#[derive(Debug, Clone, Copy)]
enum Cursor {
    None,
    /// At a snapshot, which is then protected as the incremental base.
    AtSnapshot(Index),
    /// At a bookmark whose snapshot is gone: between two snapshots' createtxgs.
    BetweenSnapshots(Index),
}

fn case() -> impl Strategy<Value = Case> {
    let cursor = prop_oneof![
        1 => Just(Cursor::None),
        3 => any::<Index>().prop_map(Cursor::AtSnapshot),
        1 => any::<Index>().prop_map(Cursor::BetweenSnapshots),
    ];
    (
        prop::collection::vec(rule_config(), 0..4),
        snaps(),
        prop::bool::weighted(0.8),
        0u64..30 * DAY,
        cursor,
        prop::bool::weighted(0.7),
        prop::option::weighted(0.1, any::<Index>()),
    )
        .prop_map(|(configs, snaps, now_after, offset, cursor, sender_side, extra)| {
            let newest = snaps.iter().map(|s| s.creation).max().unwrap_or(T0);
            // usually after the newest snapshot, sometimes before it (clock skew)
            let now = if now_after {
                newest + offset
            } else {
                newest.saturating_sub(offset / 6)
            };
            let mut protected = BTreeSet::new();
            let cursor_createtxg = match cursor {
                _ if snaps.is_empty() || !sender_side => None,
                Cursor::None => None,
                Cursor::AtSnapshot(i) => {
                    let s = &snaps[i.index(snaps.len())];
                    protected.insert(s.name.clone());
                    Some(s.createtxg)
                }
                Cursor::BetweenSnapshots(i) => Some(snaps[i.index(snaps.len())].createtxg - 1),
            };
            // On the receiver the protected snapshot is the last received one (zreplrs passes its base).
            if let Some(i) = extra.filter(|_| !snaps.is_empty()) {
                protected.insert(snaps[i.index(snaps.len())].name.clone());
            }
            Case {
                configs,
                snaps,
                ctx: PruneContext {
                    now,
                    cursor_createtxg,
                    sender_side,
                    protected,
                },
            }
        })
}

fn action_of<'a>(d: &'a [Decision], name: &str) -> &'a Decision {
    d.iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("no decision for {name}"))
}

fn kept_alone(rule: &KeepRule, snaps: &[SnapInfo], ctx: &PruneContext) -> BTreeSet<String> {
    let alone = PruneContext {
        protected: BTreeSet::new(),
        ..ctx.clone()
    };
    evaluate(std::slice::from_ref(rule), snaps, &alone)
        .into_iter()
        .filter(|d| d.action == Action::Keep)
        .map(|d| d.name)
        .collect()
}

// ---------------------------------------------------------------------------------------------------------
// The properties.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// The combination is the union of the rules: what any rule keeps on its own is kept (never
    /// destroyed), and nothing else is kept except protected snapshots.
    #[test]
    fn rules_form_a_union(c in case()) {
        let rules = c.rules();
        let combined = evaluate(&rules, &c.snaps, &c.ctx);
        let mut union = BTreeSet::new();
        for rule in &rules {
            for name in kept_alone(rule, &c.snaps, &c.ctx) {
                let d = action_of(&combined, &name);
                prop_assert_eq!(d.action, Action::Keep, "{} is kept by {} alone: {:?}", name, rule.describe(), d);
                prop_assert!(d.reason.starts_with("kept by "), "{:?}", d);
                union.insert(name);
            }
        }
        for d in &combined {
            if d.action == Action::Keep {
                prop_assert!(union.contains(&d.name) || c.ctx.protected.contains(&d.name), "{:?}", d);
            }
        }
    }

    /// Protected snapshots (the cursor's incremental base) and held snapshots are never destroyed; only
    /// held snapshots come out as Held.
    #[test]
    fn protected_and_held_are_never_destroyed(c in case()) {
        let decisions = evaluate(&c.rules(), &c.snaps, &c.ctx);
        prop_assert_eq!(decisions.len(), c.snaps.len());
        for s in &c.snaps {
            let d = action_of(&decisions, &s.name);
            if c.ctx.protected.contains(&s.name) {
                prop_assert_eq!(d.action, Action::Keep, "protected {:?}", d);
            }
            if s.held {
                prop_assert!(matches!(d.action, Action::Held | Action::Keep), "held {:?}", d);
            } else {
                prop_assert_ne!(d.action, Action::Held, "not held {:?}", d);
            }
        }
    }

    /// Pruning the survivors again (same `now`) destroys nothing more and decides the same.
    #[test]
    fn pruning_is_idempotent(c in case()) {
        let rules = c.rules();
        let first = evaluate(&rules, &c.snaps, &c.ctx);
        let survivors: Vec<SnapInfo> = c
            .snaps
            .iter()
            .filter(|s| action_of(&first, &s.name).action != Action::Destroy)
            .cloned()
            .collect();
        let second = evaluate(&rules, &survivors, &c.ctx);
        let destroyed: Vec<&str> =
            second.iter().filter(|d| d.action == Action::Destroy).map(|d| d.name.as_str()).collect();
        prop_assert!(destroyed.is_empty(), "the second run destroys {:?}", destroyed);
        let expected: Vec<Decision> = first.into_iter().filter(|d| d.action != Action::Destroy).collect();
        prop_assert_eq!(second, expected);
    }

    /// Same input, same decisions, whatever the order of the snapshots; output sorted by createtxg.
    #[test]
    fn evaluation_is_deterministic(c in case(), seed in any::<u64>()) {
        let rules = c.rules();
        let first = evaluate(&rules, &c.snaps, &c.ctx);
        prop_assert_eq!(&evaluate(&rules, &c.snaps, &c.ctx), &first);
        let mut reversed = c.snaps.clone();
        reversed.reverse();
        prop_assert_eq!(&evaluate(&rules, &reversed, &c.ctx), &first);
        let mut shuffled = c.snaps.clone();
        let mut x = seed | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        prop_assert_eq!(&evaluate(&rules, &shuffled, &c.ctx), &first);
        let txgs: Vec<u64> = first
            .iter()
            .map(|d| c.snaps.iter().find(|s| s.name == d.name).unwrap().createtxg)
            .collect();
        prop_assert!(txgs.windows(2).all(|w| w[0] <= w[1]), "not sorted by createtxg: {:?}", txgs);
    }

    /// Each rule on its own keeps what its documentation says.
    #[test]
    fn each_rule_keeps_what_it_documents(c in case()) {
        for (config, rule) in c.configs.iter().zip(c.rules()) {
            let kept = kept_alone(&rule, &c.snaps, &c.ctx);
            let matching = |r: &str| -> Vec<&SnapInfo> {
                let re = regex::Regex::new(r).unwrap();
                c.snaps.iter().filter(|s| re.is_match(&s.name)).collect()
            };
            let names = |v: Vec<&SnapInfo>| -> BTreeSet<String> { v.into_iter().map(|s| s.name.clone()).collect() };
            match config {
                KeepRuleConfig::Regex { regex, negate } => {
                    let m = names(matching(regex));
                    let all = names(c.snaps.iter().collect());
                    let want: BTreeSet<String> =
                        if *negate { all.difference(&m).cloned().collect() } else { m };
                    prop_assert_eq!(kept, want);
                }
                KeepRuleConfig::LastN { count, regex } => {
                    let mut m = match regex.as_deref() {
                        None | Some("") => c.snaps.iter().collect(),
                        Some(r) => matching(r),
                    };
                    m.sort_by_key(|s| std::cmp::Reverse(s.createtxg));
                    m.truncate(*count);
                    prop_assert_eq!(kept, names(m));
                }
                KeepRuleConfig::NotReplicated {} => {
                    let want: BTreeSet<String> = match (c.ctx.sender_side, c.ctx.cursor_createtxg) {
                        (false, _) => BTreeSet::new(),
                        (true, None) => names(c.snaps.iter().collect()),
                        (true, Some(cursor)) => names(c.snaps.iter().filter(|s| s.createtxg > cursor).collect()),
                    };
                    prop_assert_eq!(kept, want);
                }
                KeepRuleConfig::Grid { regex, .. } => {
                    let m = matching(regex);
                    let all_matching = names(m.clone());
                    prop_assert!(kept.is_subset(&all_matching), "grid keeps non-matching {:?}", kept);
                    // The anchor (youngest matching snapshot not after now) is kept, and so is everything
                    // created after now (clock skew).
                    let youngest = m.iter().max_by_key(|s| (s.creation, s.createtxg, s.name.clone()));
                    if let Some(y) = youngest.filter(|y| y.creation <= c.ctx.now) {
                        prop_assert!(kept.contains(&y.name), "grid anchor {} not kept", y.name);
                    }
                    for s in m.iter().filter(|s| s.creation > c.ctx.now) {
                        prop_assert!(kept.contains(&s.name), "future snapshot {} not kept", s.name);
                    }
                }
            }
        }
    }

    /// Generated grid specs parse, and their normalized form parses back to the same grid.
    #[test]
    fn grid_specs_round_trip(spec in grid_spec()) {
        let g: Grid = spec.parse().map_err(|e| TestCaseError::fail(format!("{spec:?}: {e}")))?;
        let normal = g.to_string();
        let back: Grid = normal.parse().map_err(|e| TestCaseError::fail(format!("{normal:?}: {e}")))?;
        prop_assert_eq!(&back, &g);
        prop_assert_eq!(back.to_string(), normal);
    }
}

/// The generated cases destroy, keep, protect and hold snapshots, so the properties are not vacuous.
#[test]
fn generator_is_not_vacuous() {
    let mut runner = TestRunner::deterministic();
    let strategy = case();
    let (mut destroyed, mut kept, mut held, mut protected, mut second_run_nonempty) = (0, 0, 0, 0, 0);
    for _ in 0..300 {
        let c = strategy.new_tree(&mut runner).unwrap().current();
        let d = evaluate(&c.rules(), &c.snaps, &c.ctx);
        destroyed += d.iter().filter(|d| d.action == Action::Destroy).count();
        kept += d.iter().filter(|d| d.action == Action::Keep).count();
        held += d.iter().filter(|d| d.action == Action::Held).count();
        protected += d.iter().filter(|d| d.reason == "protected: incremental base").count();
        if d.iter().any(|d| d.action == Action::Destroy) && d.iter().any(|d| d.action != Action::Destroy) {
            second_run_nonempty += 1;
        }
    }
    assert!(destroyed > 1000 && kept > 1000, "destroyed {destroyed}, kept {kept}");
    assert!(held > 50 && protected > 20, "held {held}, protected {protected}");
    assert!(second_run_nonempty > 50, "{second_run_nonempty}");
}
