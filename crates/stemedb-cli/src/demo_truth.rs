//! The demo's truth-maintenance moments: a retraction cascade over 110 dependents, and an
//! audit trail from a claim to its source with every signature checked (also locally).
use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use stemedb::core::SecretKey;
use stemedb::core::audit::verify_record;
use stemedb_client::{Client, Draft};

const STUDY: &str = "source/DEMO_SAFETY_STUDY";
const DEPENDENTS: usize = 110;
const TRIAL: &str = "source/TRIAL_ABC";

fn sign(
    seed: u8,
    agent: &str,
    subject: &str,
    predicate: &str,
    value: Value,
    extra: &[(&str, Value)],
) -> Result<Value> {
    let key = SecretKey::from_seed(&[seed; 32]);
    let draft = Draft::new(agent, subject, predicate, value, "2024-06-15T00:00:00Z");
    Ok(draft.fields(extra).sign(&key)?)
}

pub async fn moment_retraction(client: &Client) -> Result<()> {
    println!(
        "\nMoment 2. Retraction cascade: a safety study with {DEPENDENTS} assertions resting on it.\n"
    );
    let mut items = vec![sign(
        6,
        "demo/pharma-corp",
        STUDY,
        "title",
        json!("Demo safety study"),
        &[],
    )?];
    for i in 0..DEPENDENTS {
        items.push(sign(
            7,
            "demo/safety-monitor",
            &format!("safety/drug-{i:03}"),
            "adverse_event_rate",
            json!(0.01 + i as f64 / 10_000.0),
            &[("sources", json!([STUDY]))],
        )?);
    }
    let batch = client
        .assert_batch(&items)
        .await
        .context("posting the study and its dependents")?;
    println!(
        "   posted the study's description and {DEPENDENTS} dependents ({} new, {} already stored)",
        batch.accepted, batch.duplicates
    );
    let retraction = sign(
        6,
        "demo/pharma-corp",
        STUDY,
        "stemedb:retracts",
        json!({"reason": "the study's data could not be reproduced", "cascade": true}),
        &[("timestamp", json!("2025-10-01T00:00:00Z"))],
    )?;
    let (_, answer) = client
        .retract(&retraction)
        .await
        .context("retracting the study")?;
    println!(
        "   POST /v1/retract {{cascade: true}} by the study's author → retracted_count {}{}",
        answer.retracted_count,
        if answer.duplicate {
            " (already retracted on an earlier run)"
        } else {
            ""
        }
    );
    let (retracted, active) = count_stages(client, "safety/*").await?;
    let describing = client
        .query(&[("subject", STUDY), ("include_retracted", "true")])
        .await?;
    let study_retracted = !describing.assertions.is_empty()
        && describing
            .assertions
            .iter()
            .all(|r| r.lifecycle_stage == "retracted");
    let total = retracted + u64::from(study_retracted);
    println!(
        "   query safety/* with include_retracted=true: {retracted} dependents retracted, {active} active"
    );
    ensure!(
        total == DEPENDENTS as u64 + 1 && active == 0,
        "moment 2 failed: {total} retracted, {active} still active"
    );
    println!(
        "   ✔ result: one retraction flagged {total} assertions (the study and its {DEPENDENTS} dependents)"
    );
    Ok(())
}

/// (retracted, active) records under a subject pattern, all pages.
async fn count_stages(client: &Client, subject: &str) -> Result<(u64, u64)> {
    let (mut retracted, mut active) = (0, 0);
    let mut cursor: Option<String> = None;
    loop {
        let mut params = vec![
            ("subject", subject),
            ("include_retracted", "true"),
            ("limit", "1000"),
        ];
        if let Some(c) = &cursor {
            params.push(("cursor", c.as_str()));
        }
        let page = client.query(&params).await?;
        for record in &page.assertions {
            match record.lifecycle_stage.as_str() {
                "retracted" => retracted += 1,
                _ => active += 1,
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok((retracted, active)),
        }
    }
}

pub async fn moment_audit_trail(client: &Client) -> Result<()> {
    println!(
        "\nMoment 3. Audit trail: from a claim to the trial it rests on, signatures checked.\n"
    );
    let trial = [
        ("title", json!("Trial ABC: drug X in adults over 65")),
        ("sponsor", json!("Pharma Corp")),
        (
            "funded_by",
            json!("Pharma Corp and the National Heart Fund"),
        ),
        ("published", json!("2024-06-15")),
    ];
    for (predicate, value) in trial {
        client
            .assert(&sign(
                8,
                "demo/trial-registry",
                TRIAL,
                predicate,
                value,
                &[],
            )?)
            .await?;
    }
    let claim = sign(
        9,
        "demo/trial-analyst",
        "drug/x/safety",
        "adverse_event_rate",
        json!(0.05),
        &[
            ("sources", json!([TRIAL])),
            ("provenance", json!("Table 3 of the trial report")),
        ],
    )?;
    let reply = client.assert(&claim).await?;
    let tree = client
        .get_json(&format!("/v1/assertions/{}/provenance", reply.id), &[])
        .await
        .context("reading the provenance")?;
    let assertion = &tree["assertion"];
    println!(
        "   claim: {} {} = {}  by {}  (server check: signature_valid {})",
        assertion["subject"].as_str().unwrap_or_default(),
        assertion["predicate"].as_str().unwrap_or_default(),
        assertion["value"],
        assertion["agent_id"].as_str().unwrap_or_default(),
        tree["signature_valid"]
    );
    let mut checked = vec![verify_record(assertion).is_ok()];
    for source in tree["sources"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        println!(
            "   └─ source {}",
            source["subject"].as_str().unwrap_or_default()
        );
        for node in source["assertions"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let record = &node["assertion"];
            let local = verify_record(record).is_ok();
            checked.push(local && node["signature_valid"] == json!(true));
            println!(
                "      {:<10} = {:<45} signature valid (server {}, checked here {local})",
                record["predicate"].as_str().unwrap_or_default(),
                record["value"].to_string(),
                node["signature_valid"],
            );
        }
    }
    ensure!(
        checked.len() == 5
            && checked.iter().all(|ok| *ok)
            && tree["signature_valid"] == json!(true),
        "moment 3 failed: provenance incomplete or a signature did not verify ({checked:?})"
    );
    println!(
        "   ✔ result: the chain reaches the trial's sponsor and funders; all 5 signatures verify"
    );
    Ok(())
}
