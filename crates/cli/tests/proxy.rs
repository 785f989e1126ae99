//! The kubeconfig's `proxy-url` and `HTTPS_PROXY`/`NO_PROXY`, as kubectl reads them: the API server is
//! reached through the proxy they name (an HTTP CONNECT proxy on loopback here, recording what it
//! was asked to reach), and not through it when `NO_PROXY` names the server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use kubewire_apiserver::testing::TestServer;
use support::user::{Env, output, text};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A CONNECT proxy: each tunnel's target is recorded, then bytes are copied both ways.
struct Proxy {
    addr: SocketAddr,
    asked: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let seen = asked.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut client = BufReader::new(client);
                    let mut line = String::new();
                    client.read_line(&mut line).await.ok()?;
                    let target = line
                        .strip_prefix("CONNECT ")?
                        .split_whitespace()
                        .next()?
                        .to_owned();
                    loop {
                        let mut header = String::new();
                        client.read_line(&mut header).await.ok()?;
                        if header == "\r\n" || header.is_empty() {
                            break;
                        }
                    }
                    seen.lock().unwrap().push(target.clone());
                    let mut upstream = TcpStream::connect(&target).await.ok()?;
                    let mut client = client.into_inner();
                    client
                        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                        .await
                        .ok()?;
                    tokio::io::copy_bidirectional(&mut client, &mut upstream)
                        .await
                        .ok()
                });
            }
        });
        Proxy { addr, asked }
    }

    /// A SOCKS5 proxy (no authentication, CONNECT only).
    async fn start_socks5() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let seen = asked.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut head = [0u8; 2];
                    client.read_exact(&mut head).await.ok()?;
                    let mut methods = vec![0u8; usize::from(head[1])];
                    client.read_exact(&mut methods).await.ok()?;
                    client.write_all(&[5, 0]).await.ok()?;
                    let mut request = [0u8; 4];
                    client.read_exact(&mut request).await.ok()?;
                    let host = match request[3] {
                        1 => {
                            let mut ip = [0u8; 4];
                            client.read_exact(&mut ip).await.ok()?;
                            std::net::Ipv4Addr::from(ip).to_string()
                        }
                        3 => {
                            let len = client.read_u8().await.ok()?;
                            let mut name = vec![0u8; usize::from(len)];
                            client.read_exact(&mut name).await.ok()?;
                            String::from_utf8(name).ok()?
                        }
                        _ => return None,
                    };
                    let port = client.read_u16().await.ok()?;
                    let target = format!("{host}:{port}");
                    seen.lock().unwrap().push(target.clone());
                    let mut upstream = TcpStream::connect(&target).await.ok()?;
                    client.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await.ok()?;
                    tokio::io::copy_bidirectional(&mut client, &mut upstream)
                        .await
                        .ok()
                });
            }
        });
        Proxy { addr, asked }
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

/// The API server's host:port as the kubeconfig names it.
fn server_authority(ts: &TestServer) -> String {
    ts.url
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_owned()
}

/// `kubewire graph` with the test server's kubeconfig, `proxy-url` added to its cluster.
async fn graph_through(ts: &TestServer, proxy_url: &str) {
    let env = Env::new();
    // The test server's kubeconfig with `proxy-url` on its cluster (JSON is YAML).
    let kubeconfig = std::fs::read_to_string(&ts.kubeconfig_path).unwrap();
    let with_proxy = kubeconfig.replacen(
        "    server:",
        &format!("    proxy-url: {proxy_url}\n    server:"),
        1,
    );
    assert_ne!(
        with_proxy, kubeconfig,
        "the kubeconfig has a server line:\n{kubeconfig}"
    );
    let kc = env.dir.path().join("kubeconfig");
    std::fs::write(&kc, with_proxy).unwrap();
    let o = output(env.command(&["graph", "--kubeconfig", kc.to_str().unwrap()])).await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "graph through the proxy failed: {err}");
    assert!(out.contains("aws"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubeconfigs_proxy_url_is_used_http_and_socks5() {
    let mut ts = TestServer::start().await;
    ts.add_node("aws", 1);
    let http = Proxy::start().await;
    graph_through(&ts, &format!("http://{}", http.addr)).await;
    assert!(
        http.asked().contains(&server_authority(&ts)),
        "the HTTP proxy was not used: it saw {:?}",
        http.asked()
    );
    let socks = Proxy::start_socks5().await;
    graph_through(&ts, &format!("socks5://{}", socks.addr)).await;
    assert!(
        socks.asked().contains(&server_authority(&ts)),
        "the SOCKS5 proxy was not used: it saw {:?}",
        socks.asked()
    );
    ts.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_proxy_is_used_unless_no_proxy_names_the_server() {
    let mut ts = TestServer::start().await;
    ts.add_node("aws", 1);
    let proxy = Proxy::start().await;
    let env = Env::new();
    let kc = ts.kubeconfig_path.to_str().unwrap().to_owned();
    let mut c = env.command(&["graph", "--kubeconfig", &kc]);
    c.env("HTTPS_PROXY", format!("http://{}", proxy.addr))
        .env_remove("NO_PROXY")
        .env_remove("no_proxy");
    let o = output(c).await;
    assert!(o.status.success(), "{}", text(&o).1);
    let asked = proxy.asked();
    assert!(
        !asked.is_empty() && asked.iter().all(|a| *a == server_authority(&ts)),
        "HTTPS_PROXY is used, for the API server only: {asked:?}"
    );

    let mut c = env.command(&["graph", "--kubeconfig", &kc]);
    c.env("HTTPS_PROXY", format!("http://{}", proxy.addr))
        .env("NO_PROXY", "127.0.0.1,localhost");
    let o = output(c).await;
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(proxy.asked(), asked, "NO_PROXY names the server: no new tunnel");
    ts.stop().await;
}
