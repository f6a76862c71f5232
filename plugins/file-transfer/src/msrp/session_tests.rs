//! One file each way over a real loopback TCP connection: the receiver
//! connects (the active side, RFC 6135's default for the answerer) and
//! binds with an empty SEND; the sender listens.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::connection::{Reader, Writer};
use super::error::SessionError;
use super::receiver::{receive_file, Incoming};
use super::sender::{send_file, Outgoing};
use super::uri::MsrpUri;
use crate::error::TransferError;
use crate::fetched::{hex, Fetched};

/// How the receiving side behaves.
#[derive(Default, Clone)]
struct Receive {
    sha256: Option<String>,
    offered: Option<u64>,
    max_size: Option<u64>,
    /// Cancel once this many bytes arrived.
    cancel_at: Option<u64>,
    /// Drop the connection once this many bytes arrived.
    hang_up_at: Option<u64>,
}

struct Outcome {
    sent: Result<u64, SessionError>,
    received: Result<Fetched, TransferError>,
    part: PathBuf,
    acknowledged: u64,
}

fn file_of(dir: &Path, size: usize) -> (PathBuf, String) {
    let bytes: Vec<u8> = (0..size).map(|i| (i * 7 + i / 253) as u8).collect();
    let path = dir.join("source.bin");
    std::fs::write(&path, &bytes).unwrap();
    (path, hex(&Sha256::digest(&bytes)))
}

/// Sends `file` from one side to the other with `chunk_size` chunks;
/// `cancel_sender_at` cancels the sending side after that many bytes.
async fn transfer(
    file: &Path,
    chunk_size: usize,
    rx: Receive,
    cancel_sender_at: Option<u64>,
) -> Outcome {
    let dir = file.parent().unwrap().to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let sender_uri = MsrpUri::tcp("127.0.0.1", port, "sndr1234");
    let receiver_uri = MsrpUri::tcp("127.0.0.1", 9, "rcvr5678");
    let part = dir.join(".x.part");

    let (cancel_tx, cancel_rx) = watch::channel(false);
    let acknowledged = Arc::new(AtomicU64::new(0));
    let sender = {
        let (uri, to, file, progress) = (
            sender_uri.clone(),
            receiver_uri.clone(),
            file.to_owned(),
            acknowledged.clone(),
        );
        async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (r, w) = stream.into_split();
            let (mut r, mut w) = (Reader::new(r), Writer::new(w));
            let out = Outgoing {
                local: uri,
                to_path: vec![to],
                file: &file,
                media_type: "application/octet-stream".into(),
                chunk_size,
                progress,
                cancel: cancel_rx,
                await_bind: true,
            };
            send_file(&mut r, &mut w, out).await
        }
    };
    if let Some(at) = cancel_sender_at {
        let progress = acknowledged.clone();
        tokio::spawn(async move {
            while progress.load(Ordering::Relaxed) < at {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            let _ = cancel_tx.send(true);
        });
    } else {
        std::mem::forget(cancel_tx);
    }

    let (rx_cancel_tx, rx_cancel_rx) = watch::channel(false);
    let received_bytes = Arc::new(AtomicU64::new(0));
    let receiver = {
        let part = part.clone();
        let progress = received_bytes.clone();
        let rx = rx.clone();
        async move {
            let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            let (r, w) = stream.into_split();
            let (mut r, mut w) = (Reader::new(r), Writer::new(w));
            let inc = Incoming {
                local: receiver_uri,
                remote: vec![sender_uri],
                part: &part,
                offered: rx.offered,
                max_size: rx.max_size.unwrap_or(u64::MAX),
                sha256: rx.sha256,
                progress,
                cancel: rx_cancel_rx,
                bind: true,
            };
            receive_file(&mut r, &mut w, inc).await
        }
    };
    let watcher = {
        let progress = received_bytes.clone();
        async move {
            loop {
                let got = progress.load(Ordering::Relaxed);
                if rx.cancel_at.is_some_and(|at| got >= at) {
                    let _ = rx_cancel_tx.send(true);
                    return false;
                }
                if rx.hang_up_at.is_some_and(|at| got >= at) {
                    return true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        }
    };
    let (sent, received) = tokio::join!(sender, async {
        tokio::select! {
            r = receiver => r,
            true = watcher => Err(SessionError::Cancelled.into()),
        }
    });
    Outcome {
        sent,
        received,
        part,
        acknowledged: acknowledged.load(Ordering::Relaxed),
    }
}

#[tokio::test]
async fn a_file_arrives_whole_in_small_chunks_with_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    // Not a multiple of the chunk size: the last chunk is short.
    let (file, sha) = file_of(dir.path(), 300_001);
    let out = transfer(
        &file,
        4096,
        Receive {
            sha256: Some(sha.clone()),
            offered: Some(300_001),
            ..Default::default()
        },
        None,
    )
    .await;
    assert_eq!(out.sent.unwrap(), 300_001);
    let fetched = out.received.unwrap();
    assert_eq!(
        (fetched.size, fetched.sha256.as_str()),
        (300_001, sha.as_str())
    );
    let written = std::fs::read(&out.part).unwrap();
    assert_eq!(hex(&Sha256::digest(&written)), sha);
    // The success REPORT covered the whole file.
    assert_eq!(out.acknowledged, 300_001);
}

#[tokio::test]
async fn an_empty_file_and_a_one_chunk_file_arrive() {
    for size in [0, 1, 4096] {
        let dir = tempfile::tempdir().unwrap();
        let (file, sha) = file_of(dir.path(), size);
        let out = transfer(
            &file,
            4096,
            Receive {
                sha256: Some(sha.clone()),
                ..Default::default()
            },
            None,
        )
        .await;
        assert_eq!(out.sent.unwrap(), size as u64, "size {size}");
        assert_eq!(out.received.unwrap().sha256, sha);
    }
}

/// How each side ended, as `Debug` text, and whether a part file is left.
fn ended(out: &Outcome) -> (String, String, bool) {
    let sent = format!("{:?}", out.sent.as_ref().map(|_| "sent"));
    let received = format!("{:?}", out.received.as_ref().map(|_| "received"));
    (sent, received, out.part.exists())
}

fn expect(sent: &str, received: &str) -> (String, String, bool) {
    (sent.to_owned(), received.to_owned(), false)
}

#[tokio::test]
async fn a_hash_other_than_offered_deletes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = file_of(dir.path(), 10_000);
    let rx = Receive {
        sha256: Some("00".repeat(32)),
        ..Default::default()
    };
    let out = transfer(&file, 4096, rx, None).await;
    // No success REPORT: the sender does not count it as delivered.
    assert_eq!(
        ended(&out),
        expect("Err(PeerGone { got: 10000 })", "Err(Direct(HashMismatch))")
    );
}

#[tokio::test]
async fn the_receiver_cancels_with_413() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = file_of(dir.path(), 2_000_000);
    let rx = Receive {
        cancel_at: Some(100_000),
        ..Default::default()
    };
    let out = transfer(&file, 4096, rx, None).await;
    assert_eq!(
        ended(&out),
        expect("Err(CancelledByPeer)", "Err(Direct(Cancelled))")
    );
}

#[tokio::test]
async fn the_sender_cancels_with_a_hash_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = file_of(dir.path(), 2_000_000);
    let out = transfer(&file, 4096, Receive::default(), Some(100_000)).await;
    assert_eq!(
        ended(&out),
        expect("Err(Cancelled)", "Err(Direct(CancelledByPeer))")
    );
}

#[tokio::test]
async fn a_receiver_gone_mid_transfer_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = file_of(dir.path(), 4_000_000);
    let rx = Receive {
        hang_up_at: Some(200_000),
        ..Default::default()
    };
    let out = transfer(&file, 4096, rx, None).await;
    match out.sent {
        Err(SessionError::PeerGone { got }) => assert!(got < 4_000_000, "{got}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn more_than_the_cap_or_the_offer_is_refused_while_streaming() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = file_of(dir.path(), 50_000);
    let capped = Receive {
        max_size: Some(20_000),
        ..Default::default()
    };
    let out = transfer(&file, 4096, capped, None).await;
    assert_eq!(
        ended(&out),
        expect("Err(CancelledByPeer)", "Err(TooLarge { limit: 20000 })")
    );
    let smaller_offer = Receive {
        offered: Some(30_000),
        ..Default::default()
    };
    let out = transfer(&file, 4096, smaller_offer, None).await;
    assert_eq!(
        ended(&out),
        expect(
            "Err(CancelledByPeer)",
            "Err(LargerThanOffered { offered: 30000 })"
        )
    );
}

/// This process's resident memory and CPU seconds so far (Linux /proc).
fn rss_and_cpu() -> (u64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command's closing parenthesis: utime is the 12th.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // USER_HZ is 100 on Linux.
    (rss_kib * 1024, (ticks(11) + ticks(12)) as f64 / 100.0)
}

/// The MSRP benchmark (docs/benchmarks.md, docs/decisions/0066): one file
/// of `MSRP_BENCH_MIB` MiB (256) sent and received over loopback in this
/// process, for each chunk size in `MSRP_BENCH_CHUNKS` (4096,16384,65536).
/// Run optimised:
/// `CARGO_PROFILE_TEST_OPT_LEVEL=3 CARGO_PROFILE_DEV_OPT_LEVEL=3 CARGO_TARGET_DIR=target/bench-msrp cargo test -p tandem-plugin-file-transfer --lib msrp_throughput -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run by hand, optimised"]
async fn msrp_throughput() {
    let mib: usize = std::env::var("MSRP_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let chunks: Vec<usize> = std::env::var("MSRP_BENCH_CHUNKS")
        .unwrap_or_else(|_| "4096,16384,65536".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    // On the disk the build uses, not /tmp: two copies of the file.
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/msrp-bench");
    std::fs::create_dir_all(&base).unwrap();
    let dir = tempfile::tempdir_in(&base).unwrap();
    let (file, sha) = file_of(dir.path(), mib << 20);
    for chunk in chunks {
        let (idle_rss, cpu_before) = rss_and_cpu();
        let peak = Arc::new(AtomicU64::new(idle_rss));
        let sampler = {
            let peak = peak.clone();
            tokio::spawn(async move {
                loop {
                    peak.fetch_max(rss_and_cpu().0, Ordering::Relaxed);
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            })
        };
        let started = std::time::Instant::now();
        let rx = Receive {
            sha256: Some(sha.clone()),
            ..Default::default()
        };
        let out = transfer(&file, chunk, rx, None).await;
        let seconds = started.elapsed().as_secs_f64();
        sampler.abort();
        let (_, cpu_after) = rss_and_cpu();
        assert_eq!(out.received.unwrap().sha256, sha);
        let _ = std::fs::remove_file(&out.part);
        let mb = (mib << 20) as f64 / 1e6;
        println!(
            "chunk {chunk:>6} B: {:.0} MB/s, RSS +{:.1} MB over {:.1} MB, CPU {:.2} ms/MB (both ends)",
            mb / seconds,
            (peak.load(Ordering::Relaxed).saturating_sub(idle_rss)) as f64 / 1e6,
            idle_rss as f64 / 1e6,
            (cpu_after - cpu_before) * 1000.0 / mb,
        );
    }
}
