//! The admin state in cluster mode (issue 12): API keys, custodial agent keys and audit entries
//! committed on any node through an in-process admin stream (`fake.rs`) end as equal files on
//! every node; redelivery and replay after a crash change nothing; a node whose master key
//! differs, and a malformed change, are typed errors naming what is wrong; a single node writes
//! its files as before.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod custodial;
mod fake;
mod keys;
mod stream;
