//! The [`Backend`] over a StemeDB server (`aphoria --server URL`): the same records and
//! reads as the embedded store, through the HTTP API with `stemedb-client`. Naming a trust
//! root needs an admin key; the rest a write key.
use serde_json::{Value, json};
use stemedb::LensKind;
use stemedb_client::Client;
use stemedb_wire::Record;

use crate::error::AphoriaError;
use crate::record::{self, EXPECT_PREFIX};
use crate::store::{Backend, ReadGroup, Recorded, StoredClaim};

/// Records per batch request (the server's default `batch_len_max` is 10,000; smaller
/// requests keep each under the default body size limit).
const BATCH_LEN: usize = 500;

pub struct Remote {
    client: Client,
    runtime: tokio::runtime::Runtime,
}

fn remote_err(e: impl std::fmt::Display) -> AphoriaError {
    AphoriaError::Store(format!("the server: {e}"))
}

impl Remote {
    pub fn new(url: &str, api_key: Option<String>) -> Result<Remote, AphoriaError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| AphoriaError::Store(format!("no async runtime: {e}")))?;
        let client = Client::new(url, api_key).map_err(remote_err)?;
        Ok(Remote { client, runtime })
    }

    /// Every group under `aphoria/expect/`, pages of groups and each group's later pages of
    /// assertions followed, at the server's own page sizes (whatever its limits are set to).
    fn query_all(
        &self,
        lens: LensKind,
        history: bool,
        each: &mut dyn FnMut(stemedb_wire::Group<Record>),
    ) -> Result<(), AphoriaError> {
        let subject = format!("{EXPECT_PREFIX}*");
        let flag = if history { "true" } else { "false" };
        let base = [
            ("subject", subject.as_str()),
            ("lens", lens.as_str()),
            ("include_superseded", flag),
            ("include_retracted", flag),
        ];
        let mut cursor: Option<String> = None;
        loop {
            let mut params = base.to_vec();
            if let Some(c) = &cursor {
                params.push(("cursor", c.as_str()));
            }
            let page = self.get(&params)?;
            for mut group in page.groups {
                let mut more = group.assertions_cursor.take();
                while let Some(c) = more {
                    let mut params = base.to_vec();
                    params.push(("assertions_cursor", c.as_str()));
                    let Some(next) = self.get(&params)?.groups.into_iter().next() else {
                        break;
                    };
                    group.assertions.extend(next.assertions);
                    more = next.assertions_cursor;
                }
                each(group);
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(()),
            }
        }
    }

    fn get(
        &self,
        params: &[(&str, &str)],
    ) -> Result<stemedb_wire::QueryResponse<Record>, AphoriaError> {
        self.runtime
            .block_on(self.client.query(params))
            .map_err(remote_err)
    }
}

/// The stored claim a served record holds.
fn stored_claim(r: &Record) -> Option<StoredClaim> {
    Some(StoredClaim {
        claim: record::claim_of(&r.body.value)?,
        record: r.id.clone(),
        agent: r.body.agent_id.clone(),
        sequence: r.sequence,
        timestamp: r.body.timestamp.clone(),
        stage: r.lifecycle_stage.clone(),
        superseded_by: r.superseded_by.clone(),
        supersedes: r.body.supersedes.clone(),
    })
}

impl Backend for Remote {
    fn record(&mut self, wires: Vec<Value>) -> Result<Recorded, AphoriaError> {
        let mut recorded = Recorded::default();
        for (n, chunk) in wires.chunks(BATCH_LEN).enumerate() {
            let reply = self
                .runtime
                .block_on(self.client.assert_batch(chunk))
                .map_err(remote_err)?;
            for item in reply.results {
                let index = n * BATCH_LEN + usize::try_from(item.index).unwrap_or(0);
                match (item.error, item.duplicate) {
                    (Some(problem), _) => recorded
                        .refused
                        .push((index, format!("{}: {}", problem.title, problem.detail))),
                    (None, true) => recorded.duplicates += 1,
                    (None, false) => recorded.stored += 1,
                }
            }
        }
        Ok(recorded)
    }

    fn read_groups(
        &mut self,
        lens: LensKind,
        history: bool,
    ) -> Result<Vec<ReadGroup>, AphoriaError> {
        let mut groups = Vec::new();
        self.query_all(lens, history, &mut |g| {
            groups.push(ReadGroup {
                winner: stored_claim(&g.winner),
                members: g.assertions.iter().filter_map(stored_claim).collect(),
                subject: g.subject,
                predicate: g.predicate,
            });
        })?;
        Ok(groups)
    }

    /// Names `agent` a trust root unless it is one already: opening a project reinstalls its
    /// packs every time, and only the first time needs an admin key.
    fn add_trust_root(&mut self, agent: &str) -> Result<(), AphoriaError> {
        let path = format!("/v1/agents/{}", agent.replace('/', "%2F"));
        let known = self.runtime.block_on(self.client.get_json(&path, &[]));
        if let Ok(info) = known
            && info.get("trust_root") == Some(&Value::Bool(true))
        {
            return Ok(());
        }
        let (status, answer) = self
            .runtime
            .block_on(
                self.client
                    .post_json("/v1/admin/trust-roots", &json!({"agent_id": agent})),
            )
            .map_err(remote_err)?;
        match status {
            200..=299 => Ok(()),
            _ => Err(remote_err(format!(
                "naming {agent} a trust root (an admin key is needed): {status} {answer}"
            ))),
        }
    }
}
