//! Agreement with Split's reference vectors (murmur3 buckets and semver), read from
//! `../shared/conformance/` beside the project root. A clone without that folder skips, saying so.

use std::cmp::Ordering;
use std::io::Cursor;
use std::path::PathBuf;

use agent_core::bucketing::{bucket, murmur3_x86_32};
use agent_core::semver::Semver;

fn conformance_file(name: &str) -> Option<String> {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/conformance/"
    ))
    .join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) => {
            eprintln!(
                "SKIPPED: conformance file {} is not readable ({e}); the shared conformance folder \
                 is not beside this checkout, so Split agreement was not checked",
                path.display()
            );
            None
        }
    }
}

fn rows(text: &str) -> impl Iterator<Item = (usize, Vec<&str>)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l.split(',').collect()))
}

#[test]
fn murmur3_buckets_agree_with_split_on_every_row() {
    let Some(text) = conformance_file("split-murmur3-buckets.csv") else {
        return;
    };
    let mut checked = 0;
    for (line, cols) in rows(&text) {
        assert_eq!(cols.len(), 4, "line {line}: {cols:?}");
        let seed: i32 = cols[0].parse().expect("seed is an i32");
        let key = cols[1];
        let hash: u32 = cols[2].parse().expect("hash is a u32");
        let expected_bucket: u32 = cols[3].parse().expect("bucket is a number");
        assert_eq!(
            murmur3_x86_32(key.as_bytes(), seed as u32),
            hash,
            "line {line}: hash of {key:?} with seed {seed}"
        );
        let from_crate = murmur3::murmur3_32(&mut Cursor::new(key.as_bytes()), seed as u32)
            .expect("reading a slice cannot fail");
        assert_eq!(from_crate, hash, "line {line}: murmur3 crate disagrees");
        assert_eq!(
            bucket(key, seed),
            expected_bucket,
            "line {line}: bucket of {key:?}"
        );
        checked += 1;
    }
    assert!(checked > 1000, "only {checked} rows read");
}

#[test]
fn semver_between_agrees_with_split_on_every_row() {
    let Some(text) = conformance_file("split-semver-between.csv") else {
        return;
    };
    let mut checked = 0;
    for (line, cols) in rows(&text) {
        let [start, candidate, end, expected] = cols[..] else {
            panic!("line {line}: expected 4 columns, got {cols:?}");
        };
        let expected: bool = expected.parse().expect("true or false");
        let (s, c, e) = (
            Semver::parse(start).expect("start parses"),
            Semver::parse(candidate).expect("candidate parses"),
            Semver::parse(end).expect("end parses"),
        );
        let got = c.compare(&s) != Ordering::Less && c.compare(&e) != Ordering::Greater;
        assert_eq!(
            got, expected,
            "line {line}: {start} <= {candidate} <= {end}"
        );
        checked += 1;
    }
    assert!(checked >= 17, "only {checked} rows read");
}

#[test]
fn semver_equal_agrees_with_split_on_every_row() {
    let Some(text) = conformance_file("split-semver-equal.csv") else {
        return;
    };
    let mut checked = 0;
    for (line, cols) in rows(&text) {
        let [a, b, expected] = cols[..] else {
            panic!("line {line}: expected 3 columns, got {cols:?}");
        };
        let expected: bool = expected.parse().expect("true or false");
        let (va, vb) = (
            Semver::parse(a).expect("a parses"),
            Semver::parse(b).expect("b parses"),
        );
        assert_eq!(va.split_eq(&vb), expected, "line {line}: {a} == {b}");
        assert_eq!(
            vb.split_eq(&va),
            expected,
            "line {line}: {b} == {a} (symmetry)"
        );
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} rows read");
}
