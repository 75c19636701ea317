//! Key storages built on [`SecureStore`](crate::store::SecureStore).

mod mask;
mod names;
mod provider;

pub use mask::mask;
pub use names::KeyNameCache;
pub use provider::{
    KEY_NAME_MAX, ProviderKeyError, ProviderKeyStorage, SERVICE as PROVIDER_SERVICE,
    validate_key_name,
};
