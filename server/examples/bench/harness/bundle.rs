//! Size of the site's WASM bundle (`pkg/*.wasm` under the site root), raw and after
//! `gzip -9` (what a server or CDN with compression sends).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use super::report::{Report, Row, kilobytes, megabytes};

const RAW_TARGET: u64 = 1_500_000;
const GZIP_TARGET: u64 = 500_000;

fn gzip_size(path: &Path) -> anyhow::Result<u64> {
    let out = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(path)
        .output()
        .context("running gzip")?;
    if !out.status.success() {
        bail!("gzip failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(u64::try_from(out.stdout.len())?)
}

pub fn run(site_root: Option<&Path>, report: &mut Report) -> anyhow::Result<()> {
    let Some(root) = site_root else {
        report.push(Row::info("WASM bundle", "not measured (no --site-root)"));
        return Ok(());
    };
    let pkg = root.join("pkg");
    let wasm = std::fs::read_dir(&pkg)
        .with_context(|| format!("reading {}", pkg.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "wasm"))
        .with_context(|| format!("no .wasm in {}", pkg.display()))?;
    let raw = std::fs::metadata(&wasm)?.len();
    let gz = gzip_size(&wasm)?;
    report.push(Row::new(
        format!(
            "WASM bundle ({}), raw",
            wasm.file_name().unwrap_or_default().to_string_lossy()
        ),
        megabytes(raw),
        "≤ 1.5 MB",
        Some(raw <= RAW_TARGET),
    ));
    report.push(Row::new(
        "WASM bundle, gzip -9",
        kilobytes(gz),
        "≤ 500 kB",
        Some(gz <= GZIP_TARGET),
    ));
    Ok(())
}
