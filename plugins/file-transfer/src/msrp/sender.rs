//! Sending one file over an MSRP session (RFC 4975 §7.1): SEND chunks of
//! at most `chunk_size` bytes, each answered 200 (Failure-Report: yes, the
//! default), then the receiver's success REPORT for the whole file.
//! Chunks are pipelined: up to [`WINDOW`] may wait for their 200, so a
//! round trip per chunk does not set the pace; the window bounds what the
//! receiver may owe. Cancelled here, the next chunk ends with `#`; a 413
//! from the receiver stops the sending.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::{watch, Semaphore};

use super::connection::{Reader, Writer};
use super::error::SessionError;
use super::frame::{ByteRange, Flag, Head, Ids, Kind, Method, ReportMode};
use super::parser::Item;
use super::uri::MsrpUri;

/// Chunks sent and not yet answered, at most.
pub const WINDOW: usize = 128;
/// Queued bytes that make a write without waiting for the window.
const FLUSH_AT: usize = 64 * 1024;
/// Bytes of the file read at a time.
const READ_AHEAD: usize = 256 * 1024;

/// What to send and where.
pub struct Outgoing<'a> {
    /// Our URI (the From-Path).
    pub local: MsrpUri,
    /// The To-Path: relays, then the receiver.
    pub to_path: Vec<MsrpUri>,
    pub file: &'a Path,
    pub media_type: String,
    pub chunk_size: usize,
    /// Bytes the receiver has acknowledged so far.
    pub progress: Arc<AtomicU64>,
    /// Turns true when the user cancels.
    pub cancel: watch::Receiver<bool>,
    /// We listened and the peer connected: its first SEND binds the
    /// connection (RFC 4975 §5.4) and comes before ours.
    pub await_bind: bool,
}

/// Sends `out.file`; `Ok` once the receiver reported the whole file.
pub async fn send_file<R, W>(
    reader: &mut Reader<R>,
    writer: &mut Writer<W>,
    out: Outgoing<'_>,
) -> Result<u64, SessionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    if out.await_bind {
        await_bind(reader, writer, &out.local).await?;
    }
    let file = tokio::fs::File::open(out.file)
        .await
        .map_err(SessionError::Disk)?;
    let size = file.metadata().await.map_err(SessionError::Disk)?.len();
    // Each read of a tokio file is a hop to the blocking pool: read ahead
    // in large blocks, not one chunk at a time.
    let file = tokio::io::BufReader::with_capacity(READ_AHEAD, file);
    let window = Window {
        slots: Semaphore::new(WINDOW),
        waiting: Mutex::new(VecDeque::with_capacity(WINDOW)),
    };
    let mut ids = Ids::default();
    let message_id = ids.next();
    let mut cancel = out.cancel.clone();
    let write = write_chunks(
        writer,
        &out,
        file,
        size,
        &message_id,
        &window,
        &mut ids,
        &mut cancel,
    );
    let read = read_answers(reader, &out, size, &message_id, &window);
    tokio::pin!(write, read);
    let mut written = false;
    loop {
        tokio::select! {
            done = &mut write, if !written => {
                done?;
                written = true;
            }
            done = &mut read => {
                // Answers first: a 413 or a REPORT ends the sending too.
                return done.map(|()| size);
            }
        }
    }
}

/// The chunks written and not yet answered: a slot each, and their
/// transaction ids with the byte each ends at (answers come in order on
/// one connection, but are matched by id all the same).
struct Window {
    slots: Semaphore,
    waiting: Mutex<VecDeque<(String, u64)>>,
}

impl Window {
    fn push(&self, tid: &str, end: u64) {
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back((tid.to_owned(), end));
    }

    /// The end of the chunk `tid` answers, if it was ours.
    fn answered(&self, tid: &str) -> Option<u64> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let i = waiting.iter().position(|(t, _)| t == tid)?;
        let (_, end) = waiting.remove(i)?;
        self.slots.add_permits(1);
        Some(end)
    }
}

/// Waits for the peer's first request and answers it.
async fn await_bind<R, W>(
    reader: &mut Reader<R>,
    writer: &mut Writer<W>,
    local: &MsrpUri,
) -> Result<(), SessionError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let Some(Item::Head(head)) = reader.next().await? else {
        return Err(SessionError::PeerGone { got: 0 });
    };
    if head.method() != Some(&Method::Send) {
        return Err(SessionError::WrongSession("it did not start with SEND"));
    }
    if !head.to_path.last().is_some_and(|to| to.same_as(local)) {
        return Err(SessionError::WrongSession("another session id"));
    }
    // Its body, if it has one, is nothing we asked for.
    loop {
        match reader.next().await? {
            Some(Item::End(_)) => break,
            Some(_) => continue,
            None => return Err(SessionError::PeerGone { got: 0 }),
        }
    }
    if head.failure_report != Some(ReportMode::No) {
        let ok = Head::response(&head, 200, "OK");
        writer.frame(&ok, &[], Flag::Complete).await?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn write_chunks<W: AsyncWrite + Unpin>(
    writer: &mut Writer<W>,
    out: &Outgoing<'_>,
    mut file: tokio::io::BufReader<tokio::fs::File>,
    size: u64,
    message_id: &str,
    window: &Window,
    ids: &mut Ids,
    cancel: &mut watch::Receiver<bool>,
) -> Result<(), SessionError> {
    let mut chunk = vec![0u8; out.chunk_size.max(1)];
    let mut sent = 0u64;
    loop {
        // Queued chunks go out in one write when the window is full, when
        // enough are queued, and at the end.
        if (window.slots.available_permits() == 0 || writer.queued() >= FLUSH_AT)
            && !writer.flush().await?
        {
            return Err(gone(&out.progress));
        }
        let woken = tokio::select! {
            permit = window.slots.acquire() => {
                permit.map_err(|_| SessionError::Cancelled)?.forget();
                false
            }
            Ok(_) = cancel.wait_for(|c| *c) => true,
        };
        let cancelled = woken || *cancel.borrow();
        let want = (size - sent).min(chunk.len() as u64) as usize;
        let filled = if cancelled {
            0
        } else {
            fill(&mut file, &mut chunk[..want]).await?
        };
        if !cancelled && filled < want {
            return Err(SessionError::Disk(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file shrank while it was being sent",
            )));
        }
        let body = &chunk[..filled];
        let mut tid = ids.next();
        // RFC 4975 §7.1: the body must not hold the end-line.
        while super::parser::find(body, tid.as_bytes()).is_some() {
            tid = ids.next();
        }
        let flag = if cancelled {
            Flag::Aborted
        } else if sent + filled as u64 == size {
            Flag::Complete
        } else {
            Flag::More
        };
        let mut head = Head::request(
            &tid,
            Method::Send,
            out.to_path.clone(),
            vec![out.local.clone()],
        );
        head.message_id = Some(message_id.to_owned());
        head.byte_range = Some(ByteRange {
            start: sent + 1,
            end: (flag != Flag::Aborted).then_some(sent + filled as u64),
            total: Some(size),
        });
        if sent == 0 {
            head.success_report = Some(ReportMode::Yes);
        }
        head.content_type = Some(out.media_type.clone());
        window.push(&tid, sent + filled as u64);
        writer.queue(&head, body, flag);
        if flag != Flag::More && !writer.flush().await? {
            return Err(gone(&out.progress));
        }
        sent += filled as u64;
        match flag {
            Flag::Aborted => return Err(SessionError::Cancelled),
            Flag::Complete => return Ok(()),
            Flag::More => {}
        }
    }
}

fn gone(progress: &AtomicU64) -> SessionError {
    SessionError::PeerGone {
        got: progress.load(Ordering::Relaxed),
    }
}

/// Reads 200s (each frees a window slot), then the success REPORT.
async fn read_answers<R: AsyncRead + Unpin>(
    reader: &mut Reader<R>,
    out: &Outgoing<'_>,
    size: u64,
    message_id: &str,
    window: &Window,
) -> Result<(), SessionError> {
    loop {
        let Some(item) = reader.next().await? else {
            return Err(gone(&out.progress));
        };
        let Item::Head(head) = item else { continue };
        match &head.kind {
            Kind::Response { code: 200, .. } => {
                if let Some(end) = window.answered(&head.tid) {
                    out.progress.fetch_max(end, Ordering::Relaxed);
                }
            }
            Kind::Response { code: 413, .. } => return Err(SessionError::CancelledByPeer),
            Kind::Response { code, comment } => {
                return Err(SessionError::Refused {
                    code: *code,
                    comment: comment.clone().unwrap_or_default(),
                })
            }
            Kind::Request(Method::Report) if head.message_id.as_deref() == Some(message_id) => {
                let reported = head.byte_range.and_then(|r| r.end).unwrap_or(0);
                out.progress.store(reported.min(size), Ordering::Relaxed);
                match head.status.as_ref().map(|s| s.code) {
                    Some(200) if reported >= size => return Ok(()),
                    Some(200) => {}
                    Some(413) => return Err(SessionError::CancelledByPeer),
                    code => {
                        return Err(SessionError::Refused {
                            code: code.unwrap_or(0),
                            comment: "in its report".into(),
                        })
                    }
                }
            }
            // REPORTs are never answered; other requests are not ours to
            // take in a session that only sends.
            Kind::Request(_) => {}
        }
    }
}

/// Reads until `buf` is full or the file ends; answers the bytes read.
async fn fill(
    file: &mut tokio::io::BufReader<tokio::fs::File>,
    buf: &mut [u8],
) -> Result<usize, SessionError> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = file
            .read(&mut buf[filled..])
            .await
            .map_err(SessionError::Disk)?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}
