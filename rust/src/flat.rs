//! `encode_batch_flat` on several threads: runs of texts are encoded in parallel, in order,
//! and each is copied into the one result as soon as every run before it is there.
//!
//! Why (performance notes): in a fresh process the page faults on new memory were a third of
//! a 20 MB batch. Encoding each run into its own vector and copying all of them into a result
//! touched twice the output's size of new memory; here runs go through a few recycled buffers
//! and the result is the only large new memory. The result is reserved at an estimate of the
//! ids, as the one-thread path reserves it, and kept at that size: reserved at the upper bound
//! (one id per character) and shrunk, it was mapped afresh on every call, since the allocator
//! saw only the shrunk size come back (6 MB of Turkish, calls in a row: 275-883 page faults a
//! call on two threads, none on one). Runs past the estimate wait in their buffers and are
//! appended at the end: text with more ids than a third of its characters (CJK, byte
//! fallback) is as fast as before but holds those buffers meanwhile (random CJK at 0.62 ids a
//! character, 2 threads: peak RSS 96 -> 119 MB, one thread 92). Runs are handed out in order (an atomic counter, not rayon's
//! halving), so a finished run rarely waits for its turn; it never blocks a thread: whoever
//! finishes the next run to place also places the ones after it that are done.

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
    /// A run did not fit in the reserved room: it and all after it are appended at the end.
    overflow: bool,
}

/// Runs `encode(run, ids, ends)` on `runs` with `threads` threads and concatenates the ids in
/// run order, with the end offset of every text. `estimate`: room reserved for the ids (more
/// is fine, only slower).
pub(crate) fn concat_in_order<R: Sync>(
    runs: &[R],
    estimate: usize,
    threads: usize,
    encode: impl Fn(&R, &mut Vec<u32>, &mut Vec<usize>) + Sync,
) -> (Vec<u32>, Vec<usize>) {
    let mut out: Vec<u32> = Vec::with_capacity(estimate);
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
                    p.done[next] = Some((ids, ends)); // back, for the end
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
        next,
        done,
        placed,
        mut ends,
        ..
    } = placer.into_inner().unwrap_or_else(PoisonError::into_inner);
    // SAFETY: the ids of runs `..next` were copied into the first `placed` slots of the spare
    // capacity, in order and without gaps (each run took the next `ids.len()` slots), and all
    // copies finished when the scope returned.
    unsafe { out.set_len(placed) };
    // the runs that did not fit (all finished: the scope has returned), in one reservation
    let rest: Vec<Done> = done.into_iter().skip(next).flatten().collect();
    out.reserve_exact(rest.iter().map(|(ids, _)| ids.len()).sum());
    for (ids, run_ends) in rest {
        let base = out.len();
        ends.extend(run_ends.iter().map(|e| base + e));
        out.extend_from_slice(&ids);
    }
    (out, ends)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever room is reserved, the result is every run's ids in run order with each text's
    /// end: runs that do not fit wait and are appended after the others.
    #[test]
    fn runs_past_the_reserved_room_are_appended_in_order() {
        let runs: Vec<usize> = (0..300).collect();
        // run i: two texts of (i % 4) and (i % 7 + 1) ids, numbered so that order shows
        let encode = |&i: &usize, ids: &mut Vec<u32>, ends: &mut Vec<usize>| {
            for len in [i % 4, i % 7 + 1] {
                ids.extend((0..len).map(|j| (i * 100 + j) as u32));
                ends.push(ids.len());
            }
        };
        let (mut want_ids, mut want_ends) = (Vec::new(), Vec::new());
        for i in &runs {
            let (mut ids, mut ends) = (Vec::new(), Vec::new());
            encode(i, &mut ids, &mut ends);
            let base = want_ids.len();
            want_ends.extend(ends.iter().map(|e| base + e));
            want_ids.extend(ids);
        }
        let total = want_ids.len();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        for estimate in [0, 1, total / 2, total - 1, total, 2 * total] {
            let got = pool.install(|| concat_in_order(&runs, estimate, 3, encode));
            assert_eq!(
                got,
                (want_ids.clone(), want_ends.clone()),
                "room {estimate}"
            );
        }
    }
}
