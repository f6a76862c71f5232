//! The 20 ms clock that paces the sending of every call.
//!
//! tokio's timers have a resolution of one millisecond (a sleep ends on the
//! next tick of its wheel), so packets paced by `sleep_until` left up to
//! 1 ms late, unevenly. On Linux the clock is a `timerfd` instead: a kernel
//! high-resolution timer with an absolute period (it never drifts), whose
//! expiry wakes tokio's I/O driver within microseconds. One timer drives all
//! calls: a timer per call cost twice the CPU at 100 calls for one wake-up
//! each per frame. The driving task stops when the last call's pacer is
//! dropped, so an idle plugin has no timer at all. Off Linux, or without a
//! timerfd, tokio's interval drives it instead.
//!
//! Each tick wakes the calls **one by one, in the order they joined**, so
//! each call's packet keeps its place in the tick's burst of sends and its
//! interval stays 20 ms. A `watch` channel woke them all at once, in the
//! order they had last waited, which with tokio's LIFO slot rotated from
//! tick to tick: a call's packet moved within the burst (100 sends, about
//! a millisecond here), and that was its send jitter.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tandem_sdk::tokio;
use tokio::sync::Notify;
use tokio::time::Instant;

/// The period of every call's clock: one G.711 frame.
pub const PERIOD: Duration = Duration::from_millis(20);

/// One tick of the shared clock.
#[derive(Debug, Clone, Copy)]
pub struct Tick {
    /// Periods since the clock started.
    count: u64,
    /// When this tick was due: the lateness of a send is measured from it.
    pub due: Instant,
}

/// The running clock, if any call is up.
static CLOCK: Mutex<Option<Arc<Clock>>> = Mutex::new(None);

/// The calls on the clock, and its last tick.
struct Clock {
    /// In the order the calls joined: the order they are woken in.
    seats: Mutex<Vec<Weak<Seat>>>,
    last: Mutex<Tick>,
}

/// One call's place on the clock.
struct Seat {
    tick: Mutex<Tick>,
    /// Keeps one wake-up when the call is busy as the tick comes.
    wake: Notify,
}

/// A call's view of the shared clock.
pub struct Pacer {
    seat: Arc<Seat>,
    seen: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Pacer {
    /// Joins the running clock, starting it if this is the first call.
    /// Must be called on the plugin's runtime.
    pub fn join() -> Pacer {
        let mut running = lock(&CLOCK);
        let clock = match running.as_ref() {
            Some(clock) => clock.clone(),
            None => {
                let clock = Arc::new(Clock {
                    seats: Mutex::new(Vec::new()),
                    last: Mutex::new(Tick {
                        count: 0,
                        due: Instant::now(),
                    }),
                });
                tokio::spawn(drive(clock.clone()));
                *running = Some(clock.clone());
                clock
            }
        };
        let last = *lock(&clock.last);
        let seat = Arc::new(Seat {
            tick: Mutex::new(last),
            wake: Notify::new(),
        });
        lock(&clock.seats).push(Arc::downgrade(&seat));
        Pacer {
            seat,
            seen: last.count,
        }
    }

    /// Waits for the next tick; returns it and how many periods have passed
    /// since the last one (more than 1 when this task was held up).
    pub async fn tick(&mut self) -> (Tick, u64) {
        loop {
            self.seat.wake.notified().await;
            let tick = *lock(&self.seat.tick);
            if tick.count > self.seen {
                let passed = tick.count - self.seen;
                self.seen = tick.count;
                return (tick, passed);
            }
        }
    }
}

/// Ticks the shared clock until no call listens.
async fn drive(clock: Arc<Clock>) {
    let running = Running(clock.clone());
    let mut timer = Timer::new();
    let start = Instant::now();
    let mut count = 0u64;
    let mut seats = Vec::new();
    loop {
        count += timer.wait().await;
        {
            // Under the lock, so no call joins between the check and the
            // clock going away.
            let mut current = lock(&CLOCK);
            let mut joined = lock(&running.0.seats);
            joined.retain(|seat| seat.strong_count() > 0);
            if joined.is_empty() {
                *current = None;
                return;
            }
            seats.extend(joined.iter().filter_map(Weak::upgrade));
        }
        let due = start + PERIOD * u32::try_from(count).unwrap_or(u32::MAX);
        let tick = Tick { count, due };
        *lock(&running.0.last) = tick;
        for seat in seats.drain(..) {
            *lock(&seat.tick) = tick;
            seat.wake.notify_one();
        }
    }
}

/// The driving task's hold on the clock: when the task ends, or its
/// runtime drops it, the clock is taken down, so the next call starts a
/// fresh one instead of waiting on a clock nobody drives.
struct Running(Arc<Clock>);

impl Drop for Running {
    fn drop(&mut self) {
        let mut clock = lock(&CLOCK);
        if clock.as_ref().is_some_and(|c| Arc::ptr_eq(c, &self.0)) {
            *clock = None;
        }
    }
}

/// The timer behind the clock.
enum Timer {
    #[cfg(target_os = "linux")]
    Kernel(linux::TimerFd),
    Tokio(tokio::time::Interval),
}

impl Timer {
    fn new() -> Timer {
        #[cfg(target_os = "linux")]
        match linux::TimerFd::periodic(PERIOD) {
            Ok(timer) => return Timer::Kernel(timer),
            Err(e) => log::warn!("no timerfd ({e}): pacing RTP with tokio's 1 ms timer"),
        }
        let mut interval = tokio::time::interval_at(Instant::now() + PERIOD, PERIOD);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        Timer::Tokio(interval)
    }

    /// Periods passed since the last call (at least 1).
    async fn wait(&mut self) -> u64 {
        match self {
            #[cfg(target_os = "linux")]
            Timer::Kernel(timer) => timer.wait().await,
            Timer::Tokio(interval) => {
                interval.tick().await;
                1
            }
        }
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::time::Duration;

    use tandem_sdk::tokio::io::unix::AsyncFd;
    use tandem_sdk::tokio::io::Interest;

    pub struct TimerFd {
        fd: AsyncFd<OwnedFd>,
    }

    fn timespec(d: Duration) -> libc::timespec {
        libc::timespec {
            tv_sec: d.as_secs() as libc::time_t,
            tv_nsec: libc::c_long::from(d.subsec_nanos() as i32),
        }
    }

    impl TimerFd {
        pub fn periodic(period: Duration) -> std::io::Result<TimerFd> {
            // SAFETY: plain syscall; the fd is owned right away.
            let raw = unsafe {
                libc::timerfd_create(
                    libc::CLOCK_MONOTONIC,
                    libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
                )
            };
            if raw < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: `raw` is a fresh descriptor nobody else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            let spec = libc::itimerspec {
                it_interval: timespec(period),
                it_value: timespec(period),
            };
            // SAFETY: a valid timerfd and a valid itimerspec.
            let rc =
                unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: the OwnedFd keeps the descriptor open for as long as
            // the AsyncFd holds it, and its as_raw_fd is that descriptor.
            let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }?;
            Ok(TimerFd { fd })
        }

        /// The number of expirations since the last read (at least 1).
        pub async fn wait(&mut self) -> u64 {
            loop {
                let Ok(mut ready) = self.fd.readable().await else {
                    return 1;
                };
                let mut expirations = [0u8; 8];
                // SAFETY: reading 8 bytes into an 8-byte buffer.
                let n = unsafe {
                    libc::read(
                        self.fd.get_ref().as_raw_fd(),
                        expirations.as_mut_ptr().cast(),
                        expirations.len(),
                    )
                };
                if n == 8 {
                    return u64::from_ne_bytes(expirations).max(1);
                }
                ready.clear_ready();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The clock is one per process: its tests take turns.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

    /// A runtime like the plugin's (multi-thread), `workers` threads.
    fn runtime(workers: usize) -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .unwrap()
    }

    /// Each tick wakes the calls in the same order, so each call's send
    /// keeps its place in the burst (one worker, as the plugin runs, where
    /// tokio's LIFO slot is in play).
    #[test]
    fn every_tick_wakes_the_calls_in_the_same_order() {
        let _turn = lock(&ONE_AT_A_TIME);
        let orders = runtime(1).block_on(async {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let calls: Vec<_> = (0..8)
                .map(|call| {
                    let tx = tx.clone();
                    let mut pacer = Pacer::join();
                    tokio::spawn(async move {
                        for _ in 0..12 {
                            let (tick, _) = pacer.tick().await;
                            let _ = tx.send((tick.count, call));
                        }
                    })
                })
                .collect();
            drop(tx);
            let mut woken: Vec<(u64, usize)> = Vec::new();
            while let Some(seen) = rx.recv().await {
                woken.push(seen);
            }
            for call in calls {
                call.await.unwrap();
            }
            let mut orders: std::collections::BTreeMap<u64, Vec<usize>> = Default::default();
            for (count, call) in woken {
                orders.entry(count).or_default().push(call);
            }
            orders
        });
        // The first ticks may find calls still starting; then the order holds.
        let full: Vec<&Vec<usize>> = orders.values().filter(|o| o.len() == 8).skip(1).collect();
        assert!(full.len() >= 5, "{orders:?}");
        assert!(full.windows(2).all(|w| w[0] == w[1]), "{orders:?}");
    }

    #[test]
    fn calls_share_one_clock_that_stops_when_the_last_leaves() {
        let _turn = lock(&ONE_AT_A_TIME);
        runtime(2).block_on(calls_share_one_clock());
    }

    async fn calls_share_one_clock() {
        let mut a = Pacer::join();
        let mut b = Pacer::join();
        let start = std::time::Instant::now();
        let mut passed = 0;
        while passed < 10 {
            let (tick_a, n) = a.tick().await;
            let (tick_b, _) = b.tick().await;
            assert!(tick_b.count >= tick_a.count);
            passed += n;
        }
        // No drift: ten periods took at least ten periods.
        assert!(start.elapsed() >= PERIOD * 10 - Duration::from_millis(1));
        drop((a, b));
        // The driver notices at its next tick and goes away.
        tokio::time::sleep(PERIOD * 3).await;
        assert!(lock(&CLOCK).is_none(), "no timer while idle");
        // A new call starts it again.
        let mut c = Pacer::join();
        c.tick().await;
    }
}
