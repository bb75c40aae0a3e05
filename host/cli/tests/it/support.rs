//! What several test files share: the `sc-host` command as a test starts
//! it, a free port for a service, and one HTTP request to it.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// `sc-host --config <config> --log-level error`, without the `SC_*`
/// folder variables of the environment the tests run in.
pub fn sc_host_command(config: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sc-host"));
    command
        .arg("--config")
        .arg(config)
        .args(["--log-level", "error"])
        .env_remove("SC_SKILLS_DIR")
        .env_remove("SC_DATA_DIR");
    command
}

/// A loopback port nothing listens on (for `service --bind`).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// One request to the service; the body as JSON.
pub async fn call(port: u16, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return (0, Value::Null);
    };
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}
