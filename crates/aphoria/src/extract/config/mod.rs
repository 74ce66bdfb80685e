//! Extractors over configuration: Cargo manifests, TOML and JSON files, Dockerfiles, systemd
//! units, shell scripts, and secrets in any text file.
mod cargo_deps;
mod cargo_lints;
mod cargo_package;
mod cargo_profile;
mod docker_syntax;
mod dockerfile;
mod package_json;
mod password_assignment;
mod secrets;
mod shell_scripts;
mod support;
mod systemd;
mod toml_settings;
mod tsconfig;

use crate::observe::Extractor;

/// The configuration extractors, in a stable order.
pub fn all() -> Vec<Box<dyn Extractor>> {
    vec![
        Box::new(cargo_deps::CargoDeps),
        Box::new(cargo_lints::CargoLints),
        Box::new(cargo_profile::CargoProfile),
        Box::new(cargo_package::CargoPackage),
        Box::new(toml_settings::TomlSettings),
        Box::new(package_json::PackageJson),
        Box::new(tsconfig::Tsconfig),
        Box::new(dockerfile::Dockerfile),
        Box::new(systemd::Systemd),
        Box::new(shell_scripts::ShellScripts),
        Box::new(secrets::Secrets),
    ]
}
