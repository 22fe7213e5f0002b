//! Keep rules: the input parsed as a grid spec (`str::parse::<Grid>`), and as TOML holding keep rule tables
//! (`[[keep]]` arrays or a single table) that go through `KeepRule::from_config` and `evaluate`.
#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use zreplrs::prune::grid::{grid_keep, Grid};
use zreplrs::prune::rules::{evaluate, validate_side, Action, KeepRule, KeepRuleConfig, PruneContext, SnapInfo};

const T: u64 = 1_700_000_000;

fn snaps() -> Vec<SnapInfo> {
    (0..12u64)
        .map(|i| SnapInfo {
            name: format!("{}{i}", ["zrepl_", "manual_", "other_"][(i % 3) as usize]),
            guid: i,
            createtxg: 100 + i,
            // spread over weeks, one in the future
            creation: T - 40 * 86_400 + i * i * 20_000,
            held: i % 5 == 0,
        })
        .collect()
}

fn check_rules(configs: &[KeepRuleConfig]) {
    let _ = (validate_side(configs, true), validate_side(configs, false));
    let rules: Vec<KeepRule> = configs.iter().filter_map(|c| KeepRule::from_config(c).ok()).collect();
    let snaps = snaps();
    for (sender_side, cursor) in [(true, Some(105)), (false, None)] {
        let ctx = PruneContext {
            now: T,
            cursor_createtxg: cursor,
            sender_side,
            protected: BTreeSet::from(["zrepl_3".to_string()]),
        };
        let d = evaluate(&rules, &snaps, &ctx);
        assert_eq!(d.len(), snaps.len());
        for (d, s) in d.iter().zip(snaps.iter()) {
            if d.action == Action::Destroy {
                assert!(!s.held && d.name != "zrepl_3");
            }
        }
    }
    for r in &rules {
        let _ = r.describe();
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(grid) = text.parse::<Grid>() {
        // The normalized form parses back to the same grid.
        let normal = grid.to_string();
        assert_eq!(normal.parse::<Grid>().as_ref(), Ok(&grid), "{normal:?}");
        let _ = grid.span_secs();
        let list: Vec<(String, u64, u64)> = snaps().into_iter().map(|s| (s.name, s.creation, s.createtxg)).collect();
        for now in [0, T, u64::MAX] {
            let kept = grid_keep(&grid, now, &list);
            assert!(kept.iter().all(|k| list.iter().any(|s| &s.0 == k)));
        }
    }
    if let Ok(table) = toml::from_str::<toml::Table>(text) {
        if let Some(toml::Value::Array(keep)) = table.get("keep") {
            let configs: Vec<KeepRuleConfig> = keep.iter().filter_map(|v| v.clone().try_into().ok()).collect();
            check_rules(&configs);
        }
        if let Ok(one) = toml::Value::Table(table).try_into::<KeepRuleConfig>() {
            check_rules(&[one]);
        }
    }
});
