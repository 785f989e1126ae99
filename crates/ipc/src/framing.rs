//! Framing: one JSON message per line (`\n`), at most [`MAX_FRAME`] bytes; anything larger is
//! refused rather than buffered. [`read_limited`] also bounds the time: how long the peer may stay
//! silent before a frame starts, and how long a started frame may take to arrive whole (a client
//! that sends half a frame and stops is dropped, not waited for).
//!
//! The size: an Apply request with a Plan the core computed for a synthetic cluster of 5,000 nodes,
//! every node its own segment, plus 1,000 Kilo Peers (6,000 peers, long node names) is 3.0 MB of
//! JSON (`tests/frame_size.rs` prints it); the limit, 16 MiB, leaves more than 5x that. Memory stays
//! bounded all the same: past [`SMALL_FRAME`] a frame needs one of a few permits ([`BigFrames`]),
//! so only that many large frames are buffered at once, whatever the number of connections.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

use crate::messages::{Envelope, PROTOCOL_VERSION};

/// The largest frame accepted.
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

/// Frames up to this size need no permit (every request but a large Apply).
pub const SMALL_FRAME: usize = 64 * 1024;

/// The permits for frames larger than [`SMALL_FRAME`] (shared by all of a server's connections).
pub type BigFrames = tokio::sync::Semaphore;

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
    match read_line(r, None).await? {
        None => Ok(None),
        Some(line) => decode(&line).map(Some),
    }
}

/// Reads one message with time limits (the daemon's side): the frame must start within `idle`
/// (`None`: wait as long as it takes) and, once started, arrive whole within `frame` (waiting for
/// a permit of `big`, when it is larger than [`SMALL_FRAME`], included).
pub async fn read_limited<R: AsyncBufRead + Unpin, T: DeserializeOwned>(
    r: &mut R,
    idle: Option<Duration>,
    frame: Duration,
    big: Option<&BigFrames>,
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
    let line = tokio::time::timeout(frame, read_line(r, big))
        .await
        .map_err(|_| FrameError::Slow(frame.as_secs()))??;
    match line {
        None => Ok(None),
        Some(line) => decode(&line).map(Some),
    }
}

/// One line without its `\n`, at most [`MAX_FRAME`] bytes; `None` at a clean end of stream.
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    big: Option<&BigFrames>,
) -> Result<Option<Vec<u8>>, FrameError> {
    let mut line = Vec::new();
    let mut permit = None;
    loop {
        if line.len() > SMALL_FRAME
            && permit.is_none()
            && let Some(big) = big
        {
            permit = Some(big.acquire().await.map_err(|_| FrameError::TooLarge)?);
        }
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
        write(&mut buf, &Request::Disconnect { name: None })
            .await
            .unwrap();
        let mut r = BufReader::new(buf.as_slice());
        assert_eq!(read::<_, Request>(&mut r).await.unwrap(), Some(Request::Status));
        assert_eq!(
            read::<_, Request>(&mut r).await.unwrap(),
            Some(Request::Disconnect { name: None })
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

    #[tokio::test(start_paused = true)]
    async fn silence_and_half_frames_end_in_their_own_errors() {
        let (client, server) = tokio::io::duplex(1024);
        let mut r = BufReader::new(server);
        let idle = read_limited::<_, Request>(
            &mut r,
            Some(Duration::from_secs(30)),
            Duration::from_secs(10),
            None,
        );
        assert!(matches!(idle.await, Err(FrameError::Idle(30))));
        let (_cr, mut cw) = tokio::io::split(client);
        cw.write_all(b"{\"v\":1,\"requ").await.unwrap();
        let slow = read_limited::<_, Request>(
            &mut r,
            Some(Duration::from_secs(30)),
            Duration::from_secs(10),
            None,
        );
        assert!(matches!(slow.await, Err(FrameError::Slow(10))));
    }

    #[tokio::test(start_paused = true)]
    async fn a_large_frame_waits_for_a_permit_and_a_small_one_does_not() {
        let big = BigFrames::new(0);
        let large = format!(
            "{{\"v\":1,\"request\":\"status\",\"pad\":\"{}\"}}\n",
            "x".repeat(SMALL_FRAME * 2)
        );
        let mut r = BufReader::new(large.as_bytes());
        let waited = read_limited::<_, Request>(&mut r, None, Duration::from_secs(10), Some(&big));
        assert!(
            matches!(waited.await, Err(FrameError::Slow(10))),
            "no permit, no large frame"
        );
        big.add_permits(1);
        let mut r = BufReader::new(large.as_bytes());
        let read = read_limited::<_, Request>(&mut r, None, Duration::from_secs(10), Some(&big));
        assert_eq!(read.await.unwrap(), Some(Request::Status));
        let none = BigFrames::new(0);
        let mut r = BufReader::new(&b"{\"v\":1,\"request\":\"status\"}\n"[..]);
        let small = read_limited::<_, Request>(&mut r, None, Duration::from_secs(10), Some(&none));
        assert_eq!(small.await.unwrap(), Some(Request::Status));
    }

    #[tokio::test]
    async fn a_frame_over_the_limit_is_refused_before_it_is_buffered() {
        let huge = vec![b'x'; MAX_FRAME + 1];
        let mut r = BufReader::new(huge.as_slice());
        assert!(matches!(
            read::<_, Request>(&mut r).await,
            Err(FrameError::TooLarge)
        ));
    }
}
