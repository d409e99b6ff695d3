//! Flag evaluation: compiled flag definitions and the pure, local `evaluate`.
//!
//! API SKELETON written by the lead so other modules compile against it; the flags helper
//! replaces every `unimplemented!` (and may split this into `flags/` submodules).

use std::collections::HashMap;

use serde_json::Value;

use crate::wire::{FlagChanges, FlagDefinition, Segment};

/// Labels saying why an evaluation gave its treatment (Split's names).
pub mod labels {
    /// The flag is killed: default treatment.
    pub const KILLED: &str = "killed";
    /// No rule matched: default treatment.
    pub const DEFAULT_RULE: &str = "default rule";
    /// The key is outside the traffic allocation: default treatment.
    pub const NOT_IN_SPLIT: &str = "not in split";
    /// The flag is unknown (or archived): `control`.
    pub const DEFINITION_NOT_FOUND: &str = "definition not found";
    /// Evaluation failed unexpectedly: `control`.
    pub const EXCEPTION: &str = "exception";
}

/// The treatment returned for unknown flags and failures.
pub const CONTROL: &str = "control";

/// Attributes of the user a flag is evaluated for (string, number, boolean or array of strings).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes(pub HashMap<String, Value>);

impl Attributes {
    /// No attributes.
    pub fn new() -> Self {
        Attributes(HashMap::new())
    }

    /// Adds an attribute (builder style).
    pub fn with(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.0.insert(name.into(), value.into());
        self
    }

    /// The attribute named `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }
}

/// The result of evaluating a flag for a key.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Treatment name (`control` for unknown flags).
    pub treatment: String,
    /// Why (see [`labels`] or the matching rule's name).
    pub label: String,
    /// The treatment's JSON config, if any.
    pub config: Option<String>,
    /// The flag version used (0 when the flag is unknown).
    pub version: u64,
    /// The key's bucket (1..=100) when a rollout was walked.
    pub bucket: Option<u32>,
}

/// An invalid flag definition, naming the field at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FlagError {
    /// A field holds an invalid value.
    #[error("{field}: {message}")]
    Invalid {
        /// Dotted path of the field, e.g. `rules[0].rollout`.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// An immutable, compiled snapshot of all flags and segments; cheap to evaluate against.
#[derive(Debug, Clone, Default)]
pub struct FlagSet {}

impl FlagSet {
    /// A set with no flags (version 0).
    pub fn empty() -> Self {
        unimplemented!()
    }

    /// Compiles definitions and segments (validating each; regexes and versions parsed once).
    pub fn new(_flags: Vec<FlagDefinition>, _segments: Vec<Segment>) -> Result<Self, FlagError> {
        unimplemented!()
    }

    /// A new snapshot with `changes` applied (a full set replaces everything).
    pub fn apply(&self, _changes: &FlagChanges) -> Result<FlagSet, FlagError> {
        unimplemented!()
    }

    /// The highest version among the set's flags and segments.
    pub fn version(&self) -> u64 {
        unimplemented!()
    }

    /// The definitions of the set (for caching to disk).
    pub fn definitions(&self) -> Vec<FlagDefinition> {
        unimplemented!()
    }

    /// The segments of the set (for caching to disk).
    pub fn segments(&self) -> Vec<Segment> {
        unimplemented!()
    }

    /// The definition of `flag`, if known.
    pub fn get(&self, _flag: &str) -> Option<&FlagDefinition> {
        unimplemented!()
    }

    /// Evaluates `flag` for `key` (bucketing by `bucketing_key` when given). Pure: no I/O.
    pub fn evaluate(
        &self,
        _key: &str,
        _bucketing_key: Option<&str>,
        _flag: &str,
        _attributes: &Attributes,
    ) -> Evaluation {
        unimplemented!()
    }
}

/// Checks one definition, naming the first invalid field (used by the collector for 4xx answers).
pub fn validate(_flag: &FlagDefinition) -> Result<(), FlagError> {
    unimplemented!()
}
