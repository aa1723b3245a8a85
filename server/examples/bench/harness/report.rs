//! The printed table: every figure next to its target from issue 8, with pass or miss.

use std::fmt::Write as _;

/// One line of the table.
#[derive(Clone, Debug)]
pub struct Row {
    pub figure: String,
    pub measured: String,
    pub target: String,
    /// `None` when the row has no target or could not be measured.
    pub pass: Option<bool>,
}

impl Row {
    pub fn new(
        figure: impl Into<String>,
        measured: impl Into<String>,
        target: impl Into<String>,
        pass: Option<bool>,
    ) -> Self {
        Self {
            figure: figure.into(),
            measured: measured.into(),
            target: target.into(),
            pass,
        }
    }

    /// A figure shown for context only.
    pub fn info(figure: impl Into<String>, measured: impl Into<String>) -> Self {
        Self::new(figure, measured, "—", None)
    }
}

/// Every row, in the order of the issue.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub rows: Vec<Row>,
    /// Notes printed under the table (load, settings, anything unusual).
    pub notes: Vec<String>,
}

impl Report {
    pub fn push(&mut self, row: Row) {
        // As soon as measured, so a later scenario's failure cannot lose it.
        eprintln!(
            "measured: {} = {} (target {})",
            row.figure, row.measured, row.target
        );
        self.rows.push(row);
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// Rows with a target that was missed.
    pub fn misses(&self) -> Vec<&Row> {
        self.rows.iter().filter(|r| r.pass == Some(false)).collect()
    }

    /// A Markdown table (pastes into BENCHMARKS.md as it is).
    pub fn render(&self) -> String {
        let mut out = String::from("| figure | measured | target | result |\n|---|---|---|---|\n");
        for r in &self.rows {
            let verdict = match r.pass {
                Some(true) => "pass",
                Some(false) => "**miss**",
                None => "—",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {verdict} |",
                r.figure, r.measured, r.target
            );
        }
        for n in &self.notes {
            let _ = writeln!(out, "\n- {n}");
        }
        out
    }
}

/// `1234567` bytes → `1.23 MB` (decimal units, as the targets are written).
pub fn megabytes(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let mb = bytes as f64 / 1e6;
    format!("{mb:.2} MB")
}

/// `123456` bytes → `123.5 kB`.
pub fn kilobytes(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let kb = bytes as f64 / 1e3;
    format!("{kb:.1} kB")
}
