//! Extractors over Rust source (parsed once per file with `syn`). Each walks the tree with
//! the shared [`visit`] walker, which decides subjects and skips test code.
mod allow_attrs;
mod bind_address;
mod crate_lints;
mod env_config;
mod hashing;
mod http_routes;
mod limits;
mod panics;
mod process_spawn;
mod randomness;
mod sensitive_logging;
mod sql_strings;
mod syntax;
mod tally;
mod testcode;
mod timeouts;
mod tls;
mod unsafe_code;
mod visit;

use crate::observe::Extractor;

/// The Rust extractors, in a stable order.
pub fn all() -> Vec<Box<dyn Extractor>> {
    vec![
        Box::new(unsafe_code::UnsafeCode),
        Box::new(crate_lints::CrateLints),
        Box::new(panics::Panics),
        Box::new(allow_attrs::AllowAttrs),
        Box::new(bind_address::BindAddress),
        Box::new(limits::Limits),
        Box::new(timeouts::Timeouts),
        Box::new(randomness::Randomness),
        Box::new(hashing::Hashing),
        Box::new(tls::Tls),
        Box::new(sql_strings::SqlStrings),
        Box::new(sensitive_logging::SensitiveLogging),
        Box::new(env_config::EnvConfig),
        Box::new(process_spawn::ProcessSpawn),
        Box::new(http_routes::HttpRoutes),
    ]
}
