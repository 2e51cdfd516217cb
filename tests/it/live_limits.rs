//! One client cannot stall or exhaust the server (issue 19, section 3): a hostile spec
//! annotation is refused before parsing, naming the limit; partial headers, slow bodies
//! and idle connections are closed by timeouts and a connection limit bounds what is
//! held; every error status (404, 405, 413, a bad path) has a JSON body; `/metrics`
//! shows binds, releases, HTTP statuses and the journal. See: issue 19.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::Value;

use crate::live_support::{TWO_NODES, app, call, filter_args, place, pod, spec, two_nodes};

#[tokio::test]
async fn error_statuses_have_json_bodies() {
    let app = app(&two_nodes());
    let (status, body) = call(&app, Method::GET, "/v1/extender/filter", "").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        body["error"].as_str().unwrap_or("").contains("not allowed"),
        "{body}"
    );
    let (status, body) = call(&app, Method::GET, "/nope", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string(), "{body}");
    let huge = format!("{{\"Pod\": \"{}\"}}", "x".repeat(3 << 20));
    let (status, body) = call(&app, Method::POST, "/v1/extender/filter", &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body["error"].is_string(), "{body}");
    let (status, body) = call(&app, Method::DELETE, "/v1/pods/%ff/x", "").await;
    assert!(status.is_client_error(), "{status}");
    assert!(body["error"].is_string(), "{body}");
}

#[tokio::test]
async fn a_deeply_nested_spec_is_refused_naming_the_limit() {
    let app = app(&two_nodes());
    let hostile = format!("x: {}{}", "[".repeat(40_000), "]".repeat(40_000));
    let p = pod("default", "evil", "uid-evil", &hostile);
    let (status, body) = call(
        &app,
        Method::POST,
        "/v1/extender/filter",
        &filter_args(&p, &["node-a"]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let error = body["Error"].as_str().unwrap_or("");
    assert!(error.contains("16384 bytes"), "{body}");
    let nested = format!("x: {}{}", "[".repeat(100), "]".repeat(100));
    let p = pod("default", "evil2", "uid-evil2", &nested);
    let (_, body) = call(
        &app,
        Method::POST,
        "/v1/extender/filter",
        &filter_args(&p, &["node-a"]),
    )
    .await;
    assert!(
        body["Error"].as_str().unwrap_or("").contains("16 levels"),
        "{body}"
    );
    // The server goes on deciding.
    let ok = pod("default", "ok", "uid-ok", &spec("vc-a", 10, "ok", 1, 1));
    place(&app, &ok, &["node-a", "node-b"]).await;
}

#[tokio::test]
async fn metrics_count_binds_releases_statuses_and_the_journal() {
    let app = app(&two_nodes());
    let p = pod("default", "m", "uid-m", &spec("vc-a", 10, "m", 1, 1));
    place(&app, &p, &["node-a", "node-b"]).await;
    let (status, _) = call(&app, Method::DELETE, "/v1/pods/default/m", "").await;
    assert_eq!(status, StatusCode::OK);
    let (_, text) = call(&app, Method::GET, "/metrics", "").await;
    let text = text.as_str().unwrap_or_default().to_string();
    for line in [
        "cellsim_binds_total{result=\"bound\"} 1",
        "cellsim_pod_releases_total{result=\"released\"} 1",
        "cellsim_http_responses_total{code=\"200\"}",
        "cellsim_journal_bytes",
        "cellsim_journal_compactions_total",
        "cellsim_journal_write_duration_seconds_count",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
}

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(extra: &[&str]) -> Server {
    let dir = std::env::temp_dir().join(format!("cellsim-limits-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config: PathBuf = dir.join("cluster.yaml");
    std::fs::write(&config, TWO_NODES).expect("config written");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cellsim"))
        .args(["serve", "--standalone", "--listen", "127.0.0.1:0"])
        .arg("--journal")
        .arg(dir.join("journal"))
        .arg("--config")
        .arg(&config)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cellsim starts");
    let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
    let addr = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(a) = line.strip_prefix("cellsim serve: listening on ") {
                    break a.to_string();
                }
            }
            _ => panic!("the server did not start"),
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Server { child, addr }
}

/// Reads until the server closes the connection (the read timeout only guards against
/// a server that never does, which fails the test).
fn read_until_closed(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout set");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the server kept the connection open: {e}"),
        }
    }
    String::from_utf8_lossy(&out).to_string()
}

fn healthz(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connects");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("sent");
    read_until_closed(&mut s)
}

#[test]
fn slow_and_idle_clients_are_timed_out_and_connections_are_bounded() {
    let server = start(&[
        "--header-timeout-ms",
        "300",
        "--body-timeout-ms",
        "300",
        "--max-connections",
        "4",
    ]);
    // Partial headers: closed.
    let mut partial = TcpStream::connect(&server.addr).expect("connects");
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nHo")
        .expect("sent");
    read_until_closed(&mut partial);
    // An idle connection: closed.
    let mut idle = TcpStream::connect(&server.addr).expect("connects");
    read_until_closed(&mut idle);
    // A body announced as 100 MB that never comes: 408 with a JSON body, then closed.
    let mut slow = TcpStream::connect(&server.addr).expect("connects");
    slow.write_all(
        b"POST /v1/extender/filter HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 100000000\r\n\r\n{\"Pod\":",
    )
    .expect("sent");
    let answer = read_until_closed(&mut slow);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    assert!(v["error"].is_string(), "{answer}");
    // More holders than the limit: the server still answers once they are timed out.
    let holders: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = TcpStream::connect(&server.addr).expect("connects");
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\n");
            s
        })
        .collect();
    assert!(healthz(&server.addr).starts_with("HTTP/1.1 200"));
    for mut h in holders {
        read_until_closed(&mut h);
    }
}
