//! A session's worker threads: parked between calls; each joins a call while it is
//! open and runs its share.

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
// every worker inside the call has left it (no worker reads the job of a call it did
// not join), so no thread uses it once it is gone.
unsafe impl Send for Job {}

struct State {
    job: Option<Job>,
    quit: bool,
}

/// `Shared::call`: the call's generation (high 32 bits), whether it still takes
/// workers, and how many are inside it (the low bits).
const OPEN: u64 = 1 << 31;
const INSIDE: u64 = OPEN - 1;

fn generation(call: u64) -> u64 {
    call >> 32
}

struct Shared {
    state: Mutex<State>,
    /// The current call (see [`OPEN`]); changed to a new generation under `state`'s lock.
    call: AtomicU64,
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
        // On a core shared with the thread being waited for, let it run.
        std::thread::yield_now();
    }
}

impl Workers {
    /// Starts `count` worker threads (named `camoe-rank-1`…) and returns once each has
    /// run: all allocation happens here.
    pub fn new(count: usize) -> Result<Workers, Error> {
        let mut w = Workers {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    job: None,
                    quit: false,
                }),
                call: AtomicU64::new(0),
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
        // Every worker joins one call before the pool is used: its start-up (which may
        // allocate) belongs to the session's creation, and calls find it parked.
        let joined = AtomicUsize::new(0);
        let all_joined = w.run(&|i| {
            if i > 0 {
                joined.fetch_add(1, Ordering::Release);
            }
            while joined.load(Ordering::Acquire) < count {
                std::thread::yield_now();
            }
        });
        all_joined.map_err(|()| err!(Status::Panic, "a ranking thread failed to start"))?;
        Ok(w)
    }

    /// Runs `share(0)` on this thread and `share(i)` on each worker `i` (1..=count)
    /// that wakes up before `share(0)` returns; a worker the system runs later sits the
    /// call out, so `share` must leave no work to a given worker (the caller's share
    /// finishes what the others have not claimed). Returns once every worker that
    /// joined is done: `Err` when one's share panicked (the panic stays on that
    /// worker, which lives on). A panic of `share(0)` unwinds from here, but only
    /// after the workers inside the call have left it.
    pub fn run(&self, share: &Share<'_>) -> Result<(), ()> {
        let sh = &*self.shared;
        // SAFETY: only the lifetime changes; `Finish` below closes the call and waits
        // for every worker inside it before this returns or unwinds, and no worker
        // reads the job outside a call it joined, so none uses it after `share` ends.
        let job =
            Job(unsafe { core::mem::transmute::<*const Share<'_>, *const Share<'static>>(share) });
        {
            let mut st = lock(&sh.state);
            st.job = Some(job);
            sh.panicked.store(false, Ordering::Relaxed);
            let next = generation(sh.call.load(Ordering::Relaxed)) + 1;
            // Release: a worker that joins this call sees the job.
            sh.call.store(next << 32 | OPEN, Ordering::Release);
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

/// Closes the current call and waits for the workers inside it, also when the
/// caller's share unwinds.
struct Finish<'a>(&'a Shared);

impl Finish<'_> {
    fn wait(&self) {
        let sh = self.0;
        sh.call.fetch_and(!OPEN, Ordering::AcqRel);
        let ready = || sh.call.load(Ordering::Acquire) & INSIDE == 0;
        if !spin_until(ready) {
            let mut st = lock(&sh.state);
            // The last worker to leave a closed call notifies under the lock.
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

/// Whether `call` is open and not the generation `seen` (the worker's last).
fn fresh(call: u64, seen: u64) -> bool {
    call & OPEN != 0 && generation(call) != seen
}

/// Worker `index`'s loop: wait for an open call it has not run, join it, run its
/// share, leave.
fn work(sh: &Shared, index: usize) {
    let mut seen = 0;
    loop {
        spin_until(|| fresh(sh.call.load(Ordering::Acquire), seen));
        let job = {
            let mut st = lock(&sh.state);
            while !fresh(sh.call.load(Ordering::Acquire), seen) && !st.quit {
                st = sh.start.wait(st).unwrap_or_else(PoisonError::into_inner);
            }
            if st.quit {
                return;
            }
            // Join while holding the lock: the call cannot change generation meanwhile,
            // so the job read here is the joined call's.
            let call = sh.call.load(Ordering::Acquire);
            let joined = fresh(call, seen)
                && sh
                    .call
                    .compare_exchange(call, call + 1, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok();
            if !joined {
                // Closed meanwhile (or another worker joined first: try again).
                continue;
            }
            seen = generation(call);
            st.job
        };
        if let Some(Job(share)) = job {
            // SAFETY: `run` keeps `*share` alive until no worker is inside the call,
            // and this one leaves it only below.
            let ran = catch_unwind(AssertUnwindSafe(|| unsafe { (*share)(index) }));
            if ran.is_err() {
                sh.panicked.store(true, Ordering::Relaxed);
            }
        }
        let before = sh.call.fetch_sub(1, Ordering::AcqRel);
        if before & OPEN == 0 && before & INSIDE == 1 {
            // Under the lock, so a caller between its check and its wait is not missed.
            let _st = lock(&sh.state);
            sh.done.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spins until `n` shares have started (workers join while share 0 waits here).
    fn until(count: &AtomicUsize, n: usize) {
        let t0 = Instant::now();
        while count.load(Ordering::Acquire) < n {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "workers never joined"
            );
            std::thread::yield_now();
        }
    }

    #[test]
    fn each_share_runs_at_most_once_and_all_run_when_waited_for() {
        let w = Workers::new(3).unwrap();
        let hits: Vec<AtomicUsize> = (0..4).map(|_| AtomicUsize::new(0)).collect();
        let started = AtomicUsize::new(0);
        for call in 1..=50 {
            w.run(&|i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
                started.fetch_add(1, Ordering::Release);
                if i == 0 {
                    until(&started, 4 * call);
                }
            })
            .unwrap();
            for h in &hits {
                assert_eq!(h.load(Ordering::Relaxed), call);
            }
        }
        // Without waiting, share 0 always runs and no share runs twice.
        for _ in 0..50 {
            let once: Vec<AtomicUsize> = (0..4).map(|_| AtomicUsize::new(0)).collect();
            w.run(&|i| {
                once[i].fetch_add(1, Ordering::Relaxed);
            })
            .unwrap();
            assert_eq!(once[0].load(Ordering::Relaxed), 1);
            assert!(once.iter().all(|o| o.load(Ordering::Relaxed) <= 1));
        }
    }

    #[test]
    fn a_worker_panic_is_an_error_and_the_workers_live_on() {
        let w = Workers::new(2).unwrap();
        let started = AtomicUsize::new(0);
        let r = w.run(&|i| {
            started.fetch_add(1, Ordering::Release);
            if i == 0 {
                until(&started, 3);
            }
            assert!(i != 2, "share 2 fails");
        });
        assert!(r.is_err());
        let ran = AtomicUsize::new(0);
        w.run(&|i| {
            ran.fetch_add(1, Ordering::Release);
            if i == 0 {
                until(&ran, 3);
            }
        })
        .unwrap();
        assert_eq!(ran.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn the_callers_panic_waits_for_the_workers() {
        let w = Workers::new(2).unwrap();
        let (started, done) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let r = catch_unwind(AssertUnwindSafe(|| {
            w.run(&|i| {
                started.fetch_add(1, Ordering::Release);
                if i == 0 {
                    until(&started, 3);
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
