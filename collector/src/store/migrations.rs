//! SQLite schema migrations, embedded in the binary and applied in order (`PRAGMA user_version`).

use rusqlite::Connection;

/// Migration scripts; index + 1 is the schema version each one brings the database to.
///
/// Items are unique by `(ts, id)`, not `id` alone: a retried item keeps both, and leading with
/// the (roughly increasing) timestamp puts new index entries at the end of the b-tree instead of
/// at random pages (random UUID v4 keys made every commit rewrite most index pages).
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO meta (name, value) VALUES ('version', 0);

CREATE TABLE api_keys (
    hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('admin', 'sdk')),
    environment TEXT,
    created_at INTEGER NOT NULL
);

CREATE TABLE batches (
    batch_id BLOB PRIMARY KEY,
    sdk TEXT NOT NULL,
    environment TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    dropped TEXT
);

CREATE TABLE impressions (
    id BLOB NOT NULL,
    key TEXT NOT NULL,
    flag TEXT NOT NULL,
    treatment TEXT NOT NULL,
    version INTEGER NOT NULL,
    label TEXT NOT NULL,
    ts INTEGER NOT NULL,
    count INTEGER NOT NULL,
    bucketing_key TEXT,
    environment TEXT NOT NULL,
    UNIQUE (ts, id)
);
CREATE INDEX impressions_flag ON impressions (flag, treatment);

CREATE TABLE events (
    id BLOB NOT NULL,
    key TEXT NOT NULL,
    traffic_type TEXT NOT NULL,
    type TEXT NOT NULL,
    value REAL,
    ts INTEGER NOT NULL,
    properties TEXT NOT NULL,
    environment TEXT NOT NULL,
    UNIQUE (ts, id)
);
CREATE INDEX events_type ON events (type, ts);

CREATE TABLE flags (
    key TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE segments (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    keys TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE flag_history (
    id INTEGER PRIMARY KEY,
    flag TEXT NOT NULL,
    version INTEGER NOT NULL,
    action TEXT NOT NULL,
    definition TEXT NOT NULL,
    changed_at INTEGER NOT NULL
);
CREATE INDEX flag_history_flag ON flag_history (flag, version);

CREATE TABLE seen_event_types (
    event_type TEXT PRIMARY KEY,
    first_seen INTEGER NOT NULL
);

CREATE TABLE metrics (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    event_type TEXT NOT NULL,
    metric_type TEXT NOT NULL,
    direction TEXT NOT NULL,
    value_property TEXT,
    denominator_event_type TEXT,
    filter TEXT,
    cap REAL,
    auto_created INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0
);
"#,
    r#"
CREATE TABLE notification_channels (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('webhook', 'email')),
    config TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE notification_deliveries (
    id INTEGER PRIMARY KEY,
    channel_id INTEGER NOT NULL,
    notification_id TEXT NOT NULL,
    notification_kind TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status_code INTEGER,
    error TEXT,
    success INTEGER NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX notification_deliveries_channel ON notification_deliveries (channel_id, id);
"#,
    crate::alerts::store::MIGRATION,
    crate::monitoring::store::MIGRATION,
    crate::monitoring::store::KEYS_MIGRATION,
    // Apdex metrics: the target response time T (NULL for every other metric type).
    "ALTER TABLE metrics ADD COLUMN apdex_target_ms REAL;",
    crate::monitoring::late::MIGRATION,
    crate::notify::outbox::MIGRATION,
    crate::alerts::store::KEY_ALERTS_MIGRATION,
    // Covering indexes for the engine's scans: events by (type, ts) with the key and value, so
    // a recalculation whose metrics read no properties never touches the table; the impressions
    // of one flag version likewise. events_scan replaces events_type (same leading columns).
    r#"
CREATE INDEX events_scan ON events (type, ts, key, value);
DROP INDEX events_type;
CREATE INDEX impressions_scan ON impressions (flag, version, key, treatment, label, ts);
"#,
    crate::monitoring::check_log::MIGRATION,
    crate::alerts::store::ACTED_MIGRATION,
    crate::dashboard::session_store::MIGRATION,
    UNCLEAN_SHUTDOWN_METRICS,
];

/// Runs that ended without a clean shutdown (`app.unclean_shutdown`) became crash-class events
/// (fewer is better); their metrics auto-created as custom events counted them higher-is-better.
/// Turns those around and adds the percent of users a crash-class type gets. A metric someone
/// made is left as it is.
const UNCLEAN_SHUTDOWN_METRICS: &str = r#"
UPDATE metrics SET direction = 'decrease'
 WHERE auto_created = 1 AND event_type LIKE '%.unclean!_shutdown' ESCAPE '!'
   AND metric_type = 'count' AND direction = 'increase';
INSERT INTO metrics (name, event_type, metric_type, direction, auto_created, created_at)
SELECT m.event_type || ': percent of users', m.event_type, 'percent_users', 'decrease', 1,
       m.created_at
  FROM metrics m
 WHERE m.auto_created = 1 AND m.event_type LIKE '%.unclean!_shutdown' ESCAPE '!'
   AND m.metric_type = 'count' AND m.deleted = 0
   AND NOT EXISTS (SELECT 1 FROM metrics p
                    WHERE p.event_type = m.event_type AND p.metric_type = 'percent_users');
"#;

/// Brings the database schema up to date inside one transaction.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let tx = conn.transaction()?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unclean_shutdown_metrics_made_as_custom_ones_are_turned_around() {
        let mut conn = Connection::open_in_memory().expect("db");
        let before = MIGRATIONS.len() - 1;
        for sql in &MIGRATIONS[..before] {
            conn.execute_batch(sql).expect("older migration");
        }
        conn.pragma_update(None, "user_version", before as i64)
            .expect("version");
        let add = |name: &str, event_type: &str, metric_type: &str, auto: bool| {
            conn.execute(
                "INSERT INTO metrics (name, event_type, metric_type, direction, auto_created, \
                 created_at) VALUES (?1, ?2, ?3, 'increase', ?4, 7)",
                rusqlite::params![name, event_type, metric_type, auto],
            )
            .expect("insert");
        };
        add(
            "app.unclean_shutdown: count per user",
            "app.unclean_shutdown",
            "count",
            true,
        );
        add("kills", "app.unclean_shutdown", "sum", false);
        add("purchase: count per user", "purchase", "count", true);
        migrate(&mut conn).expect("migrate");
        let mut stmt = conn
            .prepare("SELECT name, metric_type, direction, auto_created FROM metrics ORDER BY id")
            .expect("select");
        let rows: Vec<(String, String, String, bool)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        let row = |name: &str, t: &str, d: &str, auto| (name.into(), t.into(), d.into(), auto);
        assert_eq!(
            rows,
            [
                row(
                    "app.unclean_shutdown: count per user",
                    "count",
                    "decrease",
                    true
                ),
                row("kills", "sum", "increase", false),
                row("purchase: count per user", "count", "increase", true),
                row(
                    "app.unclean_shutdown: percent of users",
                    "percent_users",
                    "decrease",
                    true
                ),
            ]
        );
    }
}
