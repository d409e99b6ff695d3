//! The cross-platform evaluation vectors (`testdata/evaluation-vectors.json`): every binding's
//! tests evaluate the same (flag definitions, key, attributes) cases and must get the same
//! (treatment, label) as this core. This test pins the core to the file, so a change of the
//! evaluation semantics shows up here first.
//!
//! To regenerate the expectations after a deliberate semantic change, run
//! `VECTORS_WRITE=1 cargo test -p agent-core --test evaluation_vectors` and review the diff.

use std::collections::HashMap;
use std::path::PathBuf;

use agent_core::flags::{Attributes, FlagSet};
use agent_core::wire::{FlagDefinition, Segment};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Serialize, Deserialize)]
struct Vectors {
    flags: Vec<FlagDefinition>,
    segments: Vec<Segment>,
    cases: Vec<Case>,
}

#[derive(Serialize, Deserialize)]
struct Case {
    flag: String,
    key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bucketing_key: Option<String>,
    attributes: HashMap<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    treatment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    label: Option<String>,
}

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/evaluation-vectors.json")
}

#[test]
fn the_core_agrees_with_the_shared_vectors() {
    let text = std::fs::read_to_string(path()).expect("testdata/evaluation-vectors.json");
    let mut v: Vectors = serde_json::from_str(&text).expect("valid vectors");
    let set = FlagSet::new(v.flags.clone(), v.segments.clone()).expect("vector flags compile");
    let write = std::env::var_os("VECTORS_WRITE").is_some();
    let mut mismatches = Vec::new();
    for c in &mut v.cases {
        let attrs = Attributes::from(c.attributes.clone());
        let e = set.evaluate(&c.key, c.bucketing_key.as_deref(), &c.flag, &attrs);
        if write {
            c.treatment = Some(e.treatment);
            c.label = Some(e.label);
        } else if c.treatment.as_deref() != Some(&e.treatment)
            || c.label.as_deref() != Some(&e.label)
        {
            mismatches.push(format!(
                "{}/{}: want {:?}/{:?}, got {}/{}",
                c.flag, c.key, c.treatment, c.label, e.treatment, e.label
            ));
        }
    }
    if write {
        let out = serde_json::to_string_pretty(&v).expect("serialise");
        std::fs::write(path(), out + "\n").expect("write vectors");
        return;
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // The file must exercise more than the default path: several treatments and labels.
    let labels: std::collections::HashSet<_> =
        v.cases.iter().filter_map(|c| c.label.clone()).collect();
    assert!(labels.len() >= 8, "too few distinct labels: {labels:?}");
}
