//! The OpenAPI document against what the handlers write. On a real server, a table of routes
//! is called and each answer is validated against the schema that the served `/openapi.json`
//! gives for its route, method and status, with every object closed: a field the schema does
//! not declare, a missing required one, a wrong type or an undocumented status fails. The
//! records spliced in as pre-rendered text (queries, reads, provenance, quarantine) are checked
//! the same way, and the wire `Record` against the store's own field lists.
use serde_json::{Map, Value, json};
use stemedb_client::wire::{AssertionBody, Record, Votes};
use stemedb_server::ServerConfig;

use crate::harness::{TestServer, field_names, http};
use crate::truth::{T0, grant, post, rec, retraction};

/// The schema `value` must match, with `$ref`s resolved in `doc`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(target) => resolve(
            doc,
            doc.pointer(target.trim_start_matches('#'))
                .unwrap_or(&Value::Null),
        ),
        None => schema,
    }
}

/// The properties and required names of an object schema, `allOf` parts merged.
fn object_fields(
    doc: &Value,
    schema: &Value,
    props: &mut Map<String, Value>,
    req: &mut Vec<String>,
) {
    let schema = resolve(doc, schema);
    for part in schema["allOf"].as_array().into_iter().flatten() {
        object_fields(doc, part, props, req);
    }
    if let Some(own) = schema["properties"].as_object() {
        props.extend(own.clone());
    }
    req.extend(
        schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(str::to_owned)),
    );
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    }
}

/// Every way `value` (at `path`) departs from `schema`.
fn departures(doc: &Value, schema: &Value, value: &Value, path: &str, out: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if schema.is_null() {
        out.push(format!("{path}: the schema names an unknown component"));
        return;
    }
    let branches = schema["oneOf"].as_array().or(schema["anyOf"].as_array());
    if let Some(branches) = branches {
        let fits = branches.iter().any(|b| {
            let mut errors = Vec::new();
            departures(doc, b, value, path, &mut errors);
            errors.is_empty()
        });
        if !fits {
            out.push(format!("{path}: matches no branch of {schema}"));
        }
        return;
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() && !types.iter().any(|t| type_matches(t, value)) {
        out.push(format!("{path}: {value} is not {types:?}"));
        return;
    }
    if let (Some(items), Some(values)) = (schema.get("items"), value.as_array()) {
        for (i, item) in values.iter().enumerate() {
            departures(doc, items, item, &format!("{path}[{i}]"), out);
        }
    }
    let (mut props, mut required) = (Map::new(), Vec::new());
    object_fields(doc, schema, &mut props, &mut required);
    let Some(fields) = value.as_object().filter(|_| !props.is_empty()) else {
        return;
    };
    for name in required.iter().filter(|r| !fields.contains_key(*r)) {
        out.push(format!("{path}: required field {name} is missing"));
    }
    for (name, field) in fields {
        match props.get(name) {
            Some(field_schema) => {
                departures(doc, field_schema, field, &format!("{path}.{name}"), out)
            }
            None => out.push(format!("{path}: field {name} is not in the schema")),
        }
    }
}

/// Calls `method path` (documented as `route`) and checks the answer against the schema the
/// served document gives for that route, method and status; returns the answer.
async fn check(
    http: &reqwest::Client,
    url: &str,
    doc: &Value,
    (method, route, path, body): (&str, &str, &str, Option<Value>),
) -> Value {
    let mut request = http.request(method.parse().unwrap(), format!("{url}{path}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16().to_string();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let answer: Value = response.json().await.unwrap();
    let operation = &doc["paths"][route][method.to_lowercase()];
    let documented = &operation["responses"][&status]["content"][&content_type]["schema"];
    assert!(
        !documented.is_null(),
        "{method} {path}: status {status} as {content_type} is not documented: {answer}"
    );
    let mut out = Vec::new();
    departures(doc, documented, &answer, "$", &mut out);
    assert!(
        out.is_empty(),
        "{method} {path} ({status}) departs from its schema:\n{}\n{answer}",
        out.join("\n")
    );
    answer
}

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_matches_the_served_openapi_schema() {
    let mut config = ServerConfig::default();
    config.db.policy.new_subjects_burst_max = 3;
    let server = TestServer::start_with(config).await;
    let (c, url) = (&server.client, server.url.as_str());
    let doc = c.get_json("/openapi.json", &[]).await.unwrap();
    grant(c, "/v1/admin/trust-roots", "root").await;
    grant(c, "/v1/admin/curators", "root").await;
    post(
        c,
        "/v1/trust",
        &rec(
            10,
            "root",
            "agent/ann",
            "stemedb:trusts",
            json!(0.9),
            T0,
            &[],
        ),
    )
    .await;
    let base = post(
        c,
        "/v1/assert",
        &rec(
            11,
            "ann",
            "drug/a",
            "mg",
            json!(5),
            T0,
            &[("sources", json!(["source/s"]))],
        ),
    )
    .await;
    let base = base["id"].as_str().unwrap().to_owned();
    post(
        c,
        "/v1/assert",
        &rec(12, "bob", "source/s", "kind", json!("trial"), T0, &[]),
    )
    .await;
    let derived = post(
        c,
        "/v1/assert",
        &rec(
            12,
            "bob",
            "drug/a",
            "mg",
            json!(7),
            T0,
            &[("derived_from", json!([base]))],
        ),
    )
    .await;
    let derived = derived["id"].as_str().unwrap().to_owned();
    let agreeing = rec(14, "carol", "drug/a", "mg", json!(6), T0, &[]);
    post(c, "/v1/assert", &agreeing).await;
    for i in 0..4 {
        post(
            c,
            "/v1/assert",
            &rec(13, "spammer", &format!("spam/s{i}"), "p", json!(i), T0, &[]),
        )
        .await;
    }
    let key = post(c, "/v1/api-keys", &json!({"name": "k", "role": "read"})).await;
    let key = key["id"].as_str().unwrap().to_owned();
    let vote = rec(14, "carol", &base, "stemedb:vote", json!(1), T0, &[]);
    let retract = retraction(12, "bob", &derived, false, T0);
    let missing = "0".repeat(64);
    let batch = json!({"assertions": [rec(15, "dan", "drug/b", "mg", json!(1), T0, &[]), {"subject": "s"}]});
    let get = |route: &'static str, path: String| ("GET", route, path, None);
    let cases: Vec<(&str, &str, String, Option<Value>)> = vec![
        (
            "POST",
            "/v1/assert",
            "/v1/assert".into(),
            Some(rec(15, "dan", "drug/c", "mg", json!(2), T0, &[])),
        ),
        (
            "POST",
            "/v1/assert",
            "/v1/assert".into(),
            Some(json!({"subject": ""})),
        ),
        (
            "POST",
            "/v1/assert/batch",
            "/v1/assert/batch".into(),
            Some(batch),
        ),
        ("POST", "/v1/vote", "/v1/vote".into(), Some(vote)),
        ("POST", "/v1/retract", "/v1/retract".into(), Some(retract)),
        get("/v1/assertions/{id}", format!("/v1/assertions/{base}")),
        get("/v1/assertions/{id}", format!("/v1/assertions/{missing}")),
        get(
            "/v1/assertions/{id}/provenance",
            format!("/v1/assertions/{derived}/provenance"),
        ),
        get(
            "/v1/query",
            "/v1/query?subject=drug/*&include_retracted=true".into(),
        ),
        get(
            "/v1/query",
            "/v1/query?subject=drug/a&predicate=mg&lens=authority&assertions_limit=1".into(),
        ),
        get(
            "/v1/query",
            "/v1/query?subject=drug/a&predicate=mg&lens=layered".into(),
        ),
        get("/v1/query", "/v1/query?subject=drug/a&lens=nope".into()),
        (
            "POST",
            "/v1/query",
            "/v1/query".into(),
            Some(json!({"subject": "*", "limit": 1})),
        ),
        get(
            "/v1/skeptic",
            "/v1/skeptic?subject=drug/a&predicate=mg".into(),
        ),
        get("/v1/quarantine", "/v1/quarantine".into()),
        get("/v1/agents/{id}", "/v1/agents/ann".into()),
        get("/v1/agents/{id}/records", "/v1/agents/ann/records".into()),
        (
            "POST",
            "/v1/admin/agents/{id}/circuit/reset",
            "/v1/admin/agents/ann/circuit/reset".into(),
            None,
        ),
        get("/v1/admin/curators", "/v1/admin/curators".into()),
        get("/v1/admin/trust-roots", "/v1/admin/trust-roots".into()),
        get("/v1/api-keys", "/v1/api-keys".into()),
        (
            "PATCH",
            "/v1/api-keys/{id}",
            format!("/v1/api-keys/{key}"),
            Some(json!({"expires_at": null, "name": "k2"})),
        ),
        (
            "POST",
            "/v1/api-keys/{id}/rotate",
            format!("/v1/api-keys/{key}/rotate"),
            None,
        ),
        (
            "POST",
            "/v1/api-keys/{id}/revoke",
            format!("/v1/api-keys/{key}/revoke"),
            None,
        ),
        get("/v1/admin/audit", "/v1/admin/audit".into()),
        get("/v1/health", "/v1/health".into()),
        get("/v1/whoami", "/v1/whoami".into()),
        get("/v1/overview", "/v1/overview".into()),
    ];
    let keyed = http();
    for (method, route, path, body) in cases {
        check(&keyed, url, &doc, (method, route, &path, body)).await;
    }
    // The retraction posted above, as the overview names it.
    let overview: serde_json::Value = c.get_json("/v1/overview", &[]).await.unwrap();
    let retraction_id = overview["retractions"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/retractions/{retraction_id}");
    check(
        &keyed,
        url,
        &doc,
        ("GET", "/v1/retractions/{id}", &path, None),
    )
    .await;
    // A group's second page carries its winner rendered on its own.
    let first = c
        .query(&[
            ("subject", "drug/a"),
            ("predicate", "mg"),
            ("assertions_limit", "1"),
        ])
        .await
        .unwrap();
    let cursor = first.groups[0]
        .assertions_cursor
        .clone()
        .expect("a second page");
    let path = format!("/v1/query?assertions_cursor={cursor}");
    check(&keyed, url, &doc, ("GET", "/v1/query", &path, None)).await;
    // Without a key, health says only `status`.
    let unkeyed = crate::harness::unkeyed();
    check(
        &unkeyed,
        url,
        &doc,
        ("GET", "/v1/health", "/v1/health", None),
    )
    .await;
}

/// The wire `Record` names exactly the store's envelope fields and the contract's body fields
/// (and `votes`), so no stored field can be missing from the client's type or the document.
#[test]
fn the_wire_record_has_every_stored_field() {
    let some = || Some("x".to_owned());
    let record = Record {
        id: "x".into(),
        signature: "x".into(),
        sequence: 1,
        recorded_at: "x".into(),
        lifecycle_stage: "x".into(),
        retracted_by: some(),
        retraction_reason: some(),
        superseded_by: some(),
        quarantine_rule: some(),
        body: AssertionBody {
            subject: "x".into(),
            predicate: "x".into(),
            value: json!(1),
            confidence: Some(1.0),
            agent_id: "x".into(),
            public_key: "x".into(),
            timestamp: "x".into(),
            sources: Some(vec![]),
            provenance: some(),
            derived_from: Some(vec![]),
            supersedes: some(),
            custodial: Some(true),
        },
        votes: Some(Votes { up: 0, down: 0 }),
    };
    let mut names = field_names(&serde_json::to_value(&record).unwrap());
    let mut stored: Vec<String> = stemedb::ENVELOPE_FIELDS
        .iter()
        .chain(stemedb::core::FIELD_NAMES.iter())
        .map(|f| (*f).to_owned())
        .collect();
    names.sort();
    stored.sort();
    assert_eq!(names, stored);
}
