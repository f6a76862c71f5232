//! The 20 ms clock that paces the sending of every call.
//!
//! tokio's timers have a resolution of one millisecond (a sleep ends on the
//! next tick of its wheel), so packets paced by `sleep_until` left up to
//! 1 ms late, unevenly. On Linux the clock is a `timerfd` instead: a kernel
//! high-resolution timer with an absolute period (it never drifts), whose
//! expiry wakes tokio's I/O driver within microseconds. One timer drives all
//! calls (a `watch` channel wakes their tasks together): a timer per call
//! cost twice the CPU at 100 calls for one wake-up each per frame. The
//! driving task stops when the last call's pacer is dropped, so an idle
//! plugin has no timer at all. Off Linux, or without a timerfd, tokio's
//! interval drives it instead.

use std::sync::Mutex;
use std::time::Duration;

use tandem_sdk::tokio;
use tokio::sync::watch;
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
static CLOCK: Mutex<Option<watch::Sender<Tick>>> = Mutex::new(None);

/// A call's view of the shared clock.
pub struct Pacer {
    ticks: watch::Receiver<Tick>,
    seen: u64,
}

impl Pacer {
    /// Joins the running clock, starting it if this is the first call.
    /// Must be called on the plugin's runtime.
    pub fn join() -> Pacer {
        let mut clock = CLOCK.lock().unwrap_or_else(|e| e.into_inner());
        let ticks = match clock.as_ref() {
            Some(sender) => sender.subscribe(),
            None => {
                let (sender, ticks) = watch::channel(Tick {
                    count: 0,
                    due: Instant::now(),
                });
                tokio::spawn(drive(sender.clone()));
                *clock = Some(sender);
                ticks
            }
        };
        let seen = ticks.borrow().count;
        Pacer { ticks, seen }
    }

    /// Waits for the next tick; returns it and how many periods have passed
    /// since the last one (more than 1 when this task was held up).
    pub async fn tick(&mut self) -> (Tick, u64) {
        if self.ticks.changed().await.is_err() {
            // The clock cannot stop while we hold a receiver; be safe anyway.
            tokio::time::sleep(PERIOD).await;
            let tick = Tick {
                count: self.seen + 1,
                due: Instant::now(),
            };
            self.seen += 1;
            return (tick, 1);
        }
        let tick = *self.ticks.borrow_and_update();
        let passed = tick.count.saturating_sub(self.seen).max(1);
        self.seen = tick.count;
        (tick, passed)
    }
}

/// Ticks the shared clock until no call listens.
async fn drive(sender: watch::Sender<Tick>) {
    let running = Running(sender);
    let mut timer = Timer::new();
    let start = Instant::now();
    let mut count = 0u64;
    loop {
        count += timer.wait().await;
        {
            // Under the lock, so no call joins between the count and the
            // clock going away.
            let mut clock = CLOCK.lock().unwrap_or_else(|e| e.into_inner());
            if running.0.receiver_count() == 0 {
                *clock = None;
                return;
            }
        }
        let due = start + PERIOD * u32::try_from(count).unwrap_or(u32::MAX);
        running.0.send_replace(Tick { count, due });
    }
}

/// The driving task's hold on the clock: when the task ends, or its
/// runtime drops it, the clock is taken down, so the next call starts a
/// fresh one instead of waiting on a clock nobody drives.
struct Running(watch::Sender<Tick>);

impl Drop for Running {
    fn drop(&mut self) {
        let mut clock = CLOCK.lock().unwrap_or_else(|e| e.into_inner());
        if clock.as_ref().is_some_and(|s| s.same_channel(&self.0)) {
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_share_one_clock_that_stops_when_the_last_leaves() {
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
        assert!(CLOCK.lock().unwrap().is_none(), "no timer while idle");
        // A new call starts it again.
        let mut c = Pacer::join();
        c.tick().await;
    }
}
