//! The pods' workload: a tiny HTTP server that answers every request with the pod's name, so a test
//! can tell which pod answered (and so which node a service sent it to). `GET /bytes/N` answers N bytes
//! instead (at most 16 MiB): a large response, for path-MTU tests.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// Serves until the process is killed.
pub fn serve(name: &str, listen: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen)?;
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let body = format!("{name}\n");
        std::thread::spawn(move || {
            let _ = answer(stream, &body);
        });
    }
    Ok(())
}

fn answer(mut stream: TcpStream, body: &str) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&buf[..n]);
    }
    let large = bytes_asked(&request);
    let length = large.unwrap_or(body.len());
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes())?;
    match large {
        Some(n) => {
            let chunk = [b'x'; 64 * 1024];
            let mut left = n;
            while left > 0 {
                let k = left.min(chunk.len());
                stream.write_all(&chunk[..k])?;
                left -= k;
            }
        }
        None => stream.write_all(body.as_bytes())?,
    }
    stream.flush()
}

/// `N` of a `GET /bytes/N` request, at most 16 MiB.
fn bytes_asked(request: &[u8]) -> Option<usize> {
    let line = request.split(|b| *b == b'\r').next()?;
    let path = std::str::from_utf8(line).ok()?.split_whitespace().nth(1)?;
    let n: usize = path.strip_prefix("/bytes/")?.parse().ok()?;
    Some(n.min(16 << 20))
}

#[cfg(test)]
mod tests {
    use super::bytes_asked;

    #[test]
    fn large_responses_are_asked_by_path() {
        assert_eq!(
            bytes_asked(b"GET /bytes/1048576 HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(1 << 20)
        );
        assert_eq!(
            bytes_asked(b"GET /bytes/999999999999 HTTP/1.1\r\n\r\n"),
            Some(16 << 20)
        );
        assert_eq!(bytes_asked(b"GET / HTTP/1.1\r\n\r\n"), None);
    }
}
