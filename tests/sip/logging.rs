//! What the plugin and the libraries inside it log, and when.

use tandem_tests::sidecar::Sidecar;

/// `RUST_LOG=sip=debug` reaches into the plugin, down to the libraries it
/// is built on (rsipstack logs through `tracing`), with the plugin id as
/// target; without it, nothing below info is even sent to the host.
#[test]
fn debug_logging_reaches_the_plugins_libraries_only_when_asked() {
    let verbose = Sidecar::start_sip_with_env(
        "",
        &[],
        &[("RUST_LOG".to_owned(), "info,sip=debug".to_owned())],
    );
    let log = verbose.wait_for("DEBUG sip: [rsipstack::");
    assert!(log.contains("created UDP connection"), "{log}");
    let quiet = Sidecar::start_sip("", &[]);
    // A request and its answer: rsipstack logs both, bodies included, at
    // its info level, which counts as debug outside its own crate.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let me = socket.local_addr().unwrap();
    let options = format!(
        "OPTIONS sip:tandem@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-log1\r\n\
         From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:tandem@127.0.0.1>\r\nCall-ID: log-1\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    socket
        .send_to(options.as_bytes(), ("127.0.0.1", quiet.sip_port()))
        .unwrap();
    let mut answer = [0u8; 2048];
    let (n, _) = socket.recv_from(&mut answer).unwrap();
    assert!(answer[..n].starts_with(b"SIP/2.0 200"));
    let log = quiet.log();
    assert!(
        !log.contains("DEBUG") && !log.contains("raw_message"),
        "{log}"
    );
}
