//! Logging: `tracing` to stderr as text (default) or one JSON object per line
//! (`CATALYST_LOG_FORMAT=json`), filtered by `RUST_LOG` (default
//! [`DEFAULT_FILTER`]); the filter can be replaced at run time
//! (`PUT /api/v1/log-level`) through a reload handle.
//!
//! The subscriber is process-wide, so its reload handle is too: [`init`] installs both
//! once and [`set_filter`] reaches the handle wherever the request comes from.

use std::sync::{Mutex, OnceLock};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// The filter when `RUST_LOG` is unset or invalid.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,sea_orm=warn";

/// `CATALYST_LOG_FORMAT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    /// `text` or `json` (any case); anything else is an error naming the variable.
    pub fn parse(value: &str) -> Result<Self, TelemetryError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(TelemetryError::Format(other.to_owned())),
        }
    }

    /// From `CATALYST_LOG_FORMAT`; text when unset.
    pub fn from_env() -> Result<Self, TelemetryError> {
        std::env::var("CATALYST_LOG_FORMAT").map_or(Ok(Self::Text), |v| Self::parse(&v))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("CATALYST_LOG_FORMAT must be `text` or `json`, not `{0}`")]
    Format(String),
    #[error("invalid log filter: {0}")]
    InvalidFilter(String),
    #[error("logging was not initialised with a reloadable filter")]
    NotReloadable,
    #[error("cannot replace the log filter: {0}")]
    Reload(String),
}

struct Reloadable {
    handle: reload::Handle<EnvFilter, Registry>,
    /// The filter's text as last set (an `EnvFilter` does not round-trip exactly).
    current: Mutex<String>,
}

static RELOAD: OnceLock<Reloadable> = OnceLock::new();

/// Installs the global subscriber: `format` output on stderr, filter from `RUST_LOG`
/// (else [`DEFAULT_FILTER`]), reloadable through [`set_filter`]. A second call (or a
/// subscriber someone else installed) leaves the first one in place.
pub fn init(format: LogFormat) {
    let text = std::env::var("RUST_LOG")
        .ok()
        .filter(|f| EnvFilter::try_new(f).is_ok())
        .unwrap_or_else(|| DEFAULT_FILTER.to_owned());
    let filter = EnvFilter::try_new(&text).unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let (filter, handle) = reload::Layer::new(filter);
    let json = (format == LogFormat::Json).then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(std::io::stderr)
    });
    let plain = (format == LogFormat::Text)
        .then(|| tracing_subscriber::fmt::layer().with_writer(std::io::stderr));
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(json)
        .with(plain)
        .try_init()
        .is_ok();
    if installed {
        let _ = RELOAD.set(Reloadable {
            handle,
            current: Mutex::new(text),
        });
    }
}

/// Checks a filter directive string (`info,catalyst_server=debug`) without applying it.
pub fn parse_filter(filter: &str) -> Result<EnvFilter, TelemetryError> {
    if filter.trim().is_empty() {
        return Err(TelemetryError::InvalidFilter(
            "the filter is empty".to_owned(),
        ));
    }
    EnvFilter::try_new(filter).map_err(|e| TelemetryError::InvalidFilter(e.to_string()))
}

/// Replaces the log filter of the running process.
pub fn set_filter(filter: &str) -> Result<(), TelemetryError> {
    let parsed = parse_filter(filter)?;
    let reloadable = RELOAD.get().ok_or(TelemetryError::NotReloadable)?;
    reloadable
        .handle
        .reload(parsed)
        .map_err(|e| TelemetryError::Reload(e.to_string()))?;
    *reloadable.current.lock().unwrap_or_else(|p| p.into_inner()) = filter.trim().to_owned();
    Ok(())
}

/// The filter in force, when it is reloadable.
pub fn current_filter() -> Option<String> {
    RELOAD
        .get()
        .map(|r| r.current.lock().unwrap_or_else(|p| p.into_inner()).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse() {
        assert_eq!(LogFormat::parse("json").unwrap(), LogFormat::Json);
        assert_eq!(LogFormat::parse("JSON").unwrap(), LogFormat::Json);
        assert_eq!(LogFormat::parse("text").unwrap(), LogFormat::Text);
        assert_eq!(LogFormat::parse("").unwrap(), LogFormat::Text);
        let e = LogFormat::parse("yaml").unwrap_err().to_string();
        assert!(e.contains("CATALYST_LOG_FORMAT"), "{e}");
    }

    #[test]
    fn filters_are_validated() {
        assert!(parse_filter("info,catalyst_server=debug").is_ok());
        assert!(parse_filter("warn").is_ok());
        assert!(parse_filter("").is_err());
        assert!(parse_filter("info,catalyst_server=loud").is_err());
        assert!(parse_filter("[[[").is_err());
    }
}
