//! Keep rule tests: parsing, validation and evaluation per rule type.

use super::*;

const T: u64 = 1_700_000_000;
const H: u64 = 3600;

fn snap(name: &str, createtxg: u64, creation: u64) -> SnapInfo {
    SnapInfo {
        name: name.to_string(),
        guid: createtxg.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        createtxg,
        creation,
        held: false,
    }
}

fn rule(toml_table: &str) -> KeepRule {
    let c: KeepRuleConfig = toml::from_str(toml_table).unwrap();
    KeepRule::from_config(&c).unwrap()
}

fn ctx() -> PruneContext {
    PruneContext {
        now: T,
        cursor_createtxg: None,
        sender_side: true,
        protected: BTreeSet::new(),
    }
}

fn with(names: &[&str], action: Action, decisions: &[Decision]) -> bool {
    names
        .iter()
        .all(|n| decisions.iter().any(|d| d.name == *n && d.action == action))
}

fn destroyed(decisions: &[Decision]) -> Vec<&str> {
    decisions
        .iter()
        .filter(|d| d.action == Action::Destroy)
        .map(|d| d.name.as_str())
        .collect()
}

#[test]
fn config_tables_deserialize() {
    #[derive(Deserialize)]
    struct File {
        keep: Vec<KeepRuleConfig>,
    }
    let f: File = toml::from_str(
        r#"
        [[keep]]
        type = "grid"
        grid = "1x1h(keep=all) | 24x1h"
        regex = "^zrepl_"
        [[keep]]
        type = "last_n"
        count = 10
        [[keep]]
        type = "last_n"
        count = 3
        regex = "^manual_"
        [[keep]]
        type = "regex"
        regex = "^zrepl_"
        negate = true
        [[keep]]
        type = "not_replicated"
        "#,
    )
    .unwrap();
    assert_eq!(
        f.keep,
        vec![
            KeepRuleConfig::Grid {
                grid: "1x1h(keep=all) | 24x1h".into(),
                regex: "^zrepl_".into()
            },
            KeepRuleConfig::LastN { count: 10, regex: None },
            KeepRuleConfig::LastN {
                count: 3,
                regex: Some("^manual_".into())
            },
            KeepRuleConfig::Regex {
                regex: "^zrepl_".into(),
                negate: true
            },
            KeepRuleConfig::NotReplicated {},
        ]
    );
}

#[test]
fn config_rejects_unknown_types_and_fields() {
    for bad in [
        r#"type = "keep_all""#,
        r#"type = "grid"
           grid = "1x1h"
           regex = "."
           prefix = "x""#,
        r#"type = "not_replicated"
           keep_snapshot_at_cursor = false"#,
        r#"type = "last_n""#,
        r#"type = "regex"
           regex = "."
           negate = "yes""#,
        r#"grid = "1x1h""#,
    ] {
        assert!(toml::from_str::<KeepRuleConfig>(bad).is_err(), "{bad}");
    }
}

#[test]
fn from_config_validates() {
    for (c, needle) in [
        (
            KeepRuleConfig::Grid {
                grid: "24y1h".into(),
                regex: "^z".into(),
            },
            "grid rule: grid interval \"24y1h\": expected <count>x<duration>",
        ),
        (
            KeepRuleConfig::Grid {
                grid: "1x1h".into(),
                regex: "".into(),
            },
            "grid rule: regex must not be empty",
        ),
        (
            KeepRuleConfig::Grid {
                grid: "1x1h".into(),
                regex: "(".into(),
            },
            "grid rule: invalid regex \"(\"",
        ),
        (
            KeepRuleConfig::LastN { count: 0, regex: None },
            "last_n rule: count must be at least 1",
        ),
        (
            KeepRuleConfig::LastN {
                count: 1,
                regex: Some("[".into()),
            },
            "last_n rule: invalid regex",
        ),
        (
            KeepRuleConfig::Regex {
                regex: "".into(),
                negate: false,
            },
            "regex rule: regex must not be empty",
        ),
    ] {
        let err = KeepRule::from_config(&c).unwrap_err();
        assert!(err.contains(needle), "{err:?} lacks {needle:?}");
    }
    // an empty last_n regex means "all snapshots", as in zrepl
    let r = KeepRule::from_config(&KeepRuleConfig::LastN {
        count: 2,
        regex: Some(String::new()),
    })
    .unwrap();
    assert_eq!(r.describe(), "last_n 2");
}

#[test]
fn describe() {
    for (table, expected) in [
        (
            "type = \"grid\"\ngrid = \"1x1h(keep=all)|24x1h\"\nregex = \"^zrepl_\"",
            "grid 1x1h(keep=all) | 24x1h matching ^zrepl_",
        ),
        (
            "type = \"last_n\"\ncount = 10\nregex = \"^zrepl_\"",
            "last_n 10 matching ^zrepl_",
        ),
        ("type = \"last_n\"\ncount = 10", "last_n 10"),
        ("type = \"regex\"\nregex = \"^manual_\"", "regex ^manual_"),
        (
            "type = \"regex\"\nregex = \"^zrepl_\"\nnegate = true",
            "regex not matching ^zrepl_",
        ),
        ("type = \"not_replicated\"", "not_replicated"),
    ] {
        assert_eq!(rule(table).describe(), expected);
    }
}

#[test]
fn validate_side_rejects_not_replicated_on_the_receiver() {
    let rules = vec![
        KeepRuleConfig::LastN { count: 1, regex: None },
        KeepRuleConfig::NotReplicated {},
    ];
    assert!(validate_side(&rules, true).is_ok());
    let err = validate_side(&rules, false).unwrap_err();
    assert!(err.contains("keep_sender"), "{err}");
    assert!(validate_side(&rules[..1], false).is_ok());
}

#[test]
fn union_of_rules_and_reasons() {
    let rules = vec![
        rule("type = \"regex\"\nregex = \"^manual_\""),
        rule("type = \"last_n\"\ncount = 1\nregex = \"^zrepl_\""),
    ];
    let snaps = vec![
        snap("zrepl_1", 10, T - 3 * H),
        snap("manual_1", 11, T - 2 * H),
        snap("zrepl_2", 12, T - H),
        snap("other", 13, T),
    ];
    let d = evaluate(&rules, &snaps, &ctx());
    assert_eq!(
        d,
        vec![
            Decision {
                name: "zrepl_1".into(),
                action: Action::Destroy,
                reason: "no rule keeps it".into()
            },
            Decision {
                name: "manual_1".into(),
                action: Action::Keep,
                reason: "kept by regex ^manual_".into()
            },
            Decision {
                name: "zrepl_2".into(),
                action: Action::Keep,
                reason: "kept by last_n 1 matching ^zrepl_".into()
            },
            Decision {
                name: "other".into(),
                action: Action::Destroy,
                reason: "no rule keeps it".into()
            },
        ]
    );
    // the first rule that keeps a snapshot is the reason
    let rules2 = vec![
        rule("type = \"regex\"\nregex = \"_2$\""),
        rule("type = \"last_n\"\ncount = 1\nregex = \"^zrepl_\""),
    ];
    let d2 = evaluate(&rules2, &snaps, &ctx());
    assert_eq!(d2[2].reason, "kept by regex _2$");
}

#[test]
fn not_replicated_with_and_without_cursor() {
    let rules = vec![rule("type = \"not_replicated\"")];
    let snaps = vec![snap("a", 10, T - 3 * H), snap("b", 20, T - 2 * H), snap("c", 30, T - H)];
    // nothing replicated yet: everything is kept
    let d = evaluate(&rules, &snaps, &ctx());
    assert!(with(&["a", "b", "c"], Action::Keep, &d));
    assert!(d.iter().all(|d| d.reason == "kept by not_replicated"));
    // cursor at b: only what is newer than the cursor is kept by the rule
    let mut c = ctx();
    c.cursor_createtxg = Some(20);
    let d = evaluate(&rules, &snaps, &c);
    assert_eq!(destroyed(&d), vec!["a", "b"]);
    assert!(with(&["c"], Action::Keep, &d));
    // cursor from a bookmark whose snapshot is gone (createtxg between snapshots)
    c.cursor_createtxg = Some(25);
    assert_eq!(destroyed(&evaluate(&rules, &snaps, &c)), vec!["a", "b"]);
    // receiver side: the rule keeps nothing
    let mut r = ctx();
    r.sender_side = false;
    assert_eq!(destroyed(&evaluate(&rules, &snaps, &r)), vec!["a", "b", "c"]);
}

#[test]
fn protected_is_never_destroyed() {
    let snaps = vec![snap("base", 10, T - 100 * 24 * H), snap("x", 11, T)];
    let mut c = ctx();
    c.protected.insert("base".into());
    for rules in [
        vec![],
        vec![rule("type = \"regex\"\nregex = \"^nothing$\"")],
        vec![rule("type = \"grid\"\ngrid = \"1x1h\"\nregex = \".*\"")],
    ] {
        let d = evaluate(&rules, &snaps, &c);
        assert_eq!(
            d[0],
            Decision {
                name: "base".into(),
                action: Action::Keep,
                reason: "protected: incremental base".into()
            }
        );
    }
    // a protected snapshot that a rule keeps names the rule
    let d = evaluate(&[rule("type = \"regex\"\nregex = \"base\"")], &snaps, &c);
    assert_eq!(d[0].reason, "kept by regex base");
}

#[test]
fn held_snapshots_are_reported_not_destroyed() {
    let mut held = snap("held", 10, T - H);
    held.held = true;
    let mut held_kept = snap("held_kept", 11, T - H);
    held_kept.held = true;
    let snaps = vec![held, held_kept, snap("free", 12, T)];
    let rules = vec![rule("type = \"regex\"\nregex = \"_kept$\"")];
    let d = evaluate(&rules, &snaps, &ctx());
    assert_eq!(d[0].action, Action::Held);
    assert_eq!(d[0].reason, "held");
    assert_eq!(d[1].action, Action::Keep);
    assert_eq!(d[2].action, Action::Destroy);
}

#[test]
fn last_n_with_regex() {
    let snaps = vec![
        snap("zrepl_1", 1, T - 6 * H),
        snap("manual_1", 2, T - 5 * H),
        snap("zrepl_2", 3, T - 4 * H),
        snap("zrepl_3", 4, T - 3 * H),
        snap("manual_2", 5, T - 2 * H),
        // created "earlier" by a skewed clock but the newest by createtxg
        snap("zrepl_4", 6, T - 7 * H),
    ];
    let d = evaluate(
        &[rule("type = \"last_n\"\ncount = 2\nregex = \"^zrepl_\"")],
        &snaps,
        &ctx(),
    );
    assert_eq!(destroyed(&d), vec!["zrepl_1", "manual_1", "zrepl_2", "manual_2"]);
    // more than matching: all matching kept, non-matching still not kept (unlike zrepl's quirk of
    // keeping everything when count exceeds the number of snapshots)
    let d = evaluate(
        &[rule("type = \"last_n\"\ncount = 100\nregex = \"^manual_\"")],
        &snaps,
        &ctx(),
    );
    assert_eq!(destroyed(&d), vec!["zrepl_1", "zrepl_2", "zrepl_3", "zrepl_4"]);
    // without regex: the newest of all
    let d = evaluate(&[rule("type = \"last_n\"\ncount = 3")], &snaps, &ctx());
    assert_eq!(destroyed(&d), vec!["zrepl_1", "manual_1", "zrepl_2"]);
    // unanchored like zrepl: "repl" matches "zrepl_…"
    let d = evaluate(
        &[rule("type = \"last_n\"\ncount = 1\nregex = \"repl\"")],
        &snaps,
        &ctx(),
    );
    assert!(with(&["zrepl_4"], Action::Keep, &d));
}

#[test]
fn regex_and_negate() {
    let snaps = vec![
        snap("zrepl_1", 1, T - 2 * H),
        snap("manual", 2, T - H),
        snap("zrepl_2", 3, T),
    ];
    let d = evaluate(
        &[rule("type = \"regex\"\nregex = \"^zrepl_\"\nnegate = true")],
        &snaps,
        &ctx(),
    );
    assert_eq!(destroyed(&d), vec!["zrepl_1", "zrepl_2"]);
    assert_eq!(d[1].reason, "kept by regex not matching ^zrepl_");
    let d = evaluate(&[rule("type = \"regex\"\nregex = \"_\"")], &snaps, &ctx());
    assert_eq!(destroyed(&d), vec!["manual"]);
}

#[test]
fn grid_rule_only_considers_matching_snapshots() {
    let rules = vec![rule(
        "type = \"grid\"\ngrid = \"1x1h(keep=all) | 2x1h\"\nregex = \"^zrepl_\"",
    )];
    let snaps = vec![
        snap("zrepl_old", 1, T - 10 * H),
        snap("zrepl_a", 2, T - 2 * H - 600),
        snap("zrepl_b", 3, T - 2 * H - 60),
        snap("zrepl_c", 4, T - H),
        // a newer non-matching snapshot does not anchor the grid, nor is it kept by it
        snap("manual", 5, T),
    ];
    let d = evaluate(&rules, &snaps, &ctx());
    // anchor zrepl_c at T-1h: bucket [1h,2h) holds zrepl_b and zrepl_a → the older (a) stays
    assert_eq!(destroyed(&d), vec!["zrepl_old", "zrepl_b", "manual"]);
}

#[test]
fn output_is_sorted_and_deterministic() {
    let rules = vec![
        rule("type = \"grid\"\ngrid = \"1x1h(keep=2) | 4x1h\"\nregex = \".\""),
        rule("type = \"last_n\"\ncount = 2\nregex = \"^b\""),
    ];
    let mut snaps: Vec<SnapInfo> = (0..20u64)
        .map(|i| snap(&format!("{}{i}", ["a", "b"][(i % 2) as usize]), 100 - i, T - i * 1000))
        .collect();
    let first = evaluate(&rules, &snaps, &ctx());
    assert!(first.windows(2).all(|w| {
        let txg = |n: &str| snaps.iter().find(|s| s.name == n).map(|s| s.createtxg);
        txg(&w[0].name) < txg(&w[1].name)
    }));
    snaps.reverse();
    assert_eq!(evaluate(&rules, &snaps, &ctx()), first);
    snaps.swap(3, 11);
    snaps.swap(0, 19);
    assert_eq!(evaluate(&rules, &snaps, &ctx()), first);
}

#[test]
fn no_rules_destroys_everything_unprotected_and_unheld() {
    let mut h = snap("h", 2, T);
    h.held = true;
    let d = evaluate(&[], &[snap("a", 1, T), h], &ctx());
    assert_eq!(destroyed(&d), vec!["a"]);
    assert_eq!(d[1].action, Action::Held);
}

/// xorshift64: a tiny deterministic generator for the property test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn random_grid(rng: &mut Rng) -> String {
    let lengths = ["1m", "10m", "1h", "6h", "1d", "1w"];
    let mut at = rng.below(3) as usize;
    let mut parts = Vec::new();
    for _ in 0..=rng.below(4) {
        at = (at + rng.below(2) as usize).min(lengths.len() - 1);
        let keep = match rng.below(4) {
            0 => "(keep=all)".to_string(),
            1 => String::new(),
            n => format!("(keep={n})"),
        };
        parts.push(format!("{}x{}{keep}", 1 + rng.below(6), lengths[at]));
    }
    parts.join(" | ")
}

fn random_rules(rng: &mut Rng) -> Vec<KeepRule> {
    let regexes = ["^zrepl_", "^manual_", "_1", "."];
    let mut rules = Vec::new();
    for _ in 0..rng.below(4) {
        let c = match rng.below(5) {
            0 | 1 => KeepRuleConfig::Grid {
                grid: random_grid(rng),
                regex: regexes[rng.below(4) as usize].to_string(),
            },
            2 => KeepRuleConfig::LastN {
                count: 1 + rng.below(5) as usize,
                regex: rng.chance(70).then(|| regexes[rng.below(4) as usize].to_string()),
            },
            3 => KeepRuleConfig::Regex {
                regex: regexes[rng.below(4) as usize].to_string(),
                negate: rng.chance(50),
            },
            _ => KeepRuleConfig::NotReplicated {},
        };
        rules.push(KeepRule::from_config(&c).unwrap());
    }
    rules
}

fn random_snaps(rng: &mut Rng) -> Vec<SnapInfo> {
    let prefixes = ["zrepl_", "zrepl_", "zrepl_", "manual_", "other_"];
    let mut creation = T - 40 * 24 * H;
    let mut txg = 1000;
    // a typical gap between snapshots for this case: from minutes to a day
    let gap = [5 * 60, 15 * 60, H, 6 * H, 24 * H][rng.below(5) as usize];
    (0..rng.below(60))
        .map(|i| {
            txg += 1 + rng.below(50);
            // mostly forward in time, sometimes in the same second, now and then a clock jump
            creation = match rng.below(20) {
                0 => creation.saturating_sub(rng.below(3 * H)),
                1 => creation,
                _ => creation + rng.below(2 * gap),
            };
            let prefix = prefixes[rng.below(prefixes.len() as u64) as usize];
            let mut s = snap(&format!("{prefix}{i}"), txg, creation);
            s.held = rng.chance(10);
            s
        })
        .collect()
}

#[test]
fn pruning_is_idempotent_property() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut destroyed_total = 0;
    for case in 0..300 {
        let rules = random_rules(&mut rng);
        let mut snaps = random_snaps(&mut rng);
        let newest = snaps.iter().map(|s| s.creation).max().unwrap_or(T);
        let ctx = PruneContext {
            // usually after the newest snapshot, sometimes before it (clock skew)
            now: if rng.chance(80) {
                newest + rng.below(30 * 24 * H)
            } else {
                newest.saturating_sub(rng.below(5 * 24 * H))
            },
            cursor_createtxg: (!snaps.is_empty() && rng.chance(70))
                .then(|| snaps[rng.below(snaps.len() as u64) as usize].createtxg),
            sender_side: rng.chance(60),
            protected: snaps.iter().filter(|_| rng.chance(5)).map(|s| s.name.clone()).collect(),
        };
        let desc: Vec<String> = rules.iter().map(KeepRule::describe).collect();

        let first = evaluate(&rules, &snaps, &ctx);
        assert_eq!(first.len(), snaps.len());
        destroyed_total += destroyed(&first).len();
        for d in &first {
            let s = snaps.iter().find(|s| s.name == d.name).unwrap();
            if d.action == Action::Destroy {
                assert!(!s.held && !ctx.protected.contains(&s.name), "case {case}");
            }
            if s.held {
                assert_ne!(d.action, Action::Destroy, "case {case}");
            }
        }

        // determinism under reordering
        let mut shuffled = snaps.clone();
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, rng.below(i as u64 + 1) as usize);
        }
        assert_eq!(evaluate(&rules, &shuffled, &ctx), first, "case {case}");

        // apply the destroys and evaluate again: nothing more goes, and every decision is the same
        snaps.retain(|s| first.iter().any(|d| d.name == s.name && d.action != Action::Destroy));
        let second = evaluate(&rules, &snaps, &ctx);
        let expected: Vec<Decision> = first.iter().filter(|d| d.action != Action::Destroy).cloned().collect();
        assert_eq!(second, expected, "case {case}: rules {desc:?}");
    }
    // the generated cases do destroy snapshots, so the property is not vacuous
    assert!(destroyed_total > 1000, "{destroyed_total}");
}
