//! The OpenAPI document lists every route the router serves, and only those.

mod common;

use common::*;
use serde_json::Value;

#[test]
fn every_route_is_documented() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = TestCollector::start(dir.path());
    let doc: Value = c
        .client
        .get(c.url("/api/v1/openapi.json"))
        .send()
        .expect("sent")
        .json()
        .expect("json");
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    let table = collector::server::route_table();
    assert!(table.len() >= 20);
    for (method, path) in &table {
        assert!(
            paths.get(*path).and_then(|p| p.get(*method)).is_some(),
            "{method} {path} is missing from the OpenAPI document"
        );
    }
    let methods = ["get", "put", "post", "delete", "patch"];
    for (path, item) in paths {
        for m in item.as_object().expect("item").keys() {
            if methods.contains(&m.as_str()) {
                assert!(
                    table.iter().any(|(tm, tp)| tm == m && tp == path),
                    "{m} {path} is documented but not routed"
                );
            }
        }
    }
    // Every schema reference resolves.
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for part in text.split("#/components/schemas/").skip(1) {
        let name: String = part.chars().take_while(|ch| ch.is_alphanumeric()).collect();
        assert!(
            schemas.contains_key(&name),
            "schema {name} is referenced but not defined"
        );
    }
    // Every documented route is really served (no 404 from the router).
    for (method, path) in &table {
        let url = c.url(
            &path
                .replace("{key}", "x")
                .replace("{name}", "x")
                .replace("{id}", "1"),
        );
        let r = c
            .client
            .request(method.to_uppercase().parse().expect("method"), url)
            .send()
            .expect("sent");
        assert_ne!(r.status(), 405, "{method} {path}");
        if path.contains("admin") || path.contains("flags") || path.contains("batch") {
            assert_eq!(r.status(), 401, "{method} {path} needs a key");
        }
    }
}
