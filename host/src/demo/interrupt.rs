//! Ctrl-C during the demo stops it cleanly.
//!
//! The demo's children (Prosody, three `tandem run`) are put in process
//! groups of their own, so a terminal's Ctrl-C reaches the demo alone; the
//! demo then stops them in order and removes its folder, as at the end of
//! a normal run. The signal only sets a flag (all a handler may safely do);
//! the steps' waits look at it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::DemoError;

/// How often a wait looks at the flag.
pub const POLL: Duration = Duration::from_millis(100);

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Catches SIGINT and SIGTERM from now on.
pub fn catch() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is
    // async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// `Err(Interrupted)` once a signal came.
pub fn check() -> Result<(), DemoError> {
    match INTERRUPTED.load(Ordering::SeqCst) {
        true => Err(DemoError::Interrupted),
        false => Ok(()),
    }
}

/// Sleeps `total`, unless interrupted.
pub fn sleep(total: Duration) -> Result<(), DemoError> {
    let end = Instant::now() + total;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        check()?;
        std::thread::sleep(left.min(POLL));
    }
    check()
}
