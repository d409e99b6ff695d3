//! What a change of the flag definitions did, for flag-update listeners: the flags whose
//! treatments may have changed, worked out once here for every platform.

use super::FlagSet;
use crate::wire::{FlagChanges, MatcherKind};

/// What one applied change did to the definitions an agent evaluates: what flag-update
/// listeners are told, so an app can re-render what a changed (e.g. killed) flag shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagsUpdate {
    /// The set's version after the change.
    pub version: u64,
    /// Sorted keys of the flags whose treatments may have changed: those whose definitions came
    /// with the change (added, changed or archived), those using a segment that did, and those
    /// depending on any of these; a whole set lists every flag of the old and new sets.
    pub flags: Vec<String>,
}

/// The keys a change brings, taken before its definitions move into a set.
#[derive(Debug, Clone, Default)]
pub struct ChangeKeys {
    full: bool,
    flags: Vec<String>,
    segments: Vec<String>,
}

impl ChangeKeys {
    /// The flag keys and segment names of `changes`.
    pub fn of(changes: &FlagChanges) -> ChangeKeys {
        ChangeKeys {
            full: changes.full,
            flags: changes.flags.iter().map(|f| f.key.clone()).collect(),
            segments: changes.segments.iter().map(|s| s.name.clone()).collect(),
        }
    }

    /// A change that replaces the whole set (a cache loaded at start).
    pub fn whole_set() -> ChangeKeys {
        ChangeKeys {
            full: true,
            ..ChangeKeys::default()
        }
    }

    /// Adds what a later change brought (nothing more once a whole set is pending: it lists
    /// every flag anyway, and the lists of a host that never asks stay bounded).
    pub fn add(&mut self, later: ChangeKeys) {
        self.full |= later.full;
        if self.full {
            self.flags = Vec::new();
            self.segments = Vec::new();
        } else {
            self.flags.extend(later.flags);
            self.segments.extend(later.segments);
        }
    }

    /// True when the change brought nothing.
    fn is_empty(&self) -> bool {
        !self.full && self.flags.is_empty() && self.segments.is_empty()
    }
}

impl FlagSet {
    /// What listeners hear now that this set replaced `before` by the change `keys` came from;
    /// `None` when the change brought nothing (an empty poll). A change is reported by what it
    /// brought, whatever the versions: definitions without versions (bundled by an app) or an
    /// older file applied over newer ones still change treatments.
    pub fn update_from(&self, before: &FlagSet, keys: &ChangeKeys) -> Option<FlagsUpdate> {
        if keys.is_empty() {
            return None;
        }
        let mut names: Vec<&str> = keys.flags.iter().map(String::as_str).collect();
        if keys.full {
            // Every flag of both sets: no dependents to look for.
            names.extend(before.inner.flags.keys().map(String::as_str));
            names.extend(self.inner.flags.keys().map(String::as_str));
        } else {
            // Then the flags using a segment the change brought, and those depending on any
            // flag listed so far (their treatments may follow), until none is added.
            loop {
                let listed = names.len();
                for entry in self.inner.flags.values() {
                    let def = &entry.def;
                    if !names.contains(&def.key.as_str())
                        && def.rules.iter().any(|rule| {
                            rule.matchers
                                .iter()
                                .any(|m| affected(&m.kind, &keys.segments, &names))
                        })
                    {
                        names.push(&def.key);
                    }
                }
                if names.len() == listed {
                    break;
                }
            }
        }
        let mut flags: Vec<String> = Vec::new();
        for name in std::collections::BinaryHeap::from(names).into_sorted_vec() {
            if flags.last().is_none_or(|last| last != name) {
                flags.push(name.to_owned());
            }
        }
        Some(FlagsUpdate {
            version: self.version(),
            flags,
        })
    }
}

/// Whether a matcher reads one of `segments` or depends on one of the flags `names`.
fn affected(kind: &MatcherKind, segments: &[String], names: &[&str]) -> bool {
    match kind {
        MatcherKind::InSegment { segment } => segments.contains(segment),
        MatcherKind::DependsOn { flag, .. } => names.contains(&flag.as_str()),
        _ => false,
    }
}
