//! Profiles: TOML files that name a provider, a model, its parameters and the
//! ephemeral settings — and refer to keys **by name** only. A raw key is
//! never written to a profile. llxprt's JSON profiles in the same folder are
//! read, never written.

mod file;
mod store;

pub use file::{Profile, ProfileError, ProfileFormat};
pub use store::{ProfileEntry, ProfileStore, validate_profile_name};
