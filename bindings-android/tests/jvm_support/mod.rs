//! Host-JVM plumbing of the binding tests: the cdylib, `javac`, `java -Xcheck:jni` and the
//! `N passed, N failed` line the Java runner prints.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};

/// The binding crate's directory.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether `javac` and `java` can run; outside CI a missing JDK skips the test.
pub fn jdk_available() -> bool {
    ["javac", "java"].iter().all(|tool| {
        Command::new(tool)
            .arg("-version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// The directory holding `libbindings_android.so` built from this very source.
///
/// `cargo test` builds the library's cdylib into the test binary's own directory
/// (target/<profile>/deps; the copy in target/<profile> is only refreshed by `cargo build`, so it
/// may be stale). If it is missing there (e.g. a runner that builds only rlibs), a nested cargo
/// builds it in a separate target dir, so the outer cargo's lock is not waited for.
pub fn native_lib_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let deps = exe.parent().context("test binary has no directory")?;
    let name = format!(
        "{}bindings_android{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    if deps.join(&name).is_file() {
        return Ok(deps.to_path_buf());
    }
    let profile_dir = deps
        .parent()
        .context("test binary outside target/<profile>/deps")?;
    let target = profile_dir.join("jvm-test-build");
    let status = Command::new(env!("CARGO"))
        .args(["build", "-p", "bindings-android", "--lib"])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(crate_dir())
        .status()
        .context("nested cargo build")?;
    ensure!(status.success(), "nested cargo build failed: {status}");
    let dir = target.join("debug");
    ensure!(
        dir.join(&name).is_file(),
        "{name} not found in {}",
        dir.display()
    );
    Ok(dir)
}

/// Compiles the stand-ins for the Android framework (`java/android-stub`) into `android`, then
/// the Java API against them (as Java 8, the level Android's toolchain takes) and the Java tests
/// into `out`, warnings as errors. Only the runs that need the framework put `android` on their
/// classpath: the others check the API works on a JVM without it.
pub fn javac(out: &Path, android: &Path) -> anyhow::Result<()> {
    let java = crate_dir().join("java");
    let release = ["--release", "8", "-Xlint:all,-options"];
    javac_dir(&java.join("android-stub"), &release, android)?;
    let api = [&release[..], &["-cp", path_str(android)?]].concat();
    javac_dir(&java.join("src"), &api, out)?;
    let both = std::env::join_paths([out, android])?;
    let both = both.to_str().context("non-UTF-8 path")?;
    javac_dir(&java.join("test"), &["-Xlint:all", "-cp", both], out)
}

fn path_str(p: &Path) -> anyhow::Result<&str> {
    p.to_str().context("non-UTF-8 path")
}

fn javac_dir(dir: &Path, flags: &[&str], out: &Path) -> anyhow::Result<()> {
    let mut sources = Vec::new();
    collect_java(dir, &mut sources)?;
    ensure!(
        !sources.is_empty(),
        "no Java sources under {}",
        dir.display()
    );
    let output = Command::new("javac")
        .args(flags)
        .args(["-Werror", "-d"])
        .arg(out)
        .args(&sources)
        .output()
        .context("running javac")?;
    ensure!(
        output.status.success(),
        "javac of {} failed:\n{}{}",
        dir.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

fn collect_java(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| dir.display().to_string())? {
        let path = entry?.path();
        if path.is_dir() {
            collect_java(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "java") {
            out.push(path);
        }
    }
    Ok(())
}

/// What one JVM run printed and how it ended.
pub struct JavaRun {
    /// Exit status (None: killed by a signal).
    pub code: Option<i32>,
    /// stdout and stderr together.
    pub output: String,
    /// Checks passed, from the last `N passed, N failed` line.
    pub passed: u32,
    /// Checks failed, from the same line.
    pub failed: u32,
}

/// Runs `java -Xcheck:jni` on `main` with the binding's library path; kills it after `limit`.
pub fn java(
    lib_dir: &Path,
    classes: &Path,
    main: &str,
    args: &[&str],
    limit: Duration,
) -> anyhow::Result<JavaRun> {
    java_with(lib_dir, classes, &[], main, args, limit)
}

/// [`java`] with more JVM options (e.g. `-Xmx64m`).
pub fn java_with(
    lib_dir: &Path,
    classes: &Path,
    jvm_options: &[&str],
    main: &str,
    args: &[&str],
    limit: Duration,
) -> anyhow::Result<JavaRun> {
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("out.txt");
    let file = std::fs::File::create(&log)?;
    let mut child = Command::new("java")
        .args(jvm_options)
        .arg("-Xcheck:jni")
        .arg(format!("-Djava.library.path={}", lib_dir.display()))
        .arg("-cp")
        .arg(classes)
        .arg(main)
        .args(args)
        .stdout(file.try_clone()?)
        .stderr(file)
        .spawn()
        .context("starting java")?;
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{main} still running after {limit:?}:\n{}",
                std::fs::read_to_string(&log)?
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = std::fs::read_to_string(&log)?;
    let (passed, failed) = summary(&output)
        .with_context(|| format!("{main} printed no `N passed, N failed` line:\n{output}"))?;
    Ok(JavaRun {
        code: status.code(),
        output,
        passed,
        failed,
    })
}

/// The counts of the last `N passed, N failed` line.
pub fn summary(output: &str) -> Option<(u32, u32)> {
    output.lines().rev().find_map(|line| {
        let (passed, failed) = line.trim().split_once(" passed, ")?;
        let failed = failed.strip_suffix(" failed")?;
        Some((passed.parse().ok()?, failed.parse().ok()?))
    })
}
