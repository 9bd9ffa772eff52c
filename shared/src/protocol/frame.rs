//! Length-prefixed frames: reading and writing them without trusting the peer.
//!
//! Bytes from the socket never cause a panic, and never an allocation larger
//! than what has actually arrived (and never beyond [`MAX_FRAME_LEN`]): a
//! length prefix is checked before anything is reserved for it, and buffers
//! grow only as the body comes in.

use std::io;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::MAX_FRAME_LEN;

/// Bytes in the length prefix.
const PREFIX_LEN: usize = 4;

/// The smallest step a read buffer grows by, and the read size while the
/// length of the next frame is still unknown.
const MIN_READ: usize = 4096;

/// A read buffer larger than this is shrunk once a big frame has been consumed.
const KEEP_CAPACITY: usize = 64 * 1024;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The socket failed.
    #[error("connection error: {0}")]
    Io(#[from] io::Error),
    /// The length prefix announced a body larger than [`MAX_FRAME_LEN`] (or a
    /// message to send encoded that large); nothing was allocated for it.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// The announced (or encoded) body length.
        len: u64,
        /// The limit.
        max: u32,
    },
    /// The body is not a valid message of the expected direction.
    #[error("could not decode a message: {0}")]
    Decode(String),
    /// A message could not be encoded (a bug, not a peer's fault).
    #[error("could not encode a message: {0}")]
    Encode(String),
    /// The peer closed the connection cleanly, between two frames.
    #[error("the peer closed the connection")]
    Closed,
    /// The peer closed the connection in the middle of a frame.
    #[error("the connection closed in the middle of a message")]
    Truncated,
    /// The peer speaks another protocol version.
    #[error("protocol version mismatch: we speak {ours}, the peer speaks {theirs}")]
    VersionMismatch {
        /// Our [`super::PROTOCOL_VERSION`].
        ours: u32,
        /// The peer's.
        theirs: u32,
    },
    /// The peer refused to talk to us, and said why.
    #[error("refused by the peer: {0}")]
    Refused(String),
}

/// Encodes a message as one complete frame (prefix and body), ready to be
/// written; the daemon encodes an event once and sends the bytes to every
/// subscriber.
pub fn encode_frame<T: Serialize>(message: &T) -> Result<Vec<u8>, ProtocolError> {
    let mut frame = postcard::to_extend(message, vec![0u8; PREFIX_LEN])
        .map_err(|err| ProtocolError::Encode(err.to_string()))?;
    let body_len = frame.len() - PREFIX_LEN;
    let len = u32::try_from(body_len)
        .ok()
        .filter(|len| *len <= MAX_FRAME_LEN)
        .ok_or(ProtocolError::FrameTooLarge {
            len: body_len as u64,
            max: MAX_FRAME_LEN,
        })?;
    frame[..PREFIX_LEN].copy_from_slice(&len.to_be_bytes());
    Ok(frame)
}

/// Decodes one frame body; the whole body must be one message (trailing
/// bytes mean the peer and we disagree on the format).
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ProtocolError> {
    if body.is_empty() {
        return Err(ProtocolError::Decode("empty frame".into()));
    }
    let (message, rest) =
        postcard::take_from_bytes(body).map_err(|err| ProtocolError::Decode(err.to_string()))?;
    if !rest.is_empty() {
        return Err(ProtocolError::Decode(format!(
            "{} unexpected bytes after the message",
            rest.len()
        )));
    }
    Ok(message)
}

/// Writes one message as a frame and flushes it.
pub async fn write_frame<W, T>(writer: &mut W, message: &T) -> Result<(), ProtocolError>
where
    W: AsyncWrite + Unpin + ?Sized,
    T: Serialize,
{
    let frame = encode_frame(message)?;
    writer.write_all(&frame).await?;
    writer.flush().await?;
    Ok(())
}

/// Reads exactly one frame and decodes it, consuming nothing beyond it.
///
/// Not cancel-safe: if the future is dropped part-way, the stream is left
/// mid-frame. Inside `tokio::select!`, use a [`FrameReader`].
pub async fn read_frame<R, T>(reader: &mut R) -> Result<T, ProtocolError>
where
    R: AsyncRead + Unpin + ?Sized,
    T: DeserializeOwned,
{
    let mut prefix = [0u8; PREFIX_LEN];
    let mut got = 0;
    while got < PREFIX_LEN {
        let n = reader.read(&mut prefix[got..]).await?;
        if n == 0 {
            return Err(if got == 0 {
                ProtocolError::Closed
            } else {
                ProtocolError::Truncated
            });
        }
        got += n;
    }
    let len = checked_len(prefix)?;
    let mut body = Vec::new();
    while body.len() < len {
        reserve_toward(&mut body, len);
        let remaining = (len - body.len()) as u64;
        let n = (&mut *reader).take(remaining).read_buf(&mut body).await?;
        if n == 0 {
            return Err(ProtocolError::Truncated);
        }
    }
    decode_body(&body)
}

/// Reads frames from a stream it does not own, keeping partial frames across
/// calls, so that [`FrameReader::read`] is cancel-safe: a dashboard can wait
/// for the next event in `tokio::select!` next to its keyboard without ever
/// losing half a message.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
}

impl FrameReader {
    /// An empty reader; use one per connection, for the life of the connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the next message, waiting for as many bytes as it takes.
    ///
    /// Cancel-safe: bytes already received stay buffered for the next call.
    /// May read past the end of this frame; those bytes are kept for the next
    /// call, so always read a connection through the same `FrameReader`.
    /// After [`ProtocolError::Decode`] the next frame can still be read; after
    /// any other error the connection is beyond repair: drop it.
    pub async fn read<R, T>(&mut self, reader: &mut R) -> Result<T, ProtocolError>
    where
        R: AsyncRead + Unpin + ?Sized,
        T: DeserializeOwned,
    {
        loop {
            let frame_end = match self.buf.first_chunk::<PREFIX_LEN>() {
                Some(prefix) => Some(PREFIX_LEN + checked_len(*prefix)?),
                None => None,
            };
            if let Some(end) = frame_end.filter(|end| self.buf.len() >= *end) {
                let message = decode_body(&self.buf[PREFIX_LEN..end]);
                self.buf.drain(..end);
                if self.buf.capacity() > KEEP_CAPACITY && self.buf.len() <= KEEP_CAPACITY / 2 {
                    self.buf.shrink_to(KEEP_CAPACITY / 2);
                }
                return message;
            }
            reserve_toward(&mut self.buf, frame_end.unwrap_or(PREFIX_LEN));
            // `read_buf` is cancel-safe: either it read bytes into the buffer
            // and returned, or it read nothing.
            if reader.read_buf(&mut self.buf).await? == 0 {
                return Err(if self.buf.is_empty() {
                    ProtocolError::Closed
                } else {
                    ProtocolError::Truncated
                });
            }
        }
    }

    /// Bytes received but not yet returned as a message.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// What the buffer holds allocated, for tests of the allocation bound.
    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

/// The body length a prefix announces, refused if above [`MAX_FRAME_LEN`].
fn checked_len(prefix: [u8; PREFIX_LEN]) -> Result<usize, ProtocolError> {
    let len = u32::from_be_bytes(prefix);
    if len > MAX_FRAME_LEN {
        return Err(ProtocolError::FrameTooLarge {
            len: u64::from(len),
            max: MAX_FRAME_LEN,
        });
    }
    usize::try_from(len).map_err(|_| ProtocolError::FrameTooLarge {
        len: u64::from(len),
        max: MAX_FRAME_LEN,
    })
}

/// Makes room for the next read: capacity doubles as data arrives, but never
/// beyond `end` (the end of the frame being read) plus one small read, so a
/// large announced length costs nothing until its bytes actually come.
fn reserve_toward(buf: &mut Vec<u8>, end: usize) {
    if buf.capacity() > buf.len() {
        return;
    }
    let floor = buf.len() + MIN_READ;
    let target = buf
        .capacity()
        .saturating_mul(2)
        .clamp(floor, end.max(floor));
    buf.reserve_exact(target - buf.len());
}
