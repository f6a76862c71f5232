//! Starting the peers Tandem runs beside (Prosody) and `tandem run` itself:
//! one launcher shared by `tandem demo` and the integration tests
//! (`tests/support/`), so both start, wait for and stop them the same way
//! (decision 0033).

pub mod prosody;
pub mod sidecar;

use std::time::{Duration, Instant};

/// A loopback TCP port nobody listens on right now.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// SIGTERM, then a kill after 5 s: daemons get to unregister and log off.
pub fn terminate(child: &mut std::process::Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}
