//! Key storages built on [`SecureStore`](crate::store::SecureStore).

pub mod extensions;
mod mask;
mod names;
mod provider;
pub mod tokens;
pub mod tools;

pub use mask::mask;
pub use names::KeyNameCache;
pub use provider::{
    KEY_NAME_MAX, KEY_VALUE_MAX, KeyRead, ProviderKeyError, ProviderKeyStorage,
    SERVICE as PROVIDER_SERVICE, is_valid_name, normalize_value, validate_key_name,
};
