//! `encode_batch_flat` on several threads: runs of texts are encoded in parallel, in order,
//! and each is copied into the one result as soon as every run before it is there.
//!
//! Why (performance notes): in a fresh process the page faults on new memory were a third of
//! a 20 MB batch. Encoding each run into its own vector and copying all of them into a result
//! touched twice the output's size of new memory; here runs go through a few recycled buffers
//! and the result is the only large new memory. The result is reserved at an upper bound of
//! the ids (untouched pages cost nothing) and shrunk at the end. Runs are handed out in order
//! (an atomic counter, not rayon's halving), so a finished run rarely waits for its turn; it
//! never blocks a thread: whoever finishes the next run to place also places the ones after
//! it that are done.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// A finished run: its ids and the end of each of its texts (relative to the run).
type Done = (Vec<u32>, Vec<usize>);

struct Placer<'a> {
    /// The next run to copy into the result.
    next: usize,
    /// Finished runs waiting for their turn, by index.
    done: Vec<Option<Done>>,
    /// The part of the result not handed out yet.
    tail: &'a mut [MaybeUninit<u32>],
    /// Ids handed out so far, and the absolute end of each text placed.
    placed: usize,
    ends: Vec<usize>,
    /// A run did not fit in the bound: the caller starts over another way.
    overflow: bool,
}

/// Runs `encode(run, ids, ends)` on `runs` with `threads` threads and concatenates the ids in
/// run order, with the end offset of every text. `bound` must hold all the ids in the usual
/// case; `None` when it did not, or when it cannot be reserved (the caller falls back).
pub(crate) fn concat_in_order<R: Sync>(
    runs: &[R],
    bound: usize,
    threads: usize,
    encode: impl Fn(&R, &mut Vec<u32>, &mut Vec<usize>) + Sync,
) -> Option<(Vec<u32>, Vec<usize>)> {
    let mut out: Vec<u32> = Vec::new();
    out.try_reserve_exact(bound).ok()?;
    crate::huge::advise_capacity(&mut out);
    let next_run = AtomicUsize::new(0);
    let buffers: Mutex<Vec<Vec<u32>>> = Mutex::new(Vec::new());
    let placer = Mutex::new(Placer {
        next: 0,
        done: (0..runs.len()).map(|_| None).collect(),
        tail: out.spare_capacity_mut(),
        placed: 0,
        ends: Vec::new(),
        overflow: false,
    });
    let worker = || loop {
        let k = next_run.fetch_add(1, Ordering::Relaxed);
        let Some(run) = runs.get(k) else { return };
        let mut ids = lock(&buffers).pop().unwrap_or_default();
        ids.clear();
        let mut ends = Vec::new();
        encode(run, &mut ids, &mut ends);
        let mut ready = Vec::new();
        {
            let mut p = lock(&placer);
            p.done[k] = Some((ids, ends));
            while !p.overflow {
                let next = p.next;
                let Some((ids, ends)) = p.done.get_mut(next).and_then(Option::take) else {
                    break;
                };
                if ids.len() > p.tail.len() {
                    p.overflow = true;
                    break;
                }
                let (dst, rest) = std::mem::take(&mut p.tail).split_at_mut(ids.len());
                p.tail = rest;
                let base = p.placed;
                p.ends.extend(ends.iter().map(|e| base + e));
                p.placed += ids.len();
                p.next += 1;
                ready.push((dst, ids));
            }
        }
        for (dst, src) in ready {
            for (d, &s) in dst.iter_mut().zip(&src) {
                d.write(s);
            }
            lock(&buffers).push(src);
        }
    };
    rayon::scope(|s| {
        for _ in 0..threads {
            s.spawn(|_| worker());
        }
    });
    let Placer {
        placed,
        ends,
        overflow,
        ..
    } = placer.into_inner().unwrap_or_else(PoisonError::into_inner);
    if overflow {
        return None;
    }
    // SAFETY: the ids of every run were copied into the first `placed` slots of the spare
    // capacity, in order and without gaps (each run took the next `ids.len()` slots), and all
    // copies finished when the scope returned.
    unsafe { out.set_len(placed) };
    out.shrink_to_fit();
    Some((out, ends))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
