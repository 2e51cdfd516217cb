//! Start-up and shutdown of `cellsim serve`: load the config, rebuild the state (from the
//! journal, standalone; from bound pods, Kubernetes), listen, watch the config file when
//! asked, and stop cleanly on SIGINT / SIGTERM. The only place that owns the runtime.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::http::{App, Shared, router};
use super::journal::JournalError;
use super::state::LiveState;
use crate::cell::RebuildReport;
use crate::config::{CellConfig, ConfigErrors};

/// Where pods and nodes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServeMode {
    /// Beside kube-scheduler: binds create `Binding`s, pods and nodes are watched, state
    /// is rebuilt from bound pods on start.
    Kubernetes {
        /// Kubeconfig file; default: in-cluster config, then `$KUBECONFIG` / `~/.kube/config`.
        kubeconfig: Option<PathBuf>,
    },
    /// Without Kubernetes: binds are acknowledged locally and journaled.
    Standalone {
        /// The journal file (created when absent).
        journal: PathBuf,
    },
}

/// Options of `cellsim serve`, built from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    /// The cluster config file.
    pub config: PathBuf,
    /// Listen address (`HOST:PORT`; `:PORT` means all interfaces); `None`: the config's
    /// `webServerAddress` (HiveD's default `:9096`).
    pub listen: Option<String>,
    /// Kubernetes or standalone.
    pub mode: ServeMode,
    /// Reload the config when the file changes, keeping running groups.
    pub watch_config: bool,
    /// Journal compaction, timeouts and the connection limit.
    pub limits: Limits,
}

/// What one client may hold of the server, and when the journal is compacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Journal lines after which it is rewritten as one snapshot.
    pub journal_compact_lines: usize,
    /// Time for a request's headers to arrive (also closes idle keep-alive connections).
    pub header_timeout: Duration,
    /// Time for a request's body to arrive (then 408).
    pub body_timeout: Duration,
    /// Connections served at once; further ones wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            journal_compact_lines: super::state::COMPACT_AFTER,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// Why the server could not start (or stopped). Each maps to one exit code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The config is invalid (exit 1).
    #[error("{0}")]
    Config(ConfigErrors),
    /// The journal is not a cellsim journal or was damaged (exit 1).
    #[error("{0}")]
    Journal(String),
    /// A file, socket or the Kubernetes API failed (exit 3).
    #[error("{0}")]
    Io(String),
    /// The config file named on the command line cannot be read, e.g. it does not exist
    /// (exit 1: bad input, as for every command).
    #[error("{0}")]
    Input(String),
}

impl ServeError {
    /// The process exit code ([`crate::run::exit`]): 1 bad input, 3 I/O failure.
    pub fn exit_code(&self) -> u8 {
        use crate::run::Exit;
        match self {
            ServeError::Config(_) | ServeError::Journal(_) | ServeError::Input(_) => {
                Exit::BadInput.code()
            }
            ServeError::Io(_) => Exit::CannotWrite.code(),
        }
    }
}

/// Runs the server until SIGINT or SIGTERM (blocking; builds its own runtime).
pub fn serve(options: ServeOptions) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| ServeError::Io(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let server = start(options).await?;
        eprintln!("cellsim serve: listening on {}", server.addr);
        shutdown_signal().await;
        eprintln!("cellsim serve: stopping");
        server.stop().await;
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// A running server.
pub struct Running {
    /// The address it listens on (useful with port 0).
    pub addr: SocketAddr,
    /// Its shared state.
    pub app: Shared,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
    background: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting requests, lets running ones finish, and stops background tasks.
    pub async fn stop(self) {
        for t in &self.background {
            t.abort();
        }
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Reads and validates a config file; returns it with its text.
pub fn read_config(path: &Path) -> Result<(CellConfig, String), ServeError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ServeError::Input(format!("cannot read the config {}: {e}", path.display()))
    })?;
    let config =
        crate::config::load_str(&text, &path.display().to_string()).map_err(ServeError::Config)?;
    for w in &config.warnings {
        eprintln!("warning: {w}");
    }
    Ok((config, text))
}

/// Prints what a rebuild or reconfiguration did to running groups.
fn print_report(what: &str, report: &RebuildReport) {
    eprintln!(
        "cellsim serve: {what}: {} group(s) restored, {} lazily preempted, {} lost",
        report.restored.len(),
        report.lazily_preempted.len(),
        report.lost.len()
    );
    for (group, why) in &report.lost {
        eprintln!("warning: group {group} could not be kept: {why}; delete its pods");
    }
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
}

/// Loads the config, rebuilds the state, and starts listening.
pub async fn start(options: ServeOptions) -> Result<Running, ServeError> {
    let (config, text) = read_config(&options.config)?;
    // Listen first: a busy port must not leave the journal touched by a server that never ran.
    let listen = options
        .listen
        .clone()
        .unwrap_or_else(|| config.server.web_server_address.clone());
    let listen = if listen.starts_with(':') {
        format!("0.0.0.0{listen}")
    } else {
        listen
    };
    let listener = TcpListener::bind(&listen)
        .await
        .map_err(|e| ServeError::Io(format!("cannot listen on {listen}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| ServeError::Io(format!("cannot listen on {listen}: {e}")))?;
    let (app, mut background) = match &options.mode {
        ServeMode::Standalone { journal } => {
            let (state, restored) = LiveState::open_journal(
                &config,
                &text,
                journal,
                options.limits.journal_compact_lines,
            )
            .map_err(|e| match e {
                JournalError::Io { .. } | JournalError::InUse { .. } => {
                    ServeError::Io(e.to_string())
                }
                other => ServeError::Journal(other.to_string()),
            })?;
            if let Some(torn) = &restored.file.torn {
                eprintln!(
                    "warning: journal {}: line {} on ({} bytes) was cut short when the server \
                     stopped and was never acknowledged; moved aside to {}",
                    journal.display(),
                    torn.line,
                    torn.bytes,
                    torn.saved_to.display()
                );
            }
            if restored.file.removed_compaction {
                eprintln!(
                    "cellsim serve: an interrupted journal compaction was discarded (the journal \
                     itself is whole)"
                );
            }
            eprintln!(
                "cellsim serve: journal {}: {} placed pod(s) restored",
                journal.display(),
                restored.pods
            );
            if let Some(report) = restored.reconfigured {
                print_report("the config changed since the journal was written", &report);
            }
            (Arc::new(App::new(state, None, true)), Vec::new())
        }
        ServeMode::Kubernetes { kubeconfig } => {
            super::kube::start(&config, kubeconfig.as_deref()).await?
        }
    };
    if options.watch_config {
        background.push(tokio::spawn(watch_config(
            app.clone(),
            options.config.clone(),
            text,
        )));
    }
    let (stop, stopped) = oneshot::channel::<()>();
    let service = router(app.clone()).layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
        options.limits.body_timeout,
    ));
    let task = tokio::spawn(accept_loop(listener, service, options.limits, stopped));
    Ok(Running {
        addr,
        app,
        stop,
        task,
        background,
    })
}

/// Accepts connections until `stopped`, at most `limits.max_connections` at once, each
/// served by hyper with the header timeout; then lets running requests finish.
async fn accept_loop(
    listener: TcpListener,
    service: axum::Router,
    limits: Limits,
    mut stopped: oneshot::Receiver<()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            _ = &mut stopped => break,
        };
        let Ok(slot) = slot else { break };
        let stream = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut stopped => break,
        };
        let stream = match stream {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                eprintln!("warning: accepting a connection failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let svc = hyper_util::service::TowerToHyperService::new(service.clone());
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), svc));
        tokio::spawn(async move {
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    // Running requests finish; idle connections are closed at once.
    let _ = tokio::time::timeout(Duration::from_secs(30), graceful.shutdown()).await;
}

/// How often `--watch-config` looks at the file.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// Reloads the config whenever the file's text changes; an invalid new config is
/// reported and ignored (the server keeps the one it has).
async fn watch_config(app: Shared, path: PathBuf, mut current: String) {
    let mut tick = tokio::time::interval(WATCH_INTERVAL);
    loop {
        tick.tick().await;
        let Ok(text) = tokio::fs::read_to_string(&path).await else {
            continue;
        };
        if text == current {
            continue;
        }
        current = text.clone();
        let config = match crate::config::load_str(&text, &path.display().to_string()) {
            Ok(c) => c,
            Err(errors) => {
                for e in &errors {
                    eprintln!("error: {e}");
                }
                eprintln!(
                    "cellsim serve: the new config is invalid; still running with the previous one"
                );
                continue;
            }
        };
        let Ok(mut state) = app.lock() else { return };
        match state.reconfigure(&config, &text) {
            Ok(report) => print_report("config reloaded", &report),
            Err(e) => eprintln!("error: reconfiguration not recorded: {e}"),
        }
    }
}
