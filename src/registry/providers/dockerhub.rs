//! Placeholder until the provider lands: the plain Distribution API.

use std::sync::Arc;

use crate::registry::client::DistributionRepository;
use crate::registry::{Error, RegistryOptions, Repository};

/// Opens the repository.
pub fn open(
    registry: Arc<DistributionRepository>,
    options: &RegistryOptions,
) -> Result<Arc<dyn Repository>, Error> {
    let _ = options;
    Ok(registry)
}
