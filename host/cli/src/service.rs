//! `sc-host run` (scheduler + hot reload) and `sc-host service` (the same
//! plus the HTTP API). Both stop gracefully on SIGINT/SIGTERM: scheduling
//! stops, running skills get `scheduler.shutdown_grace_ms` to finish, state
//! is flushed, exit 0.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::sync::watch;

use sc_api::{self as api, AppState};
use sc_backends as backends;
use sc_core::clock::SystemClock;
use sc_core::config::Config;
use sc_runtime::{SkillHost, reload};
use sc_scheduler::Scheduler;

/// Flags of `service`.
#[derive(Debug, clap::Args)]
pub struct ServiceArgs {
    /// Address to serve the API on [config: api.bind, default 127.0.0.1:7799]
    #[arg(long, value_name = "ADDR:PORT")]
    pub bind: Option<String>,
    /// Serve the API without the scheduler (also SECURITYCLAW_API_ONLY=1).
    #[arg(long)]
    pub api_only: bool,
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: no new runs; waiting for running skills");
}

struct Running {
    host: Arc<SkillHost>,
    scheduler: Option<(Arc<Scheduler>, tokio::task::JoinHandle<()>)>,
    reload: Option<tokio::task::JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

fn start(config: Config, with_scheduler: bool) -> anyhow::Result<Running> {
    let config = Arc::new(config);
    let began = std::time::Instant::now();
    // The backends, the host's own state, the manifests and the folder watch
    // open side by side; the service answers as soon as they have. Skills
    // then compile on their own thread, each ready when it has (dispatches
    // wait for them meanwhile).
    let (host, watch) = std::thread::scope(|scope| {
        let watch = config
            .reload
            .enabled
            .then(|| scope.spawn(|| reload::Watch::start(&config.skills_dir)));
        let host = SkillHost::open(config.clone(), Arc::new(SystemClock), || {
            backends::open(&config)
        });
        let watch = watch.map(|w| {
            w.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        (host, watch)
    });
    let host = host?;
    let opened = began.elapsed();
    host.load_in_background()?;
    let (stop, stop_rx) = watch::channel(false);
    let reload = match watch {
        Some(watch) => Some(reload::run(host.clone(), watch?, stop_rx.clone())),
        None => None,
    };
    let scheduler = with_scheduler.then(|| {
        let scheduler = Scheduler::new(host.clone());
        let task = tokio::spawn(scheduler.clone().run(stop_rx));
        (scheduler, task)
    });
    tracing::debug!(
        open_ms = opened.as_secs_f64() * 1e3,
        total_ms = began.elapsed().as_secs_f64() * 1e3,
        "host started"
    );
    Ok(Running {
        host,
        scheduler,
        reload,
        stop,
    })
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(true);
        if let Some((_, task)) = self.scheduler {
            let _ = task.await;
        }
        if let Some(task) = self.reload {
            let _ = task.await;
        }
        // Runs that API clients started finish too, within the same grace.
        let grace =
            std::time::Duration::from_millis(self.host.config().scheduler.shutdown_grace_ms);
        if !self.host.wait_idle(grace).await {
            tracing::warn!("runs still going at shutdown were stopped");
        }
        tracing::info!("stopped");
    }
}

/// Runs `sc-host run`.
pub fn run(config: Config) -> anyhow::Result<ExitCode> {
    super::runtime()?.block_on(async {
        let running = start(config, true)?;
        tracing::info!(
            skills = running.host.skills().len(),
            "running: scheduler and hot reload"
        );
        shutdown_signal().await;
        running.stop().await;
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `sc-host service`.
pub fn service(mut config: Config, args: &ServiceArgs) -> anyhow::Result<ExitCode> {
    if let Some(bind) = &args.bind {
        config.api.bind = bind.clone();
    }
    let bind: SocketAddr = config.api.bind.parse().with_context(|| {
        format!(
            "`{}` is not an address:port such as 127.0.0.1:7799",
            config.api.bind
        )
    })?;
    // Refuse an unsafe bind before loading anything.
    let auth = match api::auth::auth_mode(bind, &config.api.auth, |var| std::env::var(var).ok()) {
        Ok(auth) => auth,
        Err(reason) => {
            eprintln!("error: {reason}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let api_only = args.api_only
        || std::env::var("SECURITYCLAW_API_ONLY")
            .is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes"));
    super::runtime()?.block_on(async {
        let running = start(config, !api_only)?;
        let state = AppState::new(
            running.host.clone(),
            running.scheduler.as_ref().map(|(s, _)| s.clone()),
            auth,
        );
        tracing::info!(%bind, api_only, "service starting");
        let served = api::serve(state, bind, shutdown_signal()).await;
        running.stop().await;
        served.map(|()| ExitCode::SUCCESS)
    })
}
