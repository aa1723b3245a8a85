//! Fuzzes `.catalyst/preview.yaml` parsing (`parse_preview_config`), the text a pull
//! request's author controls. Invariants: nothing panics; an accepted file passes the
//! path rules (no absolute or `..` paths); a refusal names the file and says what was
//! expected, and a reported line exists in the text.

#![no_main]

use catalyst_server::github::repo_config::{CONFIG_PATH, ChartSource, parse_preview_config};
use libfuzzer_sys::fuzz_target;

/// The chart's repository path, whether the file's `chart` is required or optional.
trait ChartPath {
    fn chart_path(&self) -> Option<&String>;
}

impl ChartPath for ChartSource {
    fn chart_path(&self) -> Option<&String> {
        self.path.as_ref()
    }
}

impl ChartPath for Option<ChartSource> {
    fn chart_path(&self) -> Option<&String> {
        self.as_ref().and_then(|c| c.path.as_ref())
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_preview_config(text) {
        Ok(config) => {
            let chart_path = config.chart.chart_path();
            for path in config.values_files.iter().chain(chart_path) {
                assert!(!path.starts_with('/'), "absolute path accepted: {path:?}");
                assert!(
                    !path.split('/').any(|part| part == ".."),
                    "`..` accepted: {path:?}"
                );
            }
            if let Some(health) = &config.health_path {
                assert!(health.starts_with('/'));
            }
        }
        Err(problem) => {
            assert_eq!(problem.file, CONFIG_PATH);
            assert!(!problem.message.is_empty());
            assert!(!problem.expected.is_empty());
            if let Some(line) = problem.line {
                let lines = text.split('\n').count().max(1);
                assert!(
                    line >= 1 && (line as usize) <= lines,
                    "line {line} of a {lines}-line text"
                );
            }
            let _ = problem.to_comment();
        }
    }
});
