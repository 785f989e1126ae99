//! Framing: one JSON message per line (`\n`), at most [`MAX_FRAME`] bytes; anything larger is
//! refused rather than buffered. [`read_limited`] also bounds the time: how long the peer may stay
//! silent before a frame starts, and how long a started frame may take to arrive whole (a client
//! that sends half a frame and stops is dropped, not waited for).
//!
//! The size: an Apply request with a synthetic 6,000-peer Plan (5,000 nodes with every node its own
//! segment plus 1,000 Kilo Peers, long names, IPv6 endpoints, 3 ranges each) is about 2.1 MB of
//! JSON (`an_apply_of_6000_peers_fits_with_room_to_spare` prints it); the limit leaves 4x that.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

use crate::messages::{Envelope, PROTOCOL_VERSION};

/// The largest frame accepted.
pub const MAX_FRAME: usize = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("a message larger than {MAX_FRAME} bytes")]
    TooLarge,
    #[error("unreadable message: {0}")]
    Json(#[from] serde_json::Error),
    #[error("closed after {0} s without a request")]
    Idle(u64),
    #[error("a message that took longer than {0} s to arrive")]
    Slow(u64),
    #[error(
        "the peer speaks protocol version {theirs}, this side {PROTOCOL_VERSION}: update kubewire on both sides"
    )]
    Version { theirs: u32 },
}

/// Writes one message.
pub async fn write<W: AsyncWrite + Unpin, T: Serialize>(w: &mut W, body: &T) -> Result<(), FrameError> {
    let mut line = serde_json::to_vec(&Envelope::new(body))?;
    if line.len() > MAX_FRAME {
        return Err(FrameError::TooLarge);
    }
    line.push(b'\n');
    w.write_all(&line).await?;
    w.flush().await?;
    Ok(())
}

/// Reads one message; `Ok(None)` at a clean end of stream. No time limit: for clients, which trust
/// their daemon (and bound the whole request themselves).
pub async fn read<R: AsyncBufRead + Unpin, T: DeserializeOwned>(r: &mut R) -> Result<Option<T>, FrameError> {
    match read_line(r).await? {
        None => Ok(None),
        Some(line) => decode(&line).map(Some),
    }
}

/// Reads one message with time limits (the daemon's side): the frame must start within `idle`
/// (`None`: wait as long as it takes) and, once started, arrive whole within `frame`.
pub async fn read_limited<R: AsyncBufRead + Unpin, T: DeserializeOwned>(
    r: &mut R,
    idle: Option<Duration>,
    frame: Duration,
) -> Result<Option<T>, FrameError> {
    let started = async {
        let buf = r.fill_buf().await?;
        Ok::<bool, FrameError>(!buf.is_empty())
    };
    let started = match idle {
        Some(idle) => tokio::time::timeout(idle, started)
            .await
            .map_err(|_| FrameError::Idle(idle.as_secs()))??,
        None => started.await?,
    };
    if !started {
        return Ok(None);
    }
    let line = tokio::time::timeout(frame, read_line(r))
        .await
        .map_err(|_| FrameError::Slow(frame.as_secs()))??;
    match line {
        None => Ok(None),
        Some(line) => decode(&line).map(Some),
    }
}

/// One line without its `\n`, at most [`MAX_FRAME`] bytes; `None` at a clean end of stream.
async fn read_line<R: AsyncBufRead + Unpin>(r: &mut R) -> Result<Option<Vec<u8>>, FrameError> {
    let mut line = Vec::new();
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return if line.is_empty() {
                Ok(None)
            } else {
                Err(FrameError::Io(std::io::ErrorKind::UnexpectedEof.into()))
            };
        }
        let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if line.len() + chunk.len() > MAX_FRAME {
            return Err(FrameError::TooLarge);
        }
        line.extend_from_slice(chunk);
        let used = done.unwrap_or(buf.len());
        r.consume(used);
        if done.is_some() {
            return Ok(Some(line));
        }
    }
}

/// Decodes one frame (a line without its `\n`): the version first, then the body.
pub fn decode<T: DeserializeOwned>(line: &[u8]) -> Result<T, FrameError> {
    // Check the version before the body, so an old or new peer gets a clear error.
    #[derive(serde::Deserialize)]
    struct Version {
        v: u32,
    }
    let version: Version = serde_json::from_slice(line)?;
    if version.v != PROTOCOL_VERSION {
        return Err(FrameError::Version { theirs: version.v });
    }
    let envelope: Envelope<T> = serde_json::from_slice(line)?;
    Ok(envelope.body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::Request;
    use tokio::io::BufReader;

    #[tokio::test]
    async fn round_trip_and_clean_end() {
        let mut buf = Vec::new();
        write(&mut buf, &Request::Status).await.unwrap();
        write(&mut buf, &Request::Disconnect).await.unwrap();
        let mut r = BufReader::new(buf.as_slice());
        assert_eq!(read::<_, Request>(&mut r).await.unwrap(), Some(Request::Status));
        assert_eq!(
            read::<_, Request>(&mut r).await.unwrap(),
            Some(Request::Disconnect)
        );
        assert_eq!(read::<_, Request>(&mut r).await.unwrap(), None);
    }

    #[tokio::test]
    async fn other_versions_and_garbage_are_clear_errors() {
        let mut r = BufReader::new(&b"{\"v\":99,\"request\":\"status\"}\n"[..]);
        assert!(matches!(
            read::<_, Request>(&mut r).await,
            Err(FrameError::Version { theirs: 99 })
        ));
        let mut r = BufReader::new(&b"not json\n"[..]);
        assert!(matches!(
            read::<_, Request>(&mut r).await,
            Err(FrameError::Json(_))
        ));
        let mut r = BufReader::new(&b"{\"v\":1,\"request\":\"status\""[..]);
        assert!(read::<_, Request>(&mut r).await.is_err());
    }
}
