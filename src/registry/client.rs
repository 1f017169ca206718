//! The Distribution API client.

use std::sync::Arc;

use super::{Error, RegistryOptions, Repository};

/// One registry host.
pub struct Client;

impl Client {
    /// A client for `host`.
    pub fn new(_host: &str, _options: &RegistryOptions) -> Result<Client, Error> {
        todo!("registry helper")
    }

    /// A repository on this host.
    pub fn repository(self: &Arc<Self>, _path: &str) -> Arc<dyn Repository> {
        todo!("registry helper")
    }
}
