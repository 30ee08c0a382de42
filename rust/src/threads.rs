//! Fork safety for rayon.
//!
//! A forked child (a PyTorch DataLoader worker, say) inherits rayon's global pool *state* but
//! not its threads, so a parallel call there would wait forever. The first process to run
//! parallel work records its pid; any other process (a fork of it) runs on a pool of its own.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use rayon::{ThreadPool, ThreadPoolBuilder};

static OWNER: AtomicU32 = AtomicU32::new(0);
static CHILD_POOL: Mutex<Option<(u32, Arc<ThreadPool>)>> = Mutex::new(None);

/// Runs `f` (which may use rayon) on a thread pool that is alive in this process.
pub fn run_parallel<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    let pid = std::process::id();
    let owner = match OWNER.compare_exchange(0, pid, Ordering::SeqCst, Ordering::SeqCst) {
        Ok(_) => pid,
        Err(owner) => owner,
    };
    if owner == pid {
        return f();
    }
    let pool = {
        let mut slot = CHILD_POOL.lock().unwrap_or_else(|p| p.into_inner());
        match &*slot {
            Some((p, pool)) if *p == pid => Arc::clone(pool),
            _ => {
                let pool = ThreadPoolBuilder::new().build().map(Arc::new);
                match pool {
                    Ok(pool) => {
                        *slot = Some((pid, Arc::clone(&pool)));
                        pool
                    }
                    // no threads to be had: nothing better to try
                    Err(_) => return f(),
                }
            }
        }
    };
    pool.install(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    #[test]
    fn runs_in_the_owner_process() {
        let sum: u64 = run_parallel(|| (0..1000u64).into_par_iter().sum());
        assert_eq!(sum, 499_500);
        assert_eq!(OWNER.load(Ordering::SeqCst), std::process::id());
    }
}
