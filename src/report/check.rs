//! `zreplrs check` results in the monitoring-plugin conventions that Nagios, Icinga and Checkmk share: one
//! status line `ZREPLRS <STATE> - <summary>`, performance data after `|`, and the exit code 0 OK, 1 WARNING,
//! 2 CRITICAL, 3 UNKNOWN. Pure: the command gathers the facts, this judges them against the thresholds.

use std::time::Duration;

use super::commands::{FsState, FsStatus, HoldState, ReceivedFs};

/// A monitoring-plugin state; its number is the exit code. A check that cannot decide is UNKNOWN, never OK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

impl State {
    /// How bad it is: a CRITICAL finding outweighs one that could not be decided.
    fn severity(self) -> u8 {
        match self {
            State::Ok => 0,
            State::Warning => 1,
            State::Unknown => 2,
            State::Critical => 3,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            State::Ok => "OK",
            State::Warning => "WARNING",
            State::Critical => "CRITICAL",
            State::Unknown => "UNKNOWN",
        }
    }
}

/// When an age is a warning and when it is critical.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub warning: Duration,
    pub critical: Duration,
}

impl Thresholds {
    fn judge(&self, age: u64) -> State {
        if age >= self.critical.as_secs() {
            State::Critical
        } else if age >= self.warning.as_secs() {
            State::Warning
        } else {
            State::Ok
        }
    }
}

/// One finding: its state and what to say about it (findings that are OK are only counted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub state: State,
    pub text: String,
}

/// One performance-data value in seconds, with its thresholds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Perf {
    pub label: String,
    pub seconds: u64,
    pub thresholds: Thresholds,
}

/// A whole check: what was checked (`items`, e.g. "5 filesystems"), its findings and performance data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Check {
    pub items: String,
    pub findings: Vec<Finding>,
    pub perf: Vec<Perf>,
}

impl Check {
    /// The worst state of its findings (OK when there are none).
    pub fn state(&self) -> State {
        self.findings
            .iter()
            .map(|f| f.state)
            .max_by_key(|s| s.severity())
            .unwrap_or(State::Ok)
    }

    /// The exit code.
    pub fn exit_code(&self) -> u8 {
        self.state() as u8
    }

    fn finding(&mut self, state: State, text: String) {
        self.findings.push(Finding { state, text });
    }

    /// The plugin's output line: the worst findings first, then the performance data.
    pub fn line(&self) -> String {
        let state = self.state();
        let mut bad: Vec<&Finding> = self.findings.iter().filter(|f| f.state != State::Ok).collect();
        bad.sort_by_key(|f| std::cmp::Reverse(f.state.severity()));
        let summary = if bad.is_empty() {
            format!("{} fine", self.items)
        } else {
            let texts: Vec<&str> = bad.iter().map(|f| f.text.as_str()).collect();
            format!("{}: {}", self.items, texts.join("; "))
        };
        let perf: Vec<String> = self
            .perf
            .iter()
            .map(|p| {
                format!(
                    "'{}'={}s;{};{};0;",
                    p.label.replace('\'', "\""),
                    p.seconds,
                    p.thresholds.warning.as_secs(),
                    p.thresholds.critical.as_secs()
                )
            })
            .collect();
        let mut line = format!("ZREPLRS {} - {summary}", state.name());
        if !perf.is_empty() {
            line.push_str(" | ");
            line.push_str(&perf.join(" "));
        }
        line
    }
}

fn ago(secs: u64) -> String {
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}

/// The backup host's check: each received copy's newest snapshot age against `age`, its last-received hold,
/// and resumable state older than `resumable`. Nothing received at all is a warning.
pub fn received(filesystems: &[ReceivedFs], age: Thresholds, resumable: Thresholds) -> Check {
    let copies: Vec<&ReceivedFs> = filesystems.iter().filter(|f| !f.placeholder).collect();
    let mut c = Check {
        items: format!("{} received filesystems", copies.len()),
        ..Check::default()
    };
    if copies.is_empty() {
        c.finding(State::Warning, "nothing received below the root".into());
    }
    for f in copies {
        match f.age_seconds {
            Some(a) => {
                let s = age.judge(a);
                c.finding(s, format!("{} newest snapshot {} old", f.path, ago(a)));
                c.perf.push(Perf {
                    label: format!("{} age", f.path),
                    seconds: a,
                    thresholds: age,
                });
            }
            None => c.finding(State::Warning, format!("{} has no snapshot received yet", f.path)),
        }
        match f.last_received_hold {
            HoldState::Missing => c.finding(State::Warning, format!("{} has no last-received hold", f.path)),
            HoldState::OnOlder => c.finding(
                State::Warning,
                format!("{} last-received hold is not on the newest snapshot", f.path),
            ),
            HoldState::OnNewest | HoldState::NotApplicable => {}
        }
        if let Some(a) = f.resumable_age_seconds {
            let s = resumable.judge(a);
            c.finding(s, format!("{} resumable receive pending for {}", f.path, ago(a)));
        } else if f.resumable {
            c.finding(State::Warning, format!("{} has resumable state of unknown age", f.path));
        }
    }
    c
}

/// A job's check on the sender: each filesystem's replication lag against `lag` (nothing replicated yet is
/// a warning, a conflict critical), and `step_holds_aged` step holds older than the job allows.
pub fn job(filesystems: &[FsStatus], lag: Thresholds, step_holds_aged: usize) -> Check {
    let mut c = Check {
        items: format!("{} filesystems", filesystems.len()),
        ..Check::default()
    };
    for f in filesystems {
        if let Some(conflict) = &f.conflict {
            c.finding(State::Critical, format!("{} in conflict: {}", f.name, conflict.kind));
            continue;
        }
        match f.lag_seconds {
            Some(l) => {
                c.finding(lag.judge(l), format!("{} replicated copy {} behind", f.name, ago(l)));
                c.perf.push(Perf {
                    label: format!("{} lag", f.name),
                    seconds: l,
                    thresholds: lag,
                });
            }
            None if f.state == FsState::UpToDate => {}
            None => c.finding(State::Warning, format!("{} has nothing replicated yet", f.name)),
        }
    }
    if step_holds_aged > 0 {
        c.finding(
            State::Warning,
            format!("{step_holds_aged} step holds older than max_step_hold_age (zreplrs holds release-stale)"),
        );
    }
    c
}

/// The last run's result as its textfile tells it: failed is critical, and a last run older than
/// `stale` (the timer stopped) is too.
pub fn last_run(c: &mut Check, success: Option<bool>, finished: Option<u64>, now: u64, stale: Duration) {
    match (success, finished) {
        (Some(false), _) => c.finding(State::Critical, "the last replicate run failed".into()),
        (None, _) | (_, None) => c.finding(State::Unknown, "no result of a replicate run found".into()),
        (Some(true), Some(t)) if now.saturating_sub(t) >= stale.as_secs() => c.finding(
            State::Critical,
            format!("the last replicate run finished {} ago", ago(now.saturating_sub(t))),
        ),
        (Some(true), Some(_)) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ErrorReport;

    const AGE: Thresholds = Thresholds {
        warning: Duration::from_secs(3600),
        critical: Duration::from_secs(6 * 3600),
    };

    fn copy(path: &str, age: Option<u64>) -> ReceivedFs {
        ReceivedFs {
            name: format!("backup/{path}"),
            path: path.into(),
            placeholder: false,
            newest_snapshot: age.map(|_| format!("backup/{path}@s")),
            newest_snapshot_time: age.map(|a| 100_000 - a),
            age_seconds: age,
            last_received_hold: HoldState::OnNewest,
            last_received_hold_jobs: vec!["j".into()],
            resumable: false,
            resumable_bytes: None,
            resumable_since: None,
            resumable_age_seconds: None,
        }
    }

    #[test]
    fn the_worst_copy_decides_and_the_line_follows_the_plugin_format() {
        let fine = received(&[copy("a", Some(60)), copy("b", Some(120))], AGE, AGE);
        assert_eq!(fine.exit_code(), 0);
        assert_eq!(
            fine.line(),
            "ZREPLRS OK - 2 received filesystems fine | 'a age'=60s;3600;21600;0; 'b age'=120s;3600;21600;0;"
        );
        let late = received(&[copy("a", Some(60)), copy("b", Some(7 * 3600))], AGE, AGE);
        assert_eq!(late.state(), State::Critical);
        assert_eq!(late.exit_code(), 2);
        assert!(late
            .line()
            .starts_with("ZREPLRS CRITICAL - 2 received filesystems: b newest snapshot 7h old"));
        let mut unheld = copy("a", Some(7200));
        unheld.last_received_hold = HoldState::Missing;
        let w = received(&[unheld], AGE, AGE);
        assert_eq!(w.state(), State::Warning);
        assert!(w.line().contains("a has no last-received hold"), "{}", w.line());
        assert_eq!(
            received(&[], AGE, AGE).state(),
            State::Warning,
            "nothing received is not OK"
        );
    }

    #[test]
    fn resumable_state_is_judged_by_its_age() {
        let mut cut = copy("a", Some(60));
        cut.resumable = true;
        cut.resumable_age_seconds = Some(2 * 3600);
        assert_eq!(received(&[cut.clone()], AGE, AGE).state(), State::Warning);
        cut.resumable_age_seconds = None;
        assert_eq!(received(&[cut], AGE, AGE).state(), State::Warning, "of unknown age");
    }

    #[test]
    fn a_job_is_judged_by_lag_conflicts_aged_step_holds_and_its_last_run() {
        let fs = |name: &str, lag: Option<u64>, state: FsState| FsStatus {
            name: name.into(),
            target: String::new(),
            state,
            newest_sender_snapshot: None,
            newest_replicated: None,
            lag_seconds: lag,
            pending_snapshots: 0,
            pending_bytes: 0,
            pending_bytes_exact: true,
            resumable: false,
            conflict: (state == FsState::Conflict).then(|| ErrorReport::new("diverged", "x")),
        };
        let ok = job(&[fs("tank/a", Some(60), FsState::UpToDate)], AGE, 0);
        assert_eq!(ok.state(), State::Ok);
        assert_eq!(
            job(&[fs("tank/a", Some(60), FsState::UpToDate)], AGE, 2).state(),
            State::Warning
        );
        assert_eq!(
            job(&[fs("tank/a", None, FsState::Pending)], AGE, 0).state(),
            State::Warning
        );
        let c = job(&[fs("tank/a", None, FsState::Conflict)], AGE, 0);
        assert!(c.state() == State::Critical && c.line().contains("tank/a in conflict: diverged"));
        let mut last = ok.clone();
        last_run(&mut last, Some(false), Some(9_000), 10_000, AGE.critical);
        assert_eq!(last.state(), State::Critical);
        let mut stale = ok.clone();
        last_run(&mut stale, Some(true), Some(1_000), 1_000 + 7 * 3600, AGE.critical);
        assert_eq!(stale.state(), State::Critical, "the timer stopped");
        let mut none = ok.clone();
        last_run(&mut none, None, None, 10_000, AGE.critical);
        assert_eq!(none.state(), State::Unknown);
        none.findings.push(Finding {
            state: State::Critical,
            text: "x".into(),
        });
        assert_eq!(none.state(), State::Critical, "critical outweighs unknown");
    }
}
