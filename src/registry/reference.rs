//! Image references in docker's grammar.

use super::Error;

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    registry: String,
    repository: String,
}

impl Reference {
    /// Parses a reference.
    pub fn parse(_text: &str) -> Result<Reference, Error> {
        todo!("registry helper")
    }

    /// Registry host.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// Repository path.
    pub fn repository(&self) -> &str {
        &self.repository
    }
}
