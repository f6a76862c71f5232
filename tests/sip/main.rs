//! The SIP plugin against real peers on loopback: sipp's own scenarios,
//! baresip and Kamailio, each started by the test. One module per concern;
//! helpers more than one of them use live here.

mod addresses;
mod admission;
mod audio;
mod call_streams;
mod calls;
mod codecs;
mod dtls;
mod dual_stack;
mod identity;
mod linphone;
mod logging;
mod messages;
mod nat;
mod outbound;
mod pjsua2;
mod registration;
mod sessions;
mod srtp;
mod torture;
mod transactions;
mod transport;

use tandem_tests::sidecar::Sidecar;
use tandem_tests::sipp;

const AUTO_ANSWER: &str = "\n[scripts.auto-answer]\nenabled = true\nallow = [\"*\"]\n";

fn scenario(name: &str) -> String {
    sipp::scenario_path(name)
}

/// sipp calls `tandem` once with `how` (`["-sf", file]` or `["-sn",
/// builtin]`), its media on a free port, and must finish as the scenario
/// says.
fn sipp_calls(tandem: &Sidecar, how: &[&str], dir: &std::path::Path) {
    let media_port = sipp::free_udp_port().to_string();
    let to = format!("127.0.0.1:{}", tandem.sip_port());
    let mut args = how.to_vec();
    args.extend(["-m", "1", "-mp", &media_port, &to]);
    sipp::run_ok(&args, dir);
}

/// `tandem` calls sipp's built-in `uas` (on a free port, for one call,
/// answering with plain PCMU and sending no RTP); answers sipp, to be
/// waited for in `dir`, and the `sip.call` command's answer.
fn call_sipp_uas(tandem: &Sidecar, dir: &std::path::Path) -> (sipp::Background, serde_json::Value) {
    let port = sipp::free_udp_port().to_string();
    let uas = sipp::Background::start(&["-sn", "uas", "-m", "1", "-p", &port], dir);
    let call = tandem
        .call(
            "sip.call",
            serde_json::json!({ "to": format!("sip:service@127.0.0.1:{port}") }),
        )
        .unwrap();
    (uas, call)
}

/// A sidecar registering as `user` with the registrar on loopback `port`.
fn registering(user: &str, port: &str, password: &str) -> Sidecar {
    Sidecar::start_sip(
        &format!(
            "user = {user:?}\nregistrar = \"sip:127.0.0.1:{port}\"\npassword = {password:?}\n"
        ),
        &[],
    )
}
