//! Running a run's filesystems on up to N workers at once, parents before children: an item starts only
//! once every item it waits for (its ancestors) has finished, so that each one's own path stays plain
//! sequential code with the result of its parents at hand. Each worker owns a resource (its connection to
//! the peer); the first is given, the others are opened when the worker starts and a worker that cannot open
//! one leaves the work to the others. An item whose outcome says "stop" (the connection is gone) keeps new
//! items from starting; items already running finish, and items never started have no outcome.

use std::sync::{Condvar, Mutex, PoisonError};

/// What a worker does with one item: the outcome, and whether no new item may start after it.
pub struct Done<O> {
    pub outcome: O,
    pub stop: bool,
}

struct State<O> {
    /// Items not yet started, in order.
    pending: Vec<usize>,
    running: usize,
    done: Vec<Option<O>>,
    stop: bool,
}

/// Runs items `0..waits_for.len()`; item `i` starts after every item in `waits_for[i]` (each smaller than
/// `i`) finished. `context(i, done)` is computed when `i` starts, from the outcomes so far (those of its
/// ancestors are all there); `work(resource, i, context)` does it. `first` is the first worker's resource,
/// `open` makes one for each of the other `workers - 1`. Returns each item's outcome, `None` for items that
/// were not started because an outcome said stop.
pub fn run<R, C, O>(
    workers: usize,
    waits_for: &[Vec<usize>],
    first: R,
    open: &(dyn Fn() -> Option<R> + Sync),
    context: &(dyn Fn(usize, &[Option<O>]) -> C + Sync),
    work: &(dyn Fn(&mut R, usize, C) -> Done<O> + Sync),
) -> Vec<Option<O>>
where
    R: Send,
    C: Send,
    O: Send,
{
    let n = waits_for.len();
    let state = Mutex::new(State {
        pending: (0..n).collect(),
        running: 0,
        done: (0..n).map(|_| None).collect(),
        stop: false,
    });
    let changed = Condvar::new();
    let worker = |mut resource: R| loop {
        let (i, ctx) = {
            let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if s.stop || s.pending.is_empty() {
                    return;
                }
                let startable = s
                    .pending
                    .iter()
                    .position(|&i| waits_for[i].iter().all(|&j| s.done[j].is_some()));
                if let Some(pos) = startable {
                    let i = s.pending.remove(pos);
                    s.running += 1;
                    break (i, context(i, &s.done));
                }
                if s.running == 0 {
                    // Nothing runs that could finish what the pending items wait for (waits_for names a
                    // later item, which callers never do): give up rather than wait forever.
                    return;
                }
                s = changed.wait(s).unwrap_or_else(PoisonError::into_inner);
            }
        };
        let d = work(&mut resource, i, ctx);
        let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
        s.done[i] = Some(d.outcome);
        s.stop |= d.stop;
        s.running -= 1;
        changed.notify_all();
    };
    std::thread::scope(|scope| {
        for _ in 1..workers.clamp(1, n.max(1)) {
            scope.spawn(|| {
                if let Some(r) = open() {
                    worker(r);
                }
            });
        }
        worker(first);
    });
    state.into_inner().unwrap_or_else(PoisonError::into_inner).done
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Items 0..8 where 1 and 2 wait for 0, 3 for 1; each records when it started and ended on a shared
    /// clock. Every item starts after the ones it waits for ended, and with 4 workers some run at once.
    #[test]
    fn children_start_after_their_parents_and_others_overlap() {
        let waits: Vec<Vec<usize>> = vec![vec![], vec![0], vec![0], vec![0, 1], vec![], vec![], vec![], vec![]];
        let clock = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let active = AtomicUsize::new(0);
        let out = run(4, &waits, (), &|| Some(()), &|_, _| (), &|_, i, ()| {
            let start = clock.fetch_add(1, Ordering::SeqCst);
            let now = active.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(30));
            active.fetch_sub(1, Ordering::SeqCst);
            let end = clock.fetch_add(1, Ordering::SeqCst);
            Done {
                outcome: (i, start, end),
                stop: false,
            }
        });
        let out: Vec<(usize, usize, usize)> = out.into_iter().map(|o| o.expect("every item ran")).collect();
        for (i, w) in waits.iter().enumerate() {
            for &j in w {
                assert!(out[i].1 > out[j].2, "item {i} started before {j} ended: {out:?}");
            }
        }
        assert!(peak.load(Ordering::SeqCst) > 1, "some items overlapped");
        assert!(peak.load(Ordering::SeqCst) <= 4);
    }

    #[test]
    fn one_worker_runs_items_in_order() {
        let waits: Vec<Vec<usize>> = vec![vec![]; 5];
        let order = Mutex::new(Vec::new());
        let out = run(1, &waits, (), &|| None, &|_, _| (), &|_, i, ()| {
            order.lock().unwrap().push(i);
            Done {
                outcome: i,
                stop: false,
            }
        });
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
        assert_eq!(out, vec![Some(0), Some(1), Some(2), Some(3), Some(4)]);
    }

    /// The context of an item sees its parents' outcomes (what the replicate driver uses to skip the
    /// children of a failed parent).
    #[test]
    fn the_context_sees_the_parents_outcomes() {
        let waits: Vec<Vec<usize>> = vec![vec![], vec![0], vec![0, 1]];
        let out = run(
            3,
            &waits,
            (),
            &|| Some(()),
            &|i, done: &[Option<String>]| waits[i].iter().map(|&j| done[j].clone().unwrap()).collect::<Vec<_>>(),
            &|_, i, parents| Done {
                outcome: format!("{i}<{}>", parents.join(",")),
                stop: false,
            },
        );
        assert_eq!(out[2].as_deref(), Some("2<0<>,1<0<>>>"));
    }

    #[test]
    fn a_stop_keeps_new_items_from_starting_and_workers_that_cannot_open_leave_the_work() {
        let waits: Vec<Vec<usize>> = vec![vec![]; 6];
        let out = run(3, &waits, 0u8, &|| None, &|_, _| (), &|_, i, ()| Done {
            outcome: i,
            stop: i == 2,
        });
        assert_eq!(out, vec![Some(0), Some(1), Some(2), None, None, None]);
    }

    #[test]
    fn each_worker_keeps_its_own_resource() {
        let opened = AtomicUsize::new(0);
        let waits: Vec<Vec<usize>> = vec![vec![]; 12];
        let out = run(
            3,
            &waits,
            100usize,
            &|| Some(opened.fetch_add(1, Ordering::SeqCst)),
            &|_, _| (),
            &|r: &mut usize, _, ()| {
                std::thread::sleep(Duration::from_millis(5));
                Done {
                    outcome: *r,
                    stop: false,
                }
            },
        );
        assert_eq!(opened.load(Ordering::SeqCst), 2, "two more workers, one resource each");
        let used: std::collections::BTreeSet<usize> = out.into_iter().flatten().collect();
        assert!(used.contains(&100) && used.len() <= 3, "{used:?}");
    }
}
