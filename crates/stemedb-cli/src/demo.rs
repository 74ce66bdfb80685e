//! `stemedb demo`: the five moments of the pilot (docs/reference pilot criteria §4) on a small
//! medical example: conflicting claims, a retraction cascade over 110 dependents, an audit
//! trail to the source with signatures checked, time travel, and three lenses giving three
//! winners. Each moment prints its result and the demo fails if one does not hold. Keys come
//! from fixed seeds, so re-running is idempotent.
use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use stemedb::core::SecretKey;
use stemedb_client::wire::{QueryResponse, Record};
use stemedb_client::{Client, Draft};

use crate::ServerArgs;
use crate::client_cmds::print_groups;
use crate::demo_truth::{moment_audit_trail, moment_retraction};

#[derive(clap::Args)]
pub struct DemoArgs {
    #[command(flatten)]
    server: ServerArgs,
}

/// (agent, seed byte, predicate, value, confidence, timestamp, source)
type Claim = (
    &'static str,
    u8,
    &'static str,
    Value,
    f64,
    &'static str,
    &'static str,
);

fn claims() -> Vec<Claim> {
    vec![
        (
            "demo/cardiology-board",
            1,
            "recommended_mg",
            json!(81),
            0.99,
            "2019-06-01T00:00:00Z",
            "source/GUIDELINE_2019",
        ),
        (
            "demo/clinic-north",
            2,
            "recommended_mg",
            json!(160),
            0.9,
            "2021-03-01T00:00:00Z",
            "source/CLINIC_AUDIT_2021",
        ),
        (
            "demo/clinic-south",
            3,
            "recommended_mg",
            json!(160),
            0.9,
            "2022-05-01T00:00:00Z",
            "source/CLINIC_AUDIT_2022",
        ),
        (
            "demo/clinic-east",
            4,
            "recommended_mg",
            json!(160),
            0.85,
            "2020-01-15T00:00:00Z",
            "source/CLINIC_AUDIT_2020",
        ),
        (
            "demo/preprint-bot",
            5,
            "recommended_mg",
            json!(325),
            0.5,
            "2025-09-01T00:00:00Z",
            "source/PREPRINT_2025_17",
        ),
        (
            "demo/cardiology-board",
            1,
            "major_bleeding_rate",
            json!(0.002),
            0.95,
            "2019-06-01T00:00:00Z",
            "source/CARDIOVASC_MEGA_TRIAL",
        ),
        (
            "demo/preprint-bot",
            5,
            "major_bleeding_rate",
            json!(0.12),
            0.7,
            "2025-09-01T00:00:00Z",
            "source/PREPRINT_2025_17",
        ),
    ]
}

const SUBJECT: &str = "drug/aspirin/dosage";

fn signed(claim: &Claim) -> Result<Value> {
    let (agent, seed, predicate, value, confidence, timestamp, source) = claim;
    let key = SecretKey::from_seed(&[*seed; 32]);
    let draft = Draft::new(agent, SUBJECT, predicate, value.clone(), timestamp);
    Ok(draft
        .confidence(*confidence)
        .sources(&[source])
        .sign(&key)?)
}

async fn winner(
    client: &Client,
    predicate: &str,
    lens: &str,
    as_of: Option<&str>,
) -> Result<QueryResponse<Record>> {
    let mut params = vec![
        ("subject", SUBJECT),
        ("predicate", predicate),
        ("lens", lens),
    ];
    if let Some(t) = as_of {
        params.push(("as_of", t));
    }
    let answer = client
        .query(&params)
        .await
        .with_context(|| format!("querying with lens {lens}"))?;
    Ok(answer)
}

fn winner_value(answer: &QueryResponse<Record>) -> String {
    answer
        .groups
        .first()
        .map_or_else(|| "none".to_owned(), |g| g.winner.body.value.to_string())
}

pub async fn run(args: DemoArgs) -> Result<()> {
    let client = args.server.client()?;
    client.health().await.with_context(|| {
        format!(
            "is a server running at {}? (stemedb serve)",
            args.server.server
        )
    })?;
    println!("Five agents sign claims about {SUBJECT} and post them.\n");
    for claim in claims() {
        let reply = client
            .assert(&signed(&claim)?)
            .await
            .context("posting a demo assertion")?;
        let note = if reply.duplicate {
            " (already stored)"
        } else {
            ""
        };
        println!(
            "  {:<22} {:<20} = {:<6} confidence {:.2}  at {}  → {}…{note}",
            claim.0,
            claim.2,
            claim.3.to_string(),
            claim.4,
            claim.5,
            reply.id.get(..12).unwrap_or_default()
        );
    }
    moment_conflict(&client).await?;
    moment_retraction(&client).await?;
    moment_audit_trail(&client).await?;
    moment_time_travel(&client).await?;
    moment_lenses(&client).await?;
    println!(
        "\nAll five moments hold. Every record above is signed; verify any of them offline (docs/signing.md)."
    );
    Ok(())
}

async fn moment_conflict(client: &Client) -> Result<()> {
    println!(
        "\nMoment 1. Conflicting claims: the board's 0.2% bleeding rate against a preprint's 12%.\n"
    );
    let conflict = winner(client, "major_bleeding_rate", "conflict", None).await?;
    print_groups(&conflict);
    let score = conflict.groups.first().map_or(0.0, |g| g.conflict_score);
    println!("   conflict_score = {score:.3} (0 = all agree; above 0.5 = strong contradiction)");
    let authority = winner(client, "major_bleeding_rate", "authority", None).await?;
    println!(
        "   lens = authority picks {} (the higher trust × confidence)",
        winner_value(&authority)
    );
    ensure!(
        score > 0.5 && winner_value(&authority) == "0.002",
        "moment 1 failed: score {score}, authority winner {}",
        winner_value(&authority)
    );
    println!("   ✔ result: the conflict lens flags it; the authority lens picks the board's 0.002");
    Ok(())
}

async fn moment_time_travel(client: &Client) -> Result<()> {
    println!("\nMoment 4. Time travel: what did the recency lens say at each point in time?\n");
    let mut seen = Vec::new();
    for as_of in [
        "2019-12-31T00:00:00Z",
        "2024-12-31T00:00:00Z",
        "2026-01-01T00:00:00Z",
    ] {
        let answer = winner(client, "recommended_mg", "recency", Some(as_of)).await?;
        println!("   as_of {as_of}: winner {} mg", winner_value(&answer));
        seen.push(winner_value(&answer));
    }
    seen.dedup();
    ensure!(seen.len() == 3, "moment 4 failed: {seen:?}");
    println!("   ✔ result: three points in time, three answers");
    Ok(())
}

async fn moment_lenses(client: &Client) -> Result<()> {
    println!("\nMoment 5. The same records through three lenses give three answers.\n");
    let mut winners = Vec::new();
    for lens in ["recency", "authority", "consensus"] {
        let answer = winner(client, "recommended_mg", lens, None).await?;
        println!("── lens = {lens}: winner {} mg", winner_value(&answer));
        print_groups(&answer);
        winners.push(winner_value(&answer));
    }
    ensure!(
        winners[0] != winners[1] && winners[1] != winners[2] && winners[0] != winners[2],
        "moment 5 failed: expected three different winners, got {winners:?}"
    );
    println!(
        "   ✔ result: three lenses, three winners: {}",
        winners.join(" / ")
    );
    Ok(())
}
