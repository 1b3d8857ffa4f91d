//! Evidence: what a check created and saw, kept so that a reviewer can audit a verdict without rerunning it.
//!
//! A check appends to its [`Evidence`] as it goes; the command line writes each item to the run's
//! `evidence/<check>/` folder and the report links to those files.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Everything one check recorded, in the order it happened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Evidence {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<EvidenceItem>,
    /// For a requirement that several solutions (or allocation paths) can meet: how each one fared, as
    /// rolled up by [`crate::solutions::roll_up`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub solutions: Vec<crate::solutions::SolutionResult>,
}

/// One piece of evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EvidenceItem {
    /// A step the check took and what it found, in a sentence.
    Step { text: String },
    /// A Kubernetes object as kaic created or observed it, serialised as YAML.
    Object { name: String, yaml: String },
    /// A log excerpt (pod log, component log).
    Log { name: String, text: String },
    /// A measured duration, e.g. time from submit to all gang members bound.
    Timing { name: String, millis: u64 },
    /// A metric sample or other observed value.
    Value { name: String, value: String },
}

impl Evidence {
    pub fn step(&mut self, text: impl Into<String>) {
        self.items.push(EvidenceItem::Step { text: text.into() });
    }

    pub fn object(&mut self, name: impl Into<String>, yaml: impl Into<String>) {
        self.items.push(EvidenceItem::Object { name: name.into(), yaml: yaml.into() });
    }

    pub fn log(&mut self, name: impl Into<String>, text: impl Into<String>) {
        self.items.push(EvidenceItem::Log { name: name.into(), text: text.into() });
    }

    pub fn timing(&mut self, name: impl Into<String>, duration: std::time::Duration) {
        let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        self.items.push(EvidenceItem::Timing { name: name.into(), millis });
    }

    pub fn value(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.items.push(EvidenceItem::Value { name: name.into(), value: value.into() });
    }

    /// Records how one solution fared (replacing an earlier result for the same solution).
    pub fn solution(&mut self, result: crate::solutions::SolutionResult) {
        self.solutions.retain(|r| r.name != result.name);
        self.solutions.push(result);
    }

    /// The recorded timings, in order.
    pub fn timings(&self) -> impl Iterator<Item = (&str, u64)> {
        self.items.iter().filter_map(|item| match item {
            EvidenceItem::Timing { name, millis } => Some((name.as_str(), *millis)),
            _ => None,
        })
    }

    /// The recorded steps, in order.
    pub fn steps(&self) -> impl Iterator<Item = &str> {
        self.items.iter().filter_map(|item| match item {
            EvidenceItem::Step { text } => Some(text.as_str()),
            _ => None,
        })
    }
}

impl EvidenceItem {
    /// A file name for this item inside the check's evidence folder, given its position.
    /// `None` for items that live only in the report (steps, timings, values).
    pub fn file_name(&self, position: usize) -> Option<String> {
        let (name, ext) = match self {
            Self::Object { name, .. } => (name, "yaml"),
            Self::Log { name, .. } => (name, "log"),
            _ => return None,
        };
        Some(format!("{position:02}-{}.{ext}", sanitise(name)))
    }

    /// The text to write into that file.
    pub fn file_contents(&self) -> Option<&str> {
        match self {
            Self::Object { yaml, .. } => Some(yaml),
            Self::Log { text, .. } => Some(text),
            _ => None,
        }
    }
}

/// Keeps a name safe as one path component: letters, digits, `-`, `_` and `.`; the rest become `-`.
fn sanitise(name: &str) -> String {
    let cleaned: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '-' }).collect();
    let trimmed = cleaned.trim_matches('.');
    if trimmed.is_empty() { "item".into() } else { trimmed.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_single_safe_components() {
        let item = EvidenceItem::Object { name: "ResourceClaim/../../etc".into(), yaml: String::new() };
        assert_eq!(item.file_name(3).unwrap(), "03-ResourceClaim-..-..-etc.yaml");
        let log = EvidenceItem::Log { name: "..".into(), text: String::new() };
        assert_eq!(log.file_name(0).unwrap(), "00-item.log");
        assert!(EvidenceItem::Step { text: "x".into() }.file_name(1).is_none());
    }

    #[test]
    fn timings_are_listed_in_order() {
        let mut e = Evidence::default();
        e.timing("a", std::time::Duration::from_millis(5));
        e.step("did it");
        e.timing("b", std::time::Duration::from_secs(1));
        assert_eq!(e.timings().collect::<Vec<_>>(), vec![("a", 5), ("b", 1000)]);
    }
}
