//! A session's worker threads: parked between calls, each runs its share of a call.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::err;
use crate::error::{Error, Status};

/// One call's work: `share(i)` runs share `i` (0 on the calling thread, `i` on worker `i`).
pub(crate) type Share<'a> = dyn Fn(usize) + Sync + 'a;

/// How long a thread that waits spins before it parks: back-to-back calls (a feed
/// ranking several placements, a benchmark) then skip the futex wake-up, and an idle
/// session costs no CPU after this long.
const SPIN: Duration = Duration::from_micros(50);

/// `share` with its lifetime erased, so parked threads can hold it.
#[derive(Clone, Copy)]
struct Job(*const Share<'static>);

// SAFETY: the pointee is `Sync`, and `Workers::run` does not return or unwind before
// every worker is done with it (`left` back at 0), so no thread uses it once it is gone.
unsafe impl Send for Job {}

struct State {
    job: Option<Job>,
    quit: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Counts calls; a worker runs each generation once (spinning threads read it).
    generation: AtomicU64,
    /// Workers still running the current call.
    left: AtomicUsize,
    panicked: AtomicBool,
    start: Condvar,
    done: Condvar,
}

/// `count` threads, started here and joined on drop.
pub(crate) struct Workers {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while these locks are held; a poisoned lock is still consistent.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Spins until `ready()` or [`SPIN`] has passed; returns `ready()`.
fn spin_until(ready: impl Fn() -> bool) -> bool {
    let t0 = Instant::now();
    loop {
        for _ in 0..64 {
            if ready() {
                return true;
            }
            std::hint::spin_loop();
        }
        if t0.elapsed() >= SPIN {
            return ready();
        }
    }
}

impl Workers {
    /// Starts `count` worker threads (named `camoe-rank-1`…); all allocation happens here.
    pub fn new(count: usize) -> Result<Workers, Error> {
        let mut w = Workers {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    job: None,
                    quit: false,
                }),
                generation: AtomicU64::new(0),
                left: AtomicUsize::new(0),
                panicked: AtomicBool::new(false),
                start: Condvar::new(),
                done: Condvar::new(),
            }),
            handles: Vec::with_capacity(count),
        };
        for i in 1..=count {
            let shared = w.shared.clone();
            let started = std::thread::Builder::new()
                .name(format!("camoe-rank-{i}"))
                .spawn(move || work(&shared, i));
            // On failure `w` drops here, joining the threads already started.
            let handle = started.map_err(|e| {
                err!(
                    Status::Capacity,
                    "the system could not start ranking thread {i} of {count}: {e}"
                )
            })?;
            w.handles.push(handle);
        }
        Ok(w)
    }

    /// Runs `share(0)` on this thread and `share(i)` on worker `i` (1..=count), and
    /// returns once all are done: `Err` when a worker's share panicked (the panic stays
    /// on that worker, which lives on). A panic of `share(0)` unwinds from here, but
    /// only after every worker has finished.
    pub fn run(&self, share: &Share<'_>) -> Result<(), ()> {
        let sh = &*self.shared;
        // SAFETY: only the lifetime changes; `Finish` below waits for every worker
        // before this call returns or unwinds, so the pointer never outlives `share`.
        let job =
            Job(unsafe { core::mem::transmute::<*const Share<'_>, *const Share<'static>>(share) });
        {
            let mut st = lock(&sh.state);
            st.job = Some(job);
            sh.panicked.store(false, Ordering::Relaxed);
            sh.left.store(self.handles.len(), Ordering::Relaxed);
            // Release: a worker that sees the new generation sees `left` and the job.
            sh.generation.fetch_add(1, Ordering::Release);
        }
        sh.start.notify_all();
        let finish = Finish(sh);
        share(0);
        finish.wait();
        if sh.panicked.load(Ordering::Acquire) {
            Err(())
        } else {
            Ok(())
        }
    }
}

/// Waits for the workers of the current call, also when the caller's share unwinds.
struct Finish<'a>(&'a Shared);

impl Finish<'_> {
    fn wait(&self) {
        let sh = self.0;
        let ready = || sh.left.load(Ordering::Acquire) == 0;
        if !spin_until(ready) {
            let mut st = lock(&sh.state);
            // `left` reaches 0 before the last worker takes the lock to notify.
            while !ready() {
                st = sh.done.wait(st).unwrap_or_else(PoisonError::into_inner);
            }
        }
        lock(&sh.state).job = None;
    }
}

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        self.wait();
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        lock(&self.shared.state).quit = true;
        self.shared.start.notify_all();
        for h in self.handles.drain(..) {
            // A worker never panics outside `catch_unwind`, so join only waits.
            let _ = h.join();
        }
    }
}

/// Worker `index`'s loop: wait for a new generation, run its share, report.
fn work(sh: &Shared, index: usize) {
    let mut seen = 0;
    loop {
        spin_until(|| sh.generation.load(Ordering::Acquire) != seen);
        let job = {
            let mut st = lock(&sh.state);
            while sh.generation.load(Ordering::Acquire) == seen && !st.quit {
                st = sh.start.wait(st).unwrap_or_else(PoisonError::into_inner);
            }
            if st.quit {
                return;
            }
            seen = sh.generation.load(Ordering::Acquire);
            st.job
        };
        if let Some(Job(share)) = job {
            // SAFETY: `run` keeps `*share` alive until `left` is 0, decremented below.
            let ran = catch_unwind(AssertUnwindSafe(|| unsafe { (*share)(index) }));
            if ran.is_err() {
                sh.panicked.store(true, Ordering::Relaxed);
            }
        }
        if sh.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Under the lock, so a caller between its check and its wait is not missed.
            let _st = lock(&sh.state);
            sh.done.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_share_runs_once_per_call() {
        let w = Workers::new(3).unwrap();
        let hits: Vec<AtomicUsize> = (0..4).map(|_| AtomicUsize::new(0)).collect();
        for _ in 0..200 {
            w.run(&|i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            })
            .unwrap();
        }
        for h in &hits {
            assert_eq!(h.load(Ordering::Relaxed), 200);
        }
    }

    #[test]
    fn a_worker_panic_is_an_error_and_the_workers_live_on() {
        let w = Workers::new(2).unwrap();
        assert!(w.run(&|i| assert!(i != 2, "share 2 fails")).is_err());
        let ran = AtomicUsize::new(0);
        w.run(&|_| {
            ran.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(ran.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn the_callers_panic_waits_for_the_workers() {
        let w = Workers::new(2).unwrap();
        let done = AtomicUsize::new(0);
        let r = catch_unwind(AssertUnwindSafe(|| {
            w.run(&|i| {
                if i == 0 {
                    panic!("share 0 fails");
                }
                std::thread::sleep(Duration::from_millis(20));
                done.fetch_add(1, Ordering::Relaxed);
            })
        }));
        assert!(r.is_err());
        assert_eq!(
            done.load(Ordering::Relaxed),
            2,
            "unwound before the workers ended"
        );
    }

    #[test]
    fn dropping_idle_workers_returns() {
        for n in [1, 4] {
            let w = Workers::new(n).unwrap();
            w.run(&|_| {}).unwrap();
            std::thread::sleep(Duration::from_millis(5));
            drop(w);
        }
        drop(Workers::new(2).unwrap());
    }
}
