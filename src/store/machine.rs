//! Who and where we are: the machine id and the machine secret that key the
//! fallback envelope.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

/// The keyring entry that holds the machine secret (shared with llxprt-code).
pub const SECRET_SERVICE: &str = "llxprt-code-machine-secret";
pub const SECRET_ACCOUNT: &str = "default";

/// 32 secret bytes, wiped on drop.
pub type MachineSecret = Zeroizing<[u8; 32]>;

/// `lowerhex(sha256(hostname + username))` for this process.
pub fn current_machine_id() -> String {
    super::envelope::machine_id(&hostname(), &username())
}

fn hostname() -> String {
    hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The user database's name for the effective uid, else the numeric uid.
fn username() -> String {
    let uid = nix::unistd::geteuid();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(user)) => user.name,
        _ => uid.to_string(),
    }
}

/// What a stored machine secret turned out to be.
pub enum Lookup {
    Found(MachineSecret),
    Missing,
    /// Present but not 32 bytes of standard base64.
    Unusable,
}

/// Decodes the stored form (standard base64 of exactly 32 bytes).
pub fn decode(text: &str) -> Lookup {
    let Ok(bytes) = STANDARD.decode(text.trim()) else {
        return Lookup::Unusable;
    };
    let bytes = Zeroizing::new(bytes);
    match <[u8; 32]>::try_from(bytes.as_slice()) {
        Ok(secret) => Lookup::Found(Zeroizing::new(secret)),
        Err(_) => Lookup::Unusable,
    }
}

pub fn encode(secret: &[u8; 32]) -> Zeroizing<String> {
    Zeroizing::new(STANDARD.encode(secret))
}

pub fn generate() -> MachineSecret {
    let mut secret = Zeroizing::new([0u8; 32]);
    rand::fill(secret.as_mut_slice());
    secret
}
