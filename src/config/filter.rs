//! The filesystem filter of a job (`[jobs.filesystems]`): which datasets are replicated, and by which rule.

use crate::error::Invalid;
use std::collections::{BTreeMap, BTreeSet};

use serde::de::{self, Deserializer};
use serde::Deserialize;

use crate::zfs::names::DatasetName;

/// Which filesystems a job replicates: keys "pool/a" (exactly that dataset) or "pool/a<" (the dataset and
/// everything below), values true (include) / false (exclude). Most specific rule wins: an exact rule beats
/// a subtree rule for the same dataset; among subtree rules the deepest one wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    rules: Vec<FilterRule>,
}

/// One parsed filter rule.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FilterRule {
    /// The key as written.
    key: String,
    dataset: DatasetName,
    /// `<` rule: the dataset and everything below it.
    subtree: bool,
    include: bool,
}

/// The rule that decided whether a dataset is replicated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterMatch {
    /// The rule's key as written, e.g. `"tank/data<"`.
    pub rule: String,
    /// Whether the rule includes (true) or excludes (false) the dataset.
    pub include: bool,
}

impl Filter {
    /// Parses the rules; invalid dataset names are errors and at least one rule must include.
    pub fn parse(rules: &BTreeMap<String, bool>) -> Result<Filter, Invalid> {
        let mut parsed = Vec::with_capacity(rules.len());
        for (key, &include) in rules {
            let (name, subtree) = match key.strip_suffix('<') {
                Some(name) => (name, true),
                None => (key.as_str(), false),
            };
            let dataset = DatasetName::new(name).map_err(|e| {
                format!("rule {key:?}: {e} (rules are \"pool/fs\" for one dataset or \"pool/fs<\" for a subtree)")
            })?;
            parsed.push(FilterRule {
                key: key.clone(),
                dataset,
                subtree,
                include,
            });
        }
        if !parsed.iter().any(|rule| rule.include) {
            return Err(Invalid::from(
                "no rule includes anything: add at least one rule set to true, e.g. \"pool/data<\" = true".to_string(),
            ));
        }
        Ok(Filter { rules: parsed })
    }

    /// The most specific rule that applies to `fs`; `None` when no rule does (then `fs` is not included).
    pub fn matches(&self, fs: &DatasetName) -> Option<FilterMatch> {
        let mut best: Option<&FilterRule> = None;
        for rule in &self.rules {
            if rule.dataset == *fs && !rule.subtree {
                best = Some(rule);
                break;
            }
            let applies = rule.subtree && (rule.dataset == *fs || fs.is_strictly_below(&rule.dataset));
            if applies && best.is_none_or(|b| rule.dataset.depth() > b.dataset.depth()) {
                best = Some(rule);
            }
        }
        best.map(|rule| FilterMatch {
            rule: rule.key.clone(),
            include: rule.include,
        })
    }

    /// Whether `fs` is replicated.
    pub fn includes(&self, fs: &DatasetName) -> bool {
        self.matches(fs).is_some_and(|m| m.include)
    }

    /// The rules as written (`"pool/a<"`) with their value, in order.
    pub fn rules(&self) -> impl Iterator<Item = (&str, bool)> {
        self.rules.iter().map(|r| (r.key.as_str(), r.include))
    }

    /// The datasets named by the filter's rules that the filter includes, in order.
    pub fn included_rule_datasets(&self) -> Vec<&DatasetName> {
        self.rules
            .iter()
            .map(|rule| &rule.dataset)
            .filter(|d| self.includes(d))
            .collect()
    }

    /// An included dataset at or below `root`, if the filter includes one: `root` itself, else the first
    /// include rule's dataset below it. Replicating into a receiver inside the replicated tree would send
    /// the copies again on every run.
    pub fn included_at_or_below(&self, root: &DatasetName) -> Option<DatasetName> {
        if self.includes(root) {
            return Some(root.clone());
        }
        self.rules
            .iter()
            .find(|rule| rule.include && rule.dataset.is_strictly_below(root) && self.includes(&rule.dataset))
            .map(|rule| rule.dataset.clone())
    }

    /// The datasets to list recursively so that every included dataset is covered: the included rules'
    /// datasets with those below another root removed (sorted).
    pub fn roots(&self) -> Vec<DatasetName> {
        let included: BTreeSet<&DatasetName> = self
            .rules
            .iter()
            .filter(|rule| rule.include)
            .map(|rule| &rule.dataset)
            .collect();
        included
            .iter()
            .filter(|ds| !included.iter().any(|other| ds.is_strictly_below(other)))
            .map(|ds| (*ds).clone())
            .collect()
    }
}

impl<'de> Deserialize<'de> for Filter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let rules = BTreeMap::<String, bool>::deserialize(d)?;
        Filter::parse(&rules).map_err(de::Error::custom)
    }
}
