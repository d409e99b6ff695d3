//! Runnable demos of the release-monitoring suite, as a library so tests can run them in-process.

pub mod admin;
pub mod browser;
pub mod report;
pub mod rollout;
pub mod webhook;

/// The demo's data directory: `given`, or a temporary one (removed when the returned guard is
/// dropped).
pub fn data_dir(
    given: Option<std::path::PathBuf>,
) -> std::io::Result<(std::path::PathBuf, Option<tempfile::TempDir>)> {
    match given {
        Some(dir) => Ok((dir, None)),
        None => {
            let tmp = tempfile::tempdir()?;
            Ok((tmp.path().to_path_buf(), Some(tmp)))
        }
    }
}
