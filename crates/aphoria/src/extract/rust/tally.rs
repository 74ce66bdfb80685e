//! Aggregation of findings into one observation per (subject, predicate): a count, a sorted
//! deduplicated list, or a single value, with the line of the first finding.
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::observe::{Input, Observation};

/// One member of a list value; ints sort before strings and never mix in practice.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Member {
    Int(u64),
    Str(String),
}

impl Member {
    fn json(self) -> Value {
        match self {
            Member::Int(n) => json!(n),
            Member::Str(s) => json!(s),
        }
    }
}

enum Acc {
    Count(u64),
    /// `scalar_if_one`: a single member is reported as itself, several as a list.
    Set {
        members: BTreeSet<Member>,
        scalar_if_one: bool,
    },
    Value(Value),
}

impl Acc {
    fn json(self) -> Value {
        match self {
            Acc::Count(n) => json!(n),
            Acc::Set {
                members,
                scalar_if_one,
            } => {
                let mut list: Vec<Value> = members.into_iter().map(Member::json).collect();
                match (scalar_if_one, list.len()) {
                    (true, 1) => list.pop().unwrap_or(Value::Null),
                    _ => Value::Array(list),
                }
            }
            Acc::Value(v) => v,
        }
    }
}

/// Findings keyed by (item, predicate), where item is what [`Input::rust_subject`] takes.
#[derive(Default)]
pub struct Tally {
    found: BTreeMap<(String, &'static str), (usize, Acc)>,
}

impl Tally {
    /// The accumulator of (item, predicate); its line is the earliest finding's, whatever the
    /// order of the walk (a builder chain is visited from its last call).
    fn slot(&mut self, item: &str, pred: &'static str, line: usize, init: Acc) -> &mut Acc {
        let entry = self
            .found
            .entry((item.to_owned(), pred))
            .or_insert((line, init));
        entry.0 = entry.0.min(line);
        &mut entry.1
    }

    /// Adds one to a count.
    pub fn count(&mut self, item: &str, pred: &'static str, line: usize) {
        if let Acc::Count(n) = self.slot(item, pred, line, Acc::Count(0)) {
            *n += 1;
        }
    }

    fn member(&mut self, item: &str, pred: &'static str, line: usize, m: Member, scalar: bool) {
        let init = Acc::Set {
            members: BTreeSet::new(),
            scalar_if_one: scalar,
        };
        if let Acc::Set { members, .. } = self.slot(item, pred, line, init) {
            members.insert(m);
        }
    }

    /// Adds a name to a list value (a list even when it has one member).
    pub fn list(&mut self, item: &str, pred: &'static str, line: usize, name: &str) {
        self.member(item, pred, line, Member::Str(name.to_owned()), false);
    }

    /// Adds a string to a value that is the string itself when alone, else a list.
    pub fn one_or_list(&mut self, item: &str, pred: &'static str, line: usize, s: &str) {
        self.member(item, pred, line, Member::Str(s.to_owned()), true);
    }

    /// Adds a number to a value that is the number itself when alone, else a list.
    pub fn int(&mut self, item: &str, pred: &'static str, line: usize, n: u64) {
        self.member(item, pred, line, Member::Int(n), true);
    }

    /// Sets a single value (the last set wins; the line stays the earliest).
    pub fn value(&mut self, item: &str, pred: &'static str, line: usize, v: Value) {
        *self.slot(item, pred, line, Acc::Value(Value::Null)) = Acc::Value(v);
    }

    /// One observation per (item, predicate), in the file `input`.
    pub fn emit(self, input: &Input<'_>, out: &mut Vec<Observation>) {
        let path = &input.file.path;
        for ((item, pred), (line, acc)) in self.found {
            let subject = input.rust_subject(&item);
            out.push(Observation::new(subject, pred, acc.json(), path, line));
        }
    }
}
