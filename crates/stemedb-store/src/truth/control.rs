//! Deriving what control records change: retractions and their cascades, reinstatements,
//! disputes, votes, trust statements, gold standards, epochs and quarantine reviews. The
//! second half of `Deriver` (ordinary records are in `derive.rs`).
use std::collections::{HashSet, VecDeque};

use stemedb_core::control::{AGENT_SUBJECT_PREFIX, SERVER_AGENT_PREFIX};
use stemedb_core::{AssertionId, Control, RetractionTarget, Timestamp};

use super::derive::{Derived, Deriver, gold_marker, load_seq, scan_all};
use super::read::{MarkKind, live_causes, stage_now};
use super::{
    Epoch, EventKind, Stage, TAG_EFFECT_BY_CAUSE, TAG_EPOCH, TAG_GOLD, TAG_HELD_WHILE_RETRACTED,
    TAG_PARENT, TAG_QUARANTINE, TAG_STAGE, TAG_SUPERSEDED_WHILE_RETRACTED, decode_event, key1,
    name_prefix, role_key, tail_u64,
};
use crate::error::StoreError;
use crate::keys::decode_seq;
use crate::role::Role;

impl Deriver<'_> {
    pub(super) fn control(&mut self, control: Control) -> Result<Derived, StoreError> {
        let curator = self.is_curator();
        let mut derived = Derived::default();
        match control {
            Control::Retract {
                target: RetractionTarget::Assertion(id),
                cascade,
                ..
            } => return self.retract_assertion(&id, cascade),
            Control::Retract {
                target: RetractionTarget::Subject(subject),
                cascade,
                ..
            } => return self.retract_subject(&subject, cascade, curator),
            Control::Vote { target, up } => {
                derived.effective = true;
                self.mark(
                    &target.to_hex(),
                    MarkKind::Vote,
                    true,
                    false,
                    if up { 1.0 } else { -1.0 },
                );
            }
            Control::Trust { trustee, weight } => {
                derived.effective = true;
                self.mark(
                    &format!("{AGENT_SUBJECT_PREFIX}{trustee}"),
                    MarkKind::Trust,
                    true,
                    false,
                    weight,
                );
                if let Ok(mut cache) = self.shared.truth_cache_mut() {
                    cache.trust_version += 1;
                    cache.trust_changed_at = self.seq;
                }
            }
            Control::GoldStandard { target } => {
                derived.effective = curator;
                if let (true, Some(t)) = (curator, self.load(&target)?) {
                    let mut key = name_prefix(TAG_GOLD, &t.record.body.subject);
                    key.extend_from_slice(t.record.body.predicate.as_bytes());
                    key.push(0);
                    key.extend_from_slice(&t.seq.to_be_bytes());
                    self.batch
                        .insert(&self.shared.ks().truth, key, self.seq.to_be_bytes());
                    self.rare_marker(gold_marker(
                        &t.record.body.subject,
                        &t.record.body.predicate,
                    ));
                }
                self.mark(
                    &target.to_hex(),
                    MarkKind::GoldStandard,
                    curator,
                    false,
                    1.0,
                );
            }
            Control::Epoch { prefix, before, .. } => {
                derived.effective = curator;
                if curator {
                    derived.changed = self.open_epoch(&prefix, before)?;
                }
                self.mark(
                    &prefix,
                    MarkKind::Epoch,
                    curator,
                    false,
                    before.micros() as f64,
                );
            }
            Control::Review {
                target, approve, ..
            } => {
                return self.review(&target, approve, curator);
            }
            Control::GrantRole { agent, role } => {
                derived.effective = self.grant_role(&agent, &role)?;
            }
        }
        Ok(derived)
    }

    /// A role grant takes effect when a server signed it (ingest refuses grants and server
    /// agent ids from anyone else; this guards a log assembled some other way) and the agent
    /// does not hold the role already: from the record after this one on.
    fn grant_role(&mut self, agent: &str, role: &str) -> Result<bool, StoreError> {
        let Some(role) = Role::parse(role) else {
            return Ok(false);
        };
        if !self.agent().starts_with(SERVER_AGENT_PREFIX) {
            return Ok(false);
        }
        let mut cache = self.shared.truth_cache_mut()?;
        if cache.roles.contains_key(&(role, agent.to_owned())) {
            return Ok(false);
        }
        cache.roles.insert((role, agent.to_owned()), self.seq);
        if role == Role::TrustRoot {
            cache.trust_version += 1;
            cache.trust_changed_at = self.seq;
        }
        self.batch.insert(
            &self.shared.ks().truth,
            role_key(role, agent),
            self.seq.to_be_bytes(),
        );
        Ok(true)
    }

    fn retract_assertion(
        &mut self,
        id: &AssertionId,
        cascade: bool,
    ) -> Result<Derived, StoreError> {
        let target_hex = id.to_hex();
        let Some(target) = self.load(id)? else {
            self.mark(&target_hex, MarkKind::Dispute, false, cascade, -1.0);
            return Ok(Derived::default());
        };
        let effective = target.record.body.agent_id == self.agent() || self.is_curator();
        let mut derived = Derived {
            effective,
            ..Derived::default()
        };
        let reinstates = matches!(target.record.body.control, Some(Control::Retract { .. }));
        if !effective {
            self.mark(&target_hex, MarkKind::Dispute, false, cascade, -1.0);
            return Ok(derived);
        }
        if reinstates {
            if stage_now(self.shared, target.seq)?.stage != Stage::Retracted {
                derived.changed = self.undo(target.seq)?;
                self.event(
                    target.seq,
                    Stage::Retracted,
                    EventKind::Retract,
                    self.seq,
                    self.micros(),
                )?;
            }
        } else {
            derived.changed = self.retract_tree(vec![target.seq], cascade)?;
        }
        self.mark(&target_hex, MarkKind::Retraction, true, cascade, -1.0);
        Ok(derived)
    }

    /// A retraction naming a subject reaches what its signer has authority over (docs/truth.md,
    /// "Who"): a curator, everything about the subject and, with `cascade`, everything citing it;
    /// the subject's definer, its own assertions and, with `cascade`, the citers; anyone else,
    /// only its own assertions about the subject. It stands for later arrivals (a name mark that
    /// is `effective`) only from a curator or the definer; from anyone else it is recorded as a
    /// dispute of the subject.
    fn retract_subject(
        &mut self,
        subject: &str,
        cascade: bool,
        curator: bool,
    ) -> Result<Derived, StoreError> {
        let about = self.sequences_about(subject)?;
        let definer = !curator && self.is_definer(subject, &about)?;
        let mut roots = Vec::new();
        for seq in about {
            if curator || load_seq(self.shared, seq)?.record.body.agent_id == self.agent() {
                roots.push(seq);
            }
        }
        let standing = curator || definer;
        if cascade && standing {
            roots.extend(self.citers(subject)?);
        }
        let mut derived = Derived {
            effective: standing || !roots.is_empty(),
            ..Derived::default()
        };
        if !roots.is_empty() {
            derived.changed = self.retract_tree(roots, cascade)?;
        }
        let kind = if standing {
            MarkKind::Retraction
        } else {
            MarkKind::Dispute
        };
        self.mark(subject, kind, standing, cascade, -1.0);
        Ok(derived)
    }

    /// Whether the signer defined `subject`: it signed the earliest assertion about it
    /// (`about`, in key order), and that came before every assertion citing it in `sources`.
    /// Whoever describes a source only after others cite it cannot take their work along.
    fn is_definer(&self, subject: &str, about: &[u64]) -> Result<bool, StoreError> {
        let Some(&first) = about.iter().min() else {
            return Ok(false);
        };
        let first_citer = self.citers(subject)?.into_iter().min();
        if first_citer.is_some_and(|citer| citer < first) {
            return Ok(false);
        }
        Ok(load_seq(self.shared, first)?.record.body.agent_id == self.agent())
    }

    /// Retracts `roots` and, with `cascade`, every record whose derived_from reaches them.
    /// Records every effect (also on records already retracted by something else, so that a
    /// reinstatement of one retraction leaves the others standing). Returns how many changed.
    fn retract_tree(&mut self, roots: Vec<u64>, cascade: bool) -> Result<u64, StoreError> {
        let mut queue: VecDeque<u64> = roots.into();
        let mut seen: HashSet<u64> = HashSet::new();
        let mut changed = 0;
        let micros = self.micros();
        while let Some(target) = queue.pop_front() {
            if target >= self.seq || !seen.insert(target) {
                continue;
            }
            self.effect(self.seq, target, micros, cascade);
            if stage_now(self.shared, target)?.stage != Stage::Retracted {
                self.event(
                    target,
                    Stage::Retracted,
                    EventKind::Retract,
                    self.seq,
                    micros,
                )?;
                changed += 1;
            }
            if cascade {
                for guard in self.shared.ks().truth.prefix(key1(TAG_PARENT, target)) {
                    queue.push_back(tail_u64(&guard.key()?, "truth/parents")?);
                }
            }
        }
        Ok(changed)
    }

    /// Undoes retraction `cause`: each record it retracted goes back to what it would be
    /// without it (another standing retraction, or its stage before any retraction).
    fn undo(&mut self, cause: u64) -> Result<u64, StoreError> {
        let mut targets = Vec::new();
        for guard in self
            .shared
            .ks()
            .truth
            .prefix(key1(TAG_EFFECT_BY_CAUSE, cause))
        {
            targets.push(tail_u64(&guard.key()?, "truth/effects")?);
        }
        let micros = self.micros();
        let mut restored = 0;
        for target in targets {
            let now = stage_now(self.shared, target)?;
            if now.stage != Stage::Retracted || now.cause != Some(cause) {
                continue;
            }
            let other = live_causes(self.shared, target)?
                .into_iter()
                .find(|(c, _, _)| *c != cause);
            match other {
                Some((c, _, _)) => {
                    self.event(target, Stage::Retracted, EventKind::Retract, c, micros)?;
                }
                None => {
                    let (stage, by) = self.stage_without_retraction(target)?;
                    self.event(target, stage, EventKind::Restore, by, micros)?;
                    restored += 1;
                }
            }
        }
        Ok(restored)
    }

    /// Remembers that the record at `target`, retracted now, is superseded by record `by`
    /// once no retraction holds it (`U`, read by `stage_without_retraction`), when its stage
    /// without the retraction is one of `over` (what `by` may supersede). The first
    /// supersession wins, as for a record never retracted.
    pub(super) fn supersede_while_retracted(
        &mut self,
        target: u64,
        by: u64,
        over: &[Stage],
    ) -> Result<(), StoreError> {
        if !over.contains(&self.stage_without_retraction(target)?.0) {
            return Ok(());
        }
        self.batch.insert(
            &self.shared.ks().truth,
            key1(TAG_SUPERSEDED_WHILE_RETRACTED, target),
            by.to_be_bytes(),
        );
        Ok(())
    }

    /// The stage a record has from supersession, quarantine and reviews alone. A record held
    /// by the quarantine rules as it arrived retracted has no quarantine event (its arrival's
    /// event is the retraction) but a `W` key: held.
    pub(super) fn stage_without_retraction(&self, target: u64) -> Result<(Stage, u64), StoreError> {
        let mut base = (Stage::Active, 0);
        let mut from_events = false;
        for guard in self.shared.ks().truth.prefix(key1(TAG_STAGE, target)) {
            let (key, value) = guard.into_inner()?;
            let event = decode_event(&key, &value)?;
            if matches!(
                event.kind,
                EventKind::Supersede | EventKind::Quarantine | EventKind::Review
            ) {
                base = (event.stage, event.cause);
                from_events = true;
            }
        }
        if !from_events
            && self
                .shared
                .ks()
                .truth
                .get(key1(TAG_HELD_WHILE_RETRACTED, target))?
                .is_some()
        {
            base = (Stage::Quarantined, target);
        }
        if let Some(v) = self
            .shared
            .ks()
            .truth
            .get(key1(TAG_SUPERSEDED_WHILE_RETRACTED, target))?
        {
            base = (Stage::Superseded, decode_seq(&v, "truth/superseded")?);
        }
        Ok(base)
    }

    fn open_epoch(&mut self, prefix: &str, before: Timestamp) -> Result<u64, StoreError> {
        let groups = scan_all(self.shared, prefix.as_bytes(), self.seq)?;
        let micros = self.micros();
        let mut changed = 0;
        for seq in groups {
            let target = load_seq(self.shared, seq)?;
            if target.record.body.control.is_some() || target.record.body.timestamp >= before {
                continue;
            }
            match stage_now(self.shared, seq)?.stage {
                Stage::Active => {
                    self.event(
                        seq,
                        Stage::Superseded,
                        EventKind::Supersede,
                        self.seq,
                        micros,
                    )?;
                    changed += 1;
                }
                // A retracted record the epoch would have superseded: remembered, so that a
                // reinstatement returns it to superseded ("the stage it would have without
                // it"); skipping it left it active. Found by tests/it/differential.
                Stage::Retracted => {
                    self.supersede_while_retracted(seq, self.seq, &[Stage::Active])?;
                }
                _ => {}
            }
        }
        let mut value = before.micros().to_be_bytes().to_vec();
        value.extend_from_slice(&micros.to_be_bytes());
        value.extend_from_slice(prefix.as_bytes());
        self.batch
            .insert(&self.shared.ks().truth, key1(TAG_EPOCH, self.seq), value);
        if let Ok(mut cache) = self.shared.truth_cache_mut() {
            cache.epochs.push(Epoch {
                seq: self.seq,
                prefix: prefix.to_owned(),
                before_micros: before.micros(),
                valid_micros: micros,
            });
        }
        Ok(changed)
    }

    fn review(
        &mut self,
        id: &AssertionId,
        approve: bool,
        curator: bool,
    ) -> Result<Derived, StoreError> {
        let mut derived = Derived {
            effective: curator,
            ..Derived::default()
        };
        if let (true, Some(target)) = (curator, self.load(id)?)
            && stage_now(self.shared, target.seq)?.stage == Stage::Quarantined
        {
            {
                let stage = if approve {
                    Stage::Active
                } else {
                    Stage::Rejected
                };
                self.event(
                    target.seq,
                    stage,
                    EventKind::Review,
                    self.seq,
                    self.micros(),
                )?;
                self.batch
                    .remove(&self.shared.ks().truth, key1(TAG_QUARANTINE, target.seq));
                derived.changed = 1;
            }
        }
        self.mark(
            &id.to_hex(),
            MarkKind::Review,
            curator,
            false,
            if approve { 1.0 } else { -1.0 },
        );
        Ok(derived)
    }

    fn sequences_about(&self, subject: &str) -> Result<Vec<u64>, StoreError> {
        let mut prefix = subject.as_bytes().to_vec();
        prefix.push(0);
        scan_all(self.shared, &prefix, self.seq)
    }

    fn citers(&self, subject: &str) -> Result<Vec<u64>, StoreError> {
        let mut out = Vec::new();
        for guard in self
            .shared
            .ks()
            .by_source
            .prefix(crate::keys::name_seq_prefix(subject))
        {
            let seq = tail_u64(&guard.key()?, "by_source")?;
            if seq < self.seq {
                out.push(seq);
            }
        }
        Ok(out)
    }
}
