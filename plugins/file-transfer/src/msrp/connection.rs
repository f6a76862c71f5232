//! One MSRP connection: frames read through the streaming parser, frames
//! written whole (head, body, end-line) in one buffer so a chunk goes out
//! in one write. Each read waits at most [`READ_TIMEOUT`].

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::error::SessionError;
use super::frame::{end_line, Flag, Head};
use super::parser::{Item, Parser};

/// How long a peer may stay silent while something is owed.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes asked of the socket at a time.
const READ_SIZE: usize = 64 * 1024;

/// The reading half.
pub struct Reader<R> {
    io: R,
    buf: BytesMut,
    parser: Parser,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    pub fn new(io: R) -> Self {
        Reader {
            io,
            buf: BytesMut::with_capacity(READ_SIZE),
            parser: Parser::default(),
        }
    }

    /// Whether bytes are waiting in the buffer: the next item may need no
    /// read from the socket.
    pub fn has_buffered(&self) -> bool {
        !self.buf.is_empty()
    }

    /// The next item; `None` when the peer closed the connection.
    pub async fn next(&mut self) -> Result<Option<Item>, SessionError> {
        loop {
            if let Some(item) = self.parser.next(&mut self.buf)? {
                return Ok(Some(item));
            }
            self.buf.reserve(READ_SIZE);
            let read = tokio::time::timeout(READ_TIMEOUT, self.io.read_buf(&mut self.buf))
                .await
                .map_err(|_| SessionError::Timeout {
                    seconds: READ_TIMEOUT.as_secs(),
                })?;
            match read {
                Ok(0) => return Ok(None),
                Ok(_) => {}
                Err(e) if gone(&e) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// The writing half.
pub struct Writer<W> {
    io: W,
    out: Vec<u8>,
}

impl<W: AsyncWrite + Unpin> Writer<W> {
    pub fn new(io: W) -> Self {
        Writer {
            io,
            out: Vec::new(),
        }
    }

    /// Writes `head`, then `body` if the head has a Content-Type, then the
    /// end-line with `flag`, and sends all that is queued. A peer that
    /// hung up is `Ok(false)`.
    pub async fn frame(
        &mut self,
        head: &Head,
        body: &[u8],
        flag: Flag,
    ) -> Result<bool, SessionError> {
        self.queue(head, body, flag);
        self.flush().await
    }

    /// Queues a frame to go with the next [`Writer::flush`]: a run of
    /// chunks, or of answers, then leaves in one write, not one each.
    pub fn queue(&mut self, head: &Head, body: &[u8], flag: Flag) {
        self.out.extend(head.encode());
        let has_body = head.content_type.is_some();
        if has_body {
            self.out.extend_from_slice(body);
        }
        self.out.extend(end_line(&head.tid, flag, has_body));
    }

    /// Bytes queued and not yet sent.
    pub fn queued(&self) -> usize {
        self.out.len()
    }

    /// Sends what is queued. A peer that hung up is `Ok(false)`.
    pub async fn flush(&mut self) -> Result<bool, SessionError> {
        if self.out.is_empty() {
            return Ok(true);
        }
        let result = self.io.write_all(&self.out).await;
        self.out.clear();
        match result {
            Ok(()) => Ok(true),
            Err(e) if gone(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn shutdown(&mut self) {
        let _ = self.io.shutdown().await;
    }
}

/// The errors a peer's closing shows as.
fn gone(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        BrokenPipe | ConnectionReset | ConnectionAborted | UnexpectedEof
    )
}
