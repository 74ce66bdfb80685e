//! The integration-test binary: real servers over loopback HTTP with real data directories.
//! In-process servers for API behaviour; child `stemedb` processes for the CLI and crash tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agent_guard;
mod api;
mod audit;
mod backup;
mod check;
mod child;
mod cli;
mod cli_git;
mod clock;
mod cluster;
mod crash;
mod custody;
mod damage;
mod deploy;
mod differential;
mod disk;
mod faults;
mod grants;
mod harness;
mod http_origin;
mod http_strict;
mod ingest_table;
mod large_group;
mod limits;
mod metrics;
mod power;
mod query;
mod retraction_authority;
mod security;
mod stream_apply;
mod tls;
mod truth;
mod wire_rules;
mod wire_schema;
