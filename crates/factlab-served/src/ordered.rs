use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Runs `work` on every item with `threads` worker threads and returns the results in input
/// order, however the work interleaves; `on_done` sees each result as it finishes (progress).
pub fn map_ordered<I: Sync, O: Send>(
    threads: usize,
    items: &[I],
    work: impl Fn(&I) -> O + Sync,
    on_done: impl Fn(&O) + Sync,
) -> Vec<O> {
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<O>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, items.len().max(1)) {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(index) else {
                    break;
                };
                let result = work(item);
                on_done(&result);
                *slots[index].lock().expect("result slot") = Some(result);
            });
        }
    });
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .expect("result slot")
                .expect("every item was worked on")
        })
        .collect()
}

/// Like [`map_ordered`] for fallible work: after the first failure no new item is started (the
/// ones in flight finish, and their replies stay cached), and the failure of the earliest item
/// is returned.
pub fn try_map_ordered<I: Sync, O: Send, E: Send>(
    threads: usize,
    items: &[I],
    work: impl Fn(&I) -> Result<O, E> + Sync,
    on_done: impl Fn(&O) + Sync,
) -> Result<Vec<O>, E> {
    let failed = std::sync::atomic::AtomicBool::new(false);
    let results = map_ordered(
        threads,
        items,
        |item| {
            if failed.load(Ordering::Relaxed) {
                return None;
            }
            let result = work(item);
            if result.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
            Some(result)
        },
        |result| {
            if let Some(Ok(value)) = result {
                on_done(value);
            }
        },
    );
    let mut done = Vec::with_capacity(results.len());
    let mut skipped = false;
    for result in results {
        match result {
            Some(Ok(value)) => done.push(value),
            Some(Err(error)) => return Err(error),
            None => skipped = true,
        }
    }
    assert!(!skipped, "items are skipped only after a failure");
    Ok(done)
}
