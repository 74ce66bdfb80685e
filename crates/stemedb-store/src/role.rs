//! Administrative roles granted to agents: derived from `stemedb:grants-role` records (truth
//! key `R`), plus legacy grants kept in `meta` under `role/…` by earlier versions.
/// Administrative roles granted to agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// May retract, supersede, mark gold standards, open epochs and review quarantine.
    Curator,
    /// A root of the trust graph.
    TrustRoot,
}

impl Role {
    /// The name used in backups and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Curator => "curator",
            Role::TrustRoot => "trust_root",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "curator" => Some(Role::Curator),
            "trust_root" => Some(Role::TrustRoot),
            _ => None,
        }
    }

    pub(crate) fn key_prefix(self) -> &'static str {
        match self {
            Role::Curator => "role/curator/",
            Role::TrustRoot => "role/trust-root/",
        }
    }
}
