//! How every program of the project logs and stops: logs to standard error (coloured only on a
//! terminal), and a stop on Ctrl-C or SIGTERM alike.

use std::io::IsTerminal as _;

/// Sets up logging to standard error, once: `RUST_LOG` when it is set, else `default_filter` (an
/// `EnvFilter` directive such as `warn,s3s=off`). Calling it again does nothing.
pub fn init_tracing(default_filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Returns when the process is asked to stop: Ctrl-C (SIGINT), or SIGTERM (what `kill`, systemd
/// and container runtimes send).
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
