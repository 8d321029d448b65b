//! Small I/O helpers shared by the checks.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// Appends what one read returns to `buf`, never letting it grow past `max` bytes.
/// Returns how many bytes came, 0 at end of stream.
pub(super) async fn read_more<S>(stream: &mut S, buf: &mut Vec<u8>, max: usize) -> io::Result<usize>
where
    S: AsyncRead + Unpin,
{
    let mut chunk = [0u8; 1024];
    let room = max.saturating_sub(buf.len()).min(chunk.len());
    if room == 0 {
        return Err(io::Error::other(format!("more than {max} bytes")));
    }
    let read = stream.read(&mut chunk[..room]).await?;
    buf.extend_from_slice(&chunk[..read]);
    Ok(read)
}

/// The first bytes a stream has read, kept so that a failed exchange can say what the
/// peer sent instead ("a TLS alert", "a MySQL greeting").
#[derive(Debug, Clone, Default)]
pub(super) struct Seen(Arc<Mutex<Vec<u8>>>);

impl Seen {
    const KEEP: usize = 512;

    pub(super) fn bytes(&self) -> Vec<u8> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn record(&self, data: &[u8]) {
        let mut seen = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let room = Self::KEEP.saturating_sub(seen.len());
        seen.extend_from_slice(&data[..data.len().min(room)]);
    }
}

/// A stream that notes the first bytes read through it in a [`Seen`].
#[derive(Debug)]
pub(super) struct Recorded<S> {
    inner: S,
    seen: Seen,
}

impl<S> Recorded<S> {
    pub(super) fn new(inner: S) -> (Self, Seen) {
        let seen = Seen::default();
        (
            Self {
                inner,
                seen: seen.clone(),
            },
            seen,
        )
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Recorded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        self.seen.record(&buf.filled()[before..]);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recorded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
