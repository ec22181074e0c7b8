//! Where the benches write the markdown `scripts/bench.sh` puts in README.md.
//! A module of its own so that a bench without the rest of `support` (the
//! end-to-end bench, which forbids unsafe code) can include it by path.

use std::path::PathBuf;

/// Cargo's target directory, as the bench was run.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| "target".into(), PathBuf::from)
}

/// Writes `text` to `bench-report/<name>` under the target directory; returns
/// where, or what went wrong.
pub fn write_report(name: &str, text: &str) -> Result<PathBuf, String> {
    let dir = target_dir().join("bench-report");
    std::fs::create_dir_all(&dir)
        .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|err| format!("cannot write {}: {err}", path.display()))?;
    Ok(path)
}
