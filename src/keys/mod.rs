//! Key storages built on [`SecureStore`](crate::store::SecureStore).

mod mask;
mod provider;

pub use mask::mask;
pub use provider::{KEY_NAME_MAX, ProviderKeyError, ProviderKeyStorage, SERVICE as PROVIDER_SERVICE, validate_key_name};
