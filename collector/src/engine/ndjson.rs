//! Offline analysis over NDJSON exports (`collector analyze`): the same engine, fed from files.

use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::Path;

use agent_core::wire::{Event, FlagDefinition, Impression};
use serde::de::DeserializeOwned;

use super::EngineError;
use super::analysis::ImpactReport;
use super::metric::MetricSpec;
use super::recalc::{RecalcOptions, recalculate};
use super::source::MemorySource;

/// Reads one JSON value per non-empty line, naming the file and line of the first bad one.
pub fn read_lines<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, EngineError> {
    let file = std::fs::File::open(path)
        .map_err(|e| EngineError::File(format!("{}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| EngineError::File(format!("{}: {e}", path.display())))?;
        if line.trim().is_empty() {
            continue;
        }
        let v = serde_json::from_str(&line)
            .map_err(|e| EngineError::File(format!("{}:{}: {e}", path.display(), n + 1)))?;
        out.push(v);
    }
    Ok(out)
}

/// Reads a metrics export: one `Metric` (or `NewMetric`) object per line.
pub fn read_metrics(path: &Path) -> Result<Vec<MetricSpec>, EngineError> {
    read_lines::<serde_json::Value>(path)?
        .iter()
        .enumerate()
        .map(|(n, v)| {
            MetricSpec::from_json(v)
                .map_err(|e| EngineError::File(format!("{}:{}: {e}", path.display(), n + 1)))
        })
        .collect()
}

/// The definition a version was evaluated with: the exact version, else the latest before it.
pub fn definition_for<'a>(
    flags: &'a [FlagDefinition],
    key: &str,
    version: u64,
) -> Option<&'a FlagDefinition> {
    flags
        .iter()
        .filter(|f| f.key == key && f.version <= version)
        .max_by_key(|f| f.version)
}

/// What `collector analyze` reads.
#[derive(Debug, Clone)]
pub struct AnalyzeInput<'a> {
    /// Impressions NDJSON (`wire::Impression` per line).
    pub impressions: &'a Path,
    /// Events NDJSON (`wire::Event` per line).
    pub events: &'a Path,
    /// Metrics NDJSON.
    pub metrics: &'a Path,
    /// Flag definitions NDJSON (baseline, rollout rule and weights).
    pub flags: Option<&'a Path>,
    /// Only this flag.
    pub flag: Option<&'a str>,
    /// Only this version.
    pub version: Option<u64>,
}

/// Analyses every (flag, version) of the impressions (or the one asked for), sorted.
pub fn analyze(
    input: &AnalyzeInput<'_>,
    opts: &RecalcOptions,
) -> Result<Vec<ImpactReport>, EngineError> {
    let source = MemorySource {
        impressions: read_lines::<Impression>(input.impressions)?,
        events: read_lines::<Event>(input.events)?,
    };
    let metrics = read_metrics(input.metrics)?;
    let flags: Vec<FlagDefinition> = match input.flags {
        Some(p) => read_lines(p)?,
        None => Vec::new(),
    };
    let versions: BTreeSet<(&str, u64)> = source
        .impressions
        .iter()
        .map(|i| (i.flag.as_str(), i.version))
        .filter(|(f, v)| {
            input.flag.is_none_or(|k| k == *f) && input.version.is_none_or(|x| x == *v)
        })
        .collect();
    versions
        .into_iter()
        .map(|(flag, version)| {
            let def = definition_for(&flags, flag, version);
            recalculate(&source, flag, version, def, &metrics, opts)
        })
        .collect()
}
