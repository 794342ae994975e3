use super::*;
use crate::executors::testing::{task, within};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Serves one canned HTTP/1.1 response on a fresh port and hands back the request it got.
async fn serve_once(status: &str, body: &str) -> (String, oneshot::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/path", listener.local_addr().unwrap());
    let response = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let request = read_request(&mut socket).await;
        socket.write_all(response.as_bytes()).await.unwrap();
        socket.shutdown().await.unwrap();
        let _ = tx.send(request);
    });
    (url, rx)
}

/// Reads a request head and its content-length body.
async fn read_request(socket: &mut tokio::net::TcpStream) -> String {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = socket.read(&mut buf).await.unwrap();
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
        if n == 0 {
            return text;
        }
    }
}

/// The test servers listen on loopback, which the executor refuses unless allowed.
fn allowing_loopback() -> Http {
    Http::with_allow(&["127.0.0.1/32".to_string()], &[]).unwrap()
}

async fn http(params: Value) -> TaskResult {
    within(20, allowing_loopback().execute(task("http", params))).await
}

#[tokio::test]
async fn sends_method_headers_and_body_and_returns_status_and_body() {
    let (url, request) = serve_once("201 Created", "made it").await;
    let out = http(json!({"method": "post", "url": url, "headers": {"x-weft": "yes"}, "body": "payload"})).await;
    assert_eq!(out, Ok(json!({"status": 201, "body": "made it"})));
    let request = request.await.unwrap();
    assert!(request.starts_with("POST /path HTTP/1.1"), "{request}");
    assert!(request.contains("x-weft: yes"), "{request}");
    assert!(request.ends_with("payload"), "{request}");
}

#[tokio::test]
async fn body_is_bounded_and_marked_truncated() {
    let (url, _request) = serve_once("200 OK", &"b".repeat(100_000)).await;
    let out = http(json!({"url": url, "max_body_bytes": 10})).await.unwrap();
    assert_eq!(out["body"], "bbbbbbbbbb");
    assert_eq!(out["body_truncated"], true);
}

#[tokio::test]
async fn server_errors_are_retryable_client_errors_are_not() {
    let (url, _r) = serve_once("503 Service Unavailable", "try later").await;
    let err = http(json!({"url": url})).await.unwrap_err();
    assert!(err.is_retryable());
    assert!(err.message().contains("503") && err.message().contains("try later"), "{err}");

    let (url, _r) = serve_once("404 Not Found", "no such thing").await;
    let err = http(json!({"url": url})).await.unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.message().contains("404"), "{err}");
}

#[tokio::test]
async fn connection_refused_is_retryable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    let err = http(json!({"url": url})).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
}

#[tokio::test]
async fn slow_server_times_out_retryable_and_cancel_stops_the_request() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let err = http(json!({"url": url, "timeout": "100ms"})).await.unwrap_err();
    assert!(err.is_retryable());
    assert!(err.message().contains("timed out after 100ms"), "{err}");

    let t = task("http", json!({"url": url}));
    let cancel = t.cancel.clone();
    let run = tokio::spawn(async move { allowing_loopback().execute(t).await });
    cancel.cancel();
    assert_eq!(within(5, run).await.unwrap().unwrap_err().message(), "cancelled");
}

#[tokio::test]
async fn malformed_requests_are_fatal() {
    let err = http(json!({"url": "http://127.0.0.1:1/", "method": "GE T"})).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    let err = http(json!({"url": "http://127.0.0.1:1/", "headers": {"bad header": "x"}})).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    let err = http(json!({"url": "not a url"})).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
}

#[tokio::test]
async fn loopback_and_the_coordinator_are_refused_for_good_by_default() {
    let (url, _request) = serve_once("200 OK", "secret admin page").await;
    let default = Http::new().unwrap();
    let err = within(20, default.execute(task("http", json!({"url": url})))).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(err.message().contains("loopback") && err.message().contains("--http-allow"), "{err}");
    // By name too: the resolver checks what `localhost` resolves to.
    let by_name = url.replace("127.0.0.1", "localhost");
    let err = within(20, default.execute(task("http", json!({"url": by_name})))).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(err.message().contains("`localhost` resolves to a loopback address"), "{err}");

    // Allowed, but it is the coordinator's address and the allow-list names only a range.
    let coordinator = Http::with_allow(&["127.0.0.0/8".into()], &["http://127.0.0.1:7070".into()]).unwrap();
    let err = within(20, coordinator.execute(task("http", json!({"url": url})))).await.unwrap_err();
    assert!(err.message().contains("coordinator"), "{err}");
}

#[tokio::test]
async fn each_redirect_is_checked() {
    // An allowed server redirects to a loopback address that is not allowed.
    let (url, _request) = serve_once("302 Found\r\nlocation: http://127.0.0.2:9/admin", "").await;
    let err = http(json!({"url": url})).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(err.message().contains("127.0.0.2") && err.message().contains("loopback"), "{err}");
    // ... or to the coordinator by its name.
    let (url, _request) = serve_once("302 Found\r\nlocation: http://coord.test:9464/metrics", "").await;
    let guarded = Http::with_allow(&["127.0.0.1/32".into()], &["http://coord.test:7070".into()]).unwrap();
    let err = within(20, guarded.execute(task("http", json!({"url": url})))).await.unwrap_err();
    assert!(err.message().contains("`coord.test` is the coordinator"), "{err}");
    // An allowed redirect is followed.
    let (target, _r) = serve_once("200 OK", "landed").await;
    let (url, _request) = serve_once(&format!("307 Temporary Redirect\r\nlocation: {target}"), "").await;
    assert_eq!(http(json!({"url": url})).await, Ok(json!({"status": 200, "body": "landed"})));
}
