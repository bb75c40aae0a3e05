//! The sandbox around a run: a WASI context with no sockets, environment
//! or arguments, no files but the folders of `grants.files`, and
//! stdout/stderr captured into a bounded buffer that ends the run when a
//! skill writes too much.

use std::sync::{Arc, Mutex};

use sc_core::grants::{FileMode, FileMount};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

use crate::error::RunLimitExceeded;

/// How much of a run's output is kept for the log.
const KEPT_BYTES: usize = 16 * 1024;

#[derive(Debug, Default)]
struct Captured {
    total: u64,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Stdout and stderr of one run, sharing one byte budget.
#[derive(Debug, Clone)]
pub struct OutputCapture {
    inner: Arc<Mutex<Captured>>,
    limit: u64,
}

impl OutputCapture {
    /// A capture that ends the run past `limit` bytes.
    pub fn new(limit: u64) -> Self {
        Self {
            inner: Arc::default(),
            limit,
        }
    }

    /// What the run wrote (the first few KiB of each stream), as text.
    pub fn take(&self) -> (String, String) {
        let captured = self
            .inner
            .lock()
            .map(|c| (c.stdout.clone(), c.stderr.clone()));
        let (out, err) = captured.unwrap_or_default();
        (
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        )
    }

    fn stream(&self, stderr: bool) -> CaptureStream {
        CaptureStream {
            capture: self.clone(),
            stderr,
        }
    }
}

/// One of the two streams of an [`OutputCapture`].
#[derive(Debug, Clone)]
pub struct CaptureStream {
    capture: OutputCapture,
    stderr: bool,
}

impl CaptureStream {
    fn write_bytes(&self, bytes: &[u8]) -> Result<(), RunLimitExceeded> {
        let limit = self.capture.limit;
        let Ok(mut captured) = self.capture.inner.lock() else {
            return Ok(());
        };
        captured.total += bytes.len() as u64;
        if captured.total > limit {
            return Err(RunLimitExceeded::Output(limit));
        }
        let kept = if self.stderr {
            &mut captured.stderr
        } else {
            &mut captured.stdout
        };
        let room = KEPT_BYTES.saturating_sub(kept.len());
        kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
        Ok(())
    }
}

#[async_trait::async_trait]
impl Pollable for CaptureStream {
    async fn ready(&mut self) {}
}

impl OutputStream for CaptureStream {
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), StreamError> {
        self.write_bytes(&bytes)
            .map_err(|limit| StreamError::Trap(wasmtime::Error::new(limit)))
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for CaptureStream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(
            self.write_bytes(buf)
                .map(|()| buf.len())
                .map_err(std::io::Error::other),
        )
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl IsTerminal for CaptureStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CaptureStream {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

/// A WASI context that grants nothing but `mounts`: no environment, no
/// arguments, no network, empty stdin, and only the granted folders
/// preopened (read-only ones without any write permission). Within a
/// folder, WASI's capability-based paths refuse `..` and symlinks that lead
/// out. Python and JS components import all of WASI, so everything is
/// linked and denied here.
pub fn sandbox_wasi(output: &OutputCapture, mounts: &[FileMount]) -> wasmtime::Result<WasiCtx> {
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdout(output.stream(false))
        .stderr(output.stream(true))
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }));
    for mount in mounts {
        let perms = match mount.mode {
            FileMode::Ro => FsPerms::ReadOnly,
            FileMode::Rw => FsPerms::ReadWrite,
        };
        builder
            .preopened_dir(&mount.host, &mount.guest, perms)
            .map_err(|e| {
                e.context(format!(
                    "opening granted folder `{}` ({})",
                    mount.guest,
                    mount.host.display()
                ))
            })?;
    }
    Ok(builder.build())
}
