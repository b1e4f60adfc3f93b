//! Logs go to stderr (stdout carries results): coloured and compact on a terminal, plain lines in
//! Tekton logs, JSON lines for machines. `RUST_LOG` refines the level (default `info`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// `text` with colours on a terminal, plain `text` elsewhere.
    #[default]
    Auto,
    Text,
    Json,
}

/// Installs the global subscriber. Calling it twice is harmless (the second call does nothing).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let terminal = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Auto if terminal => builder.compact().without_time().try_init(),
        LogFormat::Auto | LogFormat::Text => builder.with_ansi(false).try_init(),
    };
}
