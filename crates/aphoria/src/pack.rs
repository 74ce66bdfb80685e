//! Trust packs: rule sets (OWASP ASVS items, RFC requirements) signed by a pack's agent
//! `aphoria/pack/<name>` and shipped as a StemeDB audit export (`stemedb-audit/1`), so anyone
//! can check one offline with `stemedb verify`. Installing checks the whole file (every id,
//! every signature, the closing hash), that every record is a rule signed by one pack agent
//! with one key, and only then stores the rules and makes the agent a trust root.
use std::path::Path;

use serde_json::{Map, Value};
use stemedb_core::audit::{ENVELOPE_FIELDS, verify_export};

use crate::claims::{Claim, ClaimsFile};
use crate::error::AphoriaError;
use crate::record::{self, EXPECT_PREFIX, Keys, PACK_AGENT_PREFIX};
use crate::store::{Backend, Embedded};

/// A pack read and checked, ready to install.
#[derive(Debug, Clone)]
pub struct Pack {
    pub name: String,
    pub agent: String,
    pub public_key: String,
    /// Each rule's wire form (body and signature), in file order.
    pub wires: Vec<Value>,
    pub rules: Vec<Claim>,
    /// Each rule's record id, in the same order.
    pub records: Vec<String>,
}

/// Signs the rules of `rules` (the claims file format) as pack `name` with the key kept in
/// `keys`, and returns the pack file's bytes: the audit export of a store holding them alone.
pub fn build(rules: &ClaimsFile, name: &str, keys: &Keys) -> Result<Vec<u8>, AphoriaError> {
    if !crate::claims::valid_id(name) {
        return Err(AphoriaError::bad_claim(
            name,
            "a pack name is 1 to 64 of a-z 0-9 - _ . (not starting with a dot)",
        ));
    }
    if rules.claims.is_empty() {
        return Err(AphoriaError::bad_claim(
            name,
            "a pack needs at least one rule",
        ));
    }
    let agent = format!("{PACK_AGENT_PREFIX}{name}");
    let key = keys.key_for(&agent)?;
    let timestamp = record::now_rfc3339();
    let wires = rules
        .claims
        .iter()
        .map(|rule| record::claim_wire(rule, &agent, &key, &timestamp, None))
        .collect::<Result<Vec<_>, _>>()?;
    let dir = tempfile::tempdir().map_err(|e| AphoriaError::io(Path::new("temp dir"), e))?;
    let mut store = Embedded::open(&dir.path().join("db"), key.clone())?;
    let recorded = store.record(wires)?;
    if let Some((_, why)) = recorded.refused.first() {
        return Err(AphoriaError::Store(format!("a rule was refused: {why}")));
    }
    let (bytes, _) = store
        .db()
        .audit_export(&format!("{EXPECT_PREFIX}*"), None)?;
    Ok(bytes)
}

/// Reads and checks a pack file.
pub fn read(path: &Path, bytes: &[u8]) -> Result<Pack, AphoriaError> {
    let bad = |message: String| AphoriaError::BadPack {
        path: path.to_owned(),
        message,
    };
    let report = verify_export(bytes);
    if !report.ok() {
        let problems = report.problems.join("; ");
        return Err(bad(format!("does not verify: {problems}")));
    }
    let mut pack: Option<Pack> = None;
    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let entry: Value = serde_json::from_slice(line).map_err(|e| bad(e.to_string()))?;
        if entry.get("kind").and_then(Value::as_str) != Some("assertion") {
            continue; // the manifest, the closing hash, dependencies (none in a pack)
        }
        let Some(Value::Object(rec)) = entry.get("record") else {
            return Err(bad("an assertion line has no record".into()));
        };
        add_rule(&mut pack, rec).map_err(bad)?;
    }
    pack.ok_or_else(|| bad("holds no rule".into()))
}

/// Checks one exported record and adds it to the pack.
fn add_rule(pack: &mut Option<Pack>, rec: &Map<String, Value>) -> Result<(), String> {
    let text = |field: &str| {
        rec.get(field)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let (agent, key, subject) = (text("agent_id"), text("public_key"), text("subject"));
    let Some(name) = record::pack_name(&agent) else {
        return Err(format!(
            "record by {agent:?}, not a pack agent ({PACK_AGENT_PREFIX}…)"
        ));
    };
    // The name becomes a file name in .aphoria/packs/: refuse anything but a plain name.
    if !crate::claims::valid_id(name) {
        return Err(format!(
            "pack agent {agent:?} does not end in a plain name (a-z 0-9 - _ .)"
        ));
    }
    if !subject.starts_with(EXPECT_PREFIX) {
        return Err(format!(
            "record about {subject:?}, not a rule ({EXPECT_PREFIX}…)"
        ));
    }
    let rule = rec
        .get("value")
        .and_then(record::claim_of)
        .ok_or_else(|| format!("record {} holds no rule", text("id")))?;
    rule.check().map_err(|e| e.to_string())?;
    // The record must be about what its rule says: a rule carried in another group would
    // contend there while judging something else.
    if subject != format!("{EXPECT_PREFIX}{}", rule.subject) || text("predicate") != rule.predicate
    {
        return Err(format!(
            "record {} is not about the subject and predicate of rule {}",
            text("id"),
            rule.id
        ));
    }
    let pack = pack.get_or_insert_with(|| Pack {
        name: name.to_owned(),
        agent: agent.clone(),
        public_key: key.clone(),
        wires: Vec::new(),
        rules: Vec::new(),
        records: Vec::new(),
    });
    if pack.agent != agent || pack.public_key != key {
        return Err("records by more than one agent or key".into());
    }
    let mut wire = rec.clone();
    wire.retain(|k, _| k == "signature" || !ENVELOPE_FIELDS.contains(&k.as_str()));
    pack.wires.push(Value::Object(wire));
    pack.rules.push(rule);
    pack.records.push(text("id"));
    Ok(())
}

/// Stores a checked pack's rules and makes its agent a trust root.
pub fn install(pack: &Pack, store: &mut dyn Backend) -> Result<(), AphoriaError> {
    let recorded = store.record(pack.wires.clone())?;
    if let Some((_, why)) = recorded.refused.first() {
        return Err(AphoriaError::Store(format!(
            "pack {}: a rule was refused: {why}",
            pack.name
        )));
    }
    store.add_trust_root(&pack.agent)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use stemedb_core::SecretKey;

    /// An audit export of one rule signed by `agent`.
    fn export_by(agent: &str) -> Vec<u8> {
        let rules = ClaimsFile::parse(
            "[[claim]]\nid = \"r\"\ncategory = \"c\"\nsubject = \"**\"\npredicate = \"p\"\n\
             comparison = \"present\"\ninvariant = \"i\"\n",
        )
        .unwrap();
        let key = SecretKey::from_seed(&[9; 32]);
        let wire = record::claim_wire(&rules.claims[0], agent, &key, "2026-01-01T00:00:00Z", None);
        let dir = tempfile::tempdir().unwrap();
        let mut store = Embedded::open(&dir.path().join("db"), key).unwrap();
        store.record(vec![wire.unwrap()]).unwrap();
        store
            .db()
            .audit_export(&format!("{EXPECT_PREFIX}*"), None)
            .unwrap()
            .0
    }

    fn check(agent: &str, want: Result<&str, &str>) {
        let got = read(Path::new("p.jsonl"), &export_by(agent));
        match (got, want) {
            (Ok(pack), Ok(name)) => assert_eq!(pack.name, name),
            (Err(e), Err(text)) => assert!(e.to_string().contains(text), "{e} lacks {text:?}"),
            (got, want) => panic!("{agent}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn only_plain_pack_agents_are_read() {
        check("aphoria/pack/owasp-asvs", Ok("owasp-asvs"));
        check("aphoria/author/mallory", Err("not a pack agent"));
        check("aphoria/pack/../../etc", Err("plain name"));
        check("aphoria/pack/a/b", Err("plain name"));
    }
}
