//! Receiving one file over an MSRP session into the download folder:
//! the chunks of one message, in order, streamed to the `.part` file with
//! the size checked against the offer and `max_size` and SHA-256 taken as
//! they arrive — the same checks an HTTP download gets — then the hash
//! compared with the one offered (RFC 5547 `a=file-selector`), if any.
//! Each chunk is answered 200; the whole file a success REPORT. A cancel
//! here answers the next chunk 413 (RFC 4975 §7.1); a `#` chunk is the
//! sender's cancel. Any failure removes the part file.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use super::connection::{Reader, Writer};
use super::error::SessionError;
use super::frame::{ByteRange, Flag, Head, Ids, Kind, Method, ReportMode, Status};
use super::parser::Item;
use super::uri::MsrpUri;
use crate::error::TransferError;
use crate::fetched::{hex, Fetched};

/// Bytes gathered before each write to disk (as for HTTP downloads).
const WRITE_BUFFER: usize = 256 * 1024;
/// How long a refused sender is given to stop.
const LINGER: std::time::Duration = std::time::Duration::from_secs(2);

/// Where the file goes and the limits on it.
pub struct Incoming<'a> {
    /// Our URI: each SEND's To-Path must end with it.
    pub local: MsrpUri,
    /// The sender's path, from its `a=path` (the From-Path we answer to).
    pub remote: Vec<MsrpUri>,
    pub part: &'a Path,
    /// The size offered (`a=file-selector` size), if any.
    pub offered: Option<u64>,
    pub max_size: u64,
    /// The SHA-256 offered, lower-case hex, if any.
    pub sha256: Option<String>,
    pub progress: Arc<AtomicU64>,
    pub cancel: watch::Receiver<bool>,
    /// We connected (the active side): our SEND binds the connection.
    pub bind: bool,
}

/// Receives into `inc.part`; on any error the part file is removed.
pub async fn receive_file<R, W>(
    reader: &mut Reader<R>,
    writer: &mut Writer<W>,
    inc: Incoming<'_>,
) -> Result<Fetched, TransferError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let result = receive(reader, writer, &inc).await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(inc.part).await;
    }
    result
}

async fn receive<R, W>(
    reader: &mut Reader<R>,
    writer: &mut Writer<W>,
    inc: &Incoming<'_>,
) -> Result<Fetched, TransferError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut ids = Ids::default();
    if inc.bind {
        // RFC 4975 §5.4: the active side speaks first; a SEND without body.
        let mut head = Head::request(
            &ids.next(),
            Method::Send,
            inc.remote.clone(),
            vec![inc.local.clone()],
        );
        head.message_id = Some(ids.next());
        head.byte_range = Some(ByteRange {
            start: 1,
            end: Some(0),
            total: Some(0),
        });
        head.success_report = Some(ReportMode::No);
        head.failure_report = Some(ReportMode::Yes);
        writer.frame(&head, &[], Flag::Complete).await?;
    }
    let dir = inc.part.parent().map(Path::to_owned).unwrap_or_default();
    let disk = |source| TransferError::Disk {
        dir: dir.clone(),
        source,
    };
    let file = tokio::fs::File::create(inc.part).await.map_err(disk)?;
    let mut file = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut message_id: Option<String> = None;
    let mut wants_report = false;
    loop {
        // Answers wait while more frames are already here, then go in one
        // write (the flush before a read from the socket).
        if !reader.has_buffered() {
            writer.flush().await?;
        }
        // A cancel is seen at the next chunk, answered 413.
        let item = reader.next().await?;
        let head = match item {
            None => return Err(SessionError::PeerGone { got: size }.into()),
            Some(Item::Head(head)) => head,
            Some(_) => continue,
        };
        match head.method() {
            Some(Method::Send) => {}
            // Answers to our binding SEND, REPORTs: nothing to do.
            None | Some(Method::Report) => {
                if let Kind::Response { code, comment } = &head.kind {
                    if *code != 200 {
                        let comment = comment.clone().unwrap_or_default();
                        return Err(SessionError::Refused {
                            code: *code,
                            comment,
                        }
                        .into());
                    }
                }
                skip_body(reader, size).await?;
                continue;
            }
            Some(_) => {
                skip_body(reader, size).await?;
                answer(writer, &head, 501, "Unknown method").await?;
                continue;
            }
        }
        if !head.to_path.last().is_some_and(|to| to.same_as(&inc.local)) {
            skip_body(reader, size).await?;
            answer(writer, &head, 481, "Session does not exist").await?;
            return Err(SessionError::WrongSession("another session id").into());
        }
        if head.content_type.is_none() {
            // A bodiless SEND (the peer binding the connection): 200.
            skip_body(reader, size).await?;
            answer(writer, &head, 200, "OK").await?;
            continue;
        }
        if *inc.cancel.borrow() {
            skip_body(reader, size).await?;
            answer(writer, &head, 413, "Stop sending").await?;
            linger(reader).await;
            return Err(SessionError::Cancelled.into());
        }
        match (&message_id, &head.message_id) {
            (_, None) => {
                return Err(SessionError::WrongSession("a chunk without Message-ID").into())
            }
            (None, Some(id)) => message_id = Some(id.clone()),
            (Some(ours), Some(id)) if ours != id => {
                return Err(
                    SessionError::WrongSession("a second message in a one-file session").into(),
                )
            }
            _ => {}
        }
        // Success-Report (default no) may come on the first chunk only;
        // a later chunk's own value wins.
        if let Some(mode) = head.success_report {
            wants_report = mode == ReportMode::Yes;
        }
        let start = head.byte_range.map_or(1, |r| r.start);
        if start != size + 1 {
            return Err(SessionError::OutOfOrder {
                start,
                expected: size + 1,
            }
            .into());
        }
        if let Some(total) = head.byte_range.and_then(|r| r.total) {
            if let Err(e) = check_size(total, inc) {
                skip_body(reader, size).await?;
                let _ = answer(writer, &head, 413, "Too large").await;
                linger(reader).await;
                return Err(e);
            }
        }
        // The chunk's body, streamed.
        let flag = loop {
            match reader.next().await? {
                Some(Item::Body(data)) => {
                    size += data.len() as u64;
                    if let Err(e) = check_size(size, inc) {
                        let _ = answer(writer, &head, 413, "Too large").await;
                        linger(reader).await;
                        return Err(e);
                    }
                    hasher.update(&data);
                    file.write_all(&data).await.map_err(disk)?;
                    inc.progress.store(size, Ordering::Relaxed);
                }
                Some(Item::End(flag)) => break flag,
                Some(Item::Head(_)) | None => {
                    return Err(SessionError::PeerGone { got: size }.into())
                }
            }
        };
        if flag == Flag::Aborted {
            return Err(SessionError::CancelledByPeer.into());
        }
        if head.failure_report.unwrap_or(ReportMode::Yes) == ReportMode::Yes {
            writer.queue(&Head::response(&head, 200, "OK"), &[], Flag::Complete);
        }
        if flag == Flag::More {
            continue;
        }
        writer.flush().await?;
        file.flush().await.map_err(disk)?;
        file.get_ref().sync_all().await.map_err(disk)?;
        if let Some(offered) = inc.offered {
            if size < offered {
                return Err(TransferError::ShorterThanOffered { got: size, offered });
            }
        }
        let sha256 = hex(&hasher.finalize());
        if inc
            .sha256
            .as_ref()
            .is_some_and(|h| !h.eq_ignore_ascii_case(&sha256))
        {
            return Err(SessionError::HashMismatch.into());
        }
        if wants_report {
            report(writer, &head, &mut ids, size).await?;
        }
        return Ok(Fetched {
            size,
            sha256,
            content_type: head.content_type.clone(),
        });
    }
}

/// The success REPORT for the whole message (RFC 4975 §7.1.2).
async fn report<W: AsyncWrite + Unpin>(
    writer: &mut Writer<W>,
    last: &Head,
    ids: &mut Ids,
    size: u64,
) -> Result<(), SessionError> {
    let mut head = Head::request(
        &ids.next(),
        Method::Report,
        last.from_path.clone(),
        last.to_path.last().cloned().into_iter().collect(),
    );
    head.message_id = last.message_id.clone();
    head.byte_range = Some(ByteRange {
        start: 1,
        end: Some(size),
        total: Some(size),
    });
    head.status = Some(Status {
        namespace: 0,
        code: 200,
        comment: Some("OK".into()),
    });
    writer.frame(&head, &[], Flag::Complete).await?;
    Ok(())
}

async fn answer<W: AsyncWrite + Unpin>(
    writer: &mut Writer<W>,
    request: &Head,
    code: u16,
    comment: &str,
) -> Result<(), SessionError> {
    writer
        .frame(&Head::response(request, code, comment), &[], Flag::Complete)
        .await?;
    Ok(())
}

/// After a 413, reads what the sender had already sent until it stops
/// (a `#` chunk or closing), for a few seconds at most: closing on unread
/// bytes would reset the connection and lose the 413 on its way.
async fn linger<R: AsyncRead + Unpin>(reader: &mut Reader<R>) {
    let drain = async {
        while let Ok(Some(item)) = reader.next().await {
            if item == Item::End(Flag::Aborted) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

/// Reads past the current frame's body.
async fn skip_body<R: AsyncRead + Unpin>(
    reader: &mut Reader<R>,
    got: u64,
) -> Result<(), SessionError> {
    loop {
        match reader.next().await? {
            Some(Item::End(_)) => return Ok(()),
            Some(Item::Body(_)) => continue,
            Some(Item::Head(_)) | None => return Err(SessionError::PeerGone { got }),
        }
    }
}

/// The offer first: "larger than offered" says more than "too large".
fn check_size(size: u64, inc: &Incoming<'_>) -> Result<(), TransferError> {
    match inc.offered {
        Some(offered) if size > offered => Err(TransferError::LargerThanOffered { offered }),
        _ if size > inc.max_size => Err(TransferError::TooLarge {
            limit: inc.max_size,
        }),
        _ => Ok(()),
    }
}
