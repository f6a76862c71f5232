//! Many calls up at once with RTP flowing: Tandem's CPU and RSS per call,
//! and how evenly it paces the RTP it sends (the send-interval jitter, as a
//! receiver on loopback sees it).
//!
//! `cargo bench -p tandem-tests --bench concurrent_calls`
//! (TANDEM_BENCH_CALLS, default 100; TANDEM_BENCH_SECONDS, the measured
//! window, default 20). sipp places the calls (`tests/sipp/long_call_uac.xml`)
//! and Tandem answers them (auto-answer rule) and sends a tone in each; every
//! call's media is pointed at one UDP socket of this bench. Each packet's
//! arrival time is the kernel's (SO_TIMESTAMPNS), so the bench's own
//! wake-ups on this 2-core machine stay out of the figure. Jitter is
//! |interval − 20 ms| between consecutive packets of one stream.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use tandem_tests::measure::{cpu_seconds, env_or, percentile, status_mib};
use tandem_tests::sidecar::Sidecar;
use tandem_tests::sipp;

fn main() {
    let calls: u64 = env_or("TANDEM_BENCH_CALLS", 100);
    let window: u64 = env_or("TANDEM_BENCH_SECONDS", 20);
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sink_port = sink.local_addr().unwrap().port().to_string();
    let tandem = Sidecar::start_sip(
        "user = \"alice\"\nsource = \"tone:440\"\nmedia_timeout_seconds = 0\n\
         [scripts.auto-answer]\nenabled = true\nallow = [\"*\"]\n",
        &["auto-answer"],
    );
    std::thread::sleep(Duration::from_secs(2));
    let pid = tandem.pid();
    let idle_rss = status_mib(pid, "VmRSS");

    let dir = tempfile::tempdir().unwrap();
    let scenario = tandem_tests::workspace().join("tests/sipp/long_call_uac.xml");
    let hold_ms = ((window + 10) * 1000).to_string();
    let sipp_timeout = format!("{}s", window + 60);
    let calls_text = calls.to_string();
    let sipp = sipp::Background::start(
        &[
            "-sf",
            scenario.to_str().unwrap(),
            "-key",
            "rtp_sink",
            &sink_port,
            "-r",
            "50",
            "-l",
            &calls_text,
            "-m",
            &calls_text,
            "-d",
            &hold_ms,
            "-timeout",
            &sipp_timeout,
            &format!("127.0.0.1:{}", tandem.sip_port()),
        ],
        dir.path(),
    );
    tandem.wait_for_n("SIP sip.call.answered", calls as usize);
    // Let every stream start and the jitter buffers fill.
    std::thread::sleep(Duration::from_secs(2));

    // The machine's floor, in the same run: one bare sender thread pacing
    // 20 ms packets with the kernel's high-resolution sleep, to the same
    // socket. Tandem's figure is read against this one.
    let reference = UdpSocket::bind("127.0.0.1:0").unwrap();
    let reference_port = reference.local_addr().unwrap().port();
    let sink_addr = sink.local_addr().unwrap();
    let reference_stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = reference_stop.clone();
    let reference_thread = std::thread::spawn(move || {
        let start = Instant::now();
        let mut n = 0u32;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            n += 1;
            let due = start + Duration::from_millis(20) * n;
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            reference.send_to(&[0u8; 172], sink_addr).ok();
        }
    });
    // What queued up before the window is not part of it.
    sink.set_nonblocking(true).unwrap();
    let mut scratch = [0u8; 2048];
    while sink.recv_from(&mut scratch).is_ok() {}
    sink.set_nonblocking(false).unwrap();
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    let mut last: HashMap<u16, i128> = HashMap::new();
    let mut deviations_us: Vec<f64> = Vec::new();
    let mut packets = 0u64;
    let mut reference_us: Vec<f64> = Vec::new();
    sink.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    kernel_stamps::enable(&sink);
    while started.elapsed() < Duration::from_secs(window) {
        let Some((from, arrival_ns)) = kernel_stamps::recv(&sink) else {
            continue;
        };
        let Some(previous) = last.insert(from, arrival_ns) else {
            continue;
        };
        let deviation_us = ((arrival_ns - previous) as f64 / 1e3 - 20_000.0).abs();
        if from == reference_port {
            reference_us.push(deviation_us);
        } else {
            packets += 1;
            deviations_us.push(deviation_us);
        }
    }
    let cpu = (cpu_seconds(pid) - cpu_before) / window as f64;
    reference_stop.store(true, std::sync::atomic::Ordering::Relaxed);
    reference_thread.join().unwrap();
    reference_us.sort_by(|a, b| a.total_cmp(b));
    let rss = status_mib(pid, "VmRSS");
    deviations_us.sort_by(|a, b| a.total_cmp(b));
    let expected = calls * window * 50;
    println!(
        "concurrent_calls: {calls} calls up for {window} s, {} streams heard, \
         {packets} RTP packets of {expected} expected",
        last.len() - 1
    );
    println!(
        "reference sender (one thread, high-resolution sleep), same run: jitter p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
        percentile(&reference_us, 0.50),
        percentile(&reference_us, 0.99),
        reference_us.last().copied().unwrap_or(0.0),
    );
    println!("| calls | CPU (of one core) | CPU per call | RSS idle | RSS | RSS per call | send jitter p50 | p99 | p99.9 | max |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {calls} | {:.1} % | {:.3} % | {idle_rss:.1} MiB | {rss:.1} MiB | {:.0} KiB | {:.0} µs | {:.0} µs | {:.0} µs | {:.0} µs |",
        cpu * 100.0,
        cpu * 100.0 / calls as f64,
        (rss - idle_rss) * 1024.0 / calls as f64,
        percentile(&deviations_us, 0.50),
        percentile(&deviations_us, 0.99),
        percentile(&deviations_us, 0.999),
        deviations_us.last().copied().unwrap_or(0.0),
    );
    sipp.wait_ok(dir.path());
}

/// Arrival times as the kernel stamped them (SO_TIMESTAMPNS), with the
/// sender's port (each Tandem call sends from its own).
mod kernel_stamps {
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    pub fn enable(socket: &UdpSocket) {
        let on: libc::c_int = 1;
        // SAFETY: a valid socket and an int option of the right size.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "SO_TIMESTAMPNS: {}", std::io::Error::last_os_error());
    }

    /// One datagram: the sender's port and the arrival in nanoseconds
    /// (CLOCK_REALTIME), or `None` on timeout.
    pub fn recv(socket: &UdpSocket) -> Option<(u16, i128)> {
        let mut data = [0u8; 2048];
        let mut control = [0u8; 128];
        // SAFETY: zeroed plain C structs, filled in below.
        let mut from: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
        header.msg_name = (&mut from as *mut libc::sockaddr_in).cast();
        header.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        header.msg_iov = &mut iov;
        header.msg_iovlen = 1;
        header.msg_control = control.as_mut_ptr().cast();
        header.msg_controllen = control.len();
        // SAFETY: every pointer in `header` points at live buffers above.
        let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut header, 0) };
        if n < 0 {
            return None;
        }
        // SAFETY: walking the control messages the kernel wrote.
        let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&header) };
        while !cmsg.is_null() {
            let c = unsafe { &*cmsg };
            if c.cmsg_level == libc::SOL_SOCKET && c.cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec =
                    unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast()) };
                let ns = i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec);
                return Some((u16::from_be(from.sin_port), ns));
            }
            cmsg = unsafe { libc::CMSG_NXTHDR(&header, cmsg) };
        }
        None
    }
}
