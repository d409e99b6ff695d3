//! The AAR's consumer R8 rules (`java/consumer-rules.pro`) keep everything the native library
//! finds by name: an app's release build shrinks and renames what only native code uses, and
//! then the library's lookups fail at run time (silently, for a listener). The host JVM tests do
//! not shrink, so this reads the library's sources for what it names and checks each is kept.

use std::path::Path;

/// The quoted string literals of `text` after each occurrence of `call`, `count` of them.
fn literals_after<'t>(text: &'t str, call: &str, count: usize) -> Vec<Vec<&'t str>> {
    text.match_indices(call)
        .map(|(at, _)| {
            text[at + call.len()..]
                .split('"')
                .skip(1)
                .step_by(2)
                .take(count)
                .collect()
        })
        .collect()
}

#[test]
fn the_consumer_rules_keep_what_the_native_library_finds_by_name() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rules = std::fs::read_to_string(crate_dir.join("java/consumer-rules.pro"))
        .expect("read consumer-rules.pro");
    let kept: Vec<&str> = rules
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("-keep"))
        .collect();
    let keeps = |class: &str, member: &str| {
        kept.iter()
            .any(|rule| rule.contains(&format!("class {class} ")) && rule.contains(member))
    };

    let mut named = 0;
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(crate_dir.join("src")).expect("read src") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read source");
        // `Java_dev_rollout_rum_<Class>_<method>` entries: the class's native methods.
        for (at, _) in text.match_indices("fn Java_dev_rollout_rum_") {
            let rest = &text[at + "fn Java_dev_rollout_rum_".len()..];
            let class = rest.split('_').next().unwrap_or_default();
            named += 1;
            if !keeps(&format!("dev.rollout.rum.{class}"), "native <methods>") {
                missing.push(format!("{}: native methods of {class}", path.display()));
            }
        }
        // Classes named in JNI form (exceptions thrown by name).
        for (at, _) in text.match_indices("\"dev/rollout/rum/") {
            let rest = &text[at + 1..];
            let class = rest.split('"').next().unwrap_or_default().replace('/', ".");
            named += 1;
            if !kept
                .iter()
                .any(|rule| rule.contains(&format!("class {class} ")))
            {
                missing.push(format!("{}: class {class}", path.display()));
            }
        }
        // Java methods called by name: `call_method(target, "name", "signature", …)`.
        for literals in literals_after(&text, "call_method(", 1) {
            let method = literals.first().copied().unwrap_or_default();
            named += 1;
            if !kept
                .iter()
                .any(|rule| rule.contains(&format!(" {method}(")))
            {
                missing.push(format!("{}: method {method}", path.display()));
            }
        }
    }
    assert!(
        named >= 3,
        "found only {named} names: has the library's source layout changed?"
    );
    assert!(
        missing.is_empty(),
        "java/consumer-rules.pro does not keep: {missing:#?}"
    );
}
