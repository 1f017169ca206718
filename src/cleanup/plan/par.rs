//! Per-tag steps of the planner on every core. Each tag's link and decision depend only on
//! shared, read-only facts, so the tags are cut into one contiguous run per core and the
//! results joined in order: the plan is the same as on one core, byte for byte.

use std::num::NonZeroUsize;

/// Below this many items one thread is faster than starting others. Unit tests split even
/// tiny inputs, so the planner's example tests, properties and snapshots all run the threaded
/// path (the binary's integration tests run the single-threaded one).
const MIN_PER_THREAD: usize = if cfg!(test) { 2 } else { 4096 };

/// `f(i, item)` for every item, in order, on up to the available cores.
pub(super) fn map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(usize, T) -> R + Sync) -> Vec<R> {
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let threads = cores.min(items.len() / MIN_PER_THREAD).max(1);
    if threads == 1 {
        return items
            .into_iter()
            .enumerate()
            .map(|(i, t)| f(i, t))
            .collect();
    }
    let chunk = items.len().div_ceil(threads);
    let mut runs = Vec::with_capacity(threads);
    let mut rest = items;
    while rest.len() > chunk {
        let tail = rest.split_off(chunk);
        runs.push(rest);
        rest = tail;
    }
    runs.push(rest);
    let f = &f;
    let run = move |k: usize, items: Vec<T>| -> Vec<R> {
        items
            .into_iter()
            .enumerate()
            .map(|(i, t)| f(k * chunk + i, t))
            .collect()
    };
    let mut runs = runs.into_iter().enumerate();
    let (_, first) = runs.next().expect("at least one run");
    std::thread::scope(|scope| {
        // The other runs on new threads, the first on this one.
        let others: Vec<_> = runs
            .map(|(k, items)| scope.spawn(move || run(k, items)))
            .collect();
        let mut out = run(0, first);
        for other in others {
            out.extend(
                other
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            );
        }
        out
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_order_and_indices_across_threads() {
        let items: Vec<u64> = (0..50_000).collect();
        let out = super::map(items, |i, x| (i as u64, x * 2));
        assert_eq!(out.len(), 50_000);
        assert!(
            out.iter()
                .enumerate()
                .all(|(k, &(i, y))| i == k as u64 && y == 2 * k as u64)
        );
    }

    #[test]
    fn small_inputs_and_empty_work() {
        assert_eq!(super::map(vec![3, 4, 5], |i, x| i + x), vec![3, 5, 7]);
        assert_eq!(super::map(vec![7], |i, x| i + x), vec![7]);
        assert!(super::map(Vec::<u8>::new(), |_, x| x).is_empty());
    }
}
