//! The llxprt-code fallback envelope, byte for byte.
//!
//! ```text
//! {"v":2,"crypto":{"alg":"aes-256-gcm","kdf":"scrypt","N":16384,"r":8,"p":1,"saltLen":16},"data":"<base64>"}
//! ```
//!
//! `data` is `salt(16) ‖ iv(12) ‖ tag(16) ‖ ciphertext`; the key is
//! scrypt(password, salt, N=16384, r=8, p=1) → 32 bytes. This module only
//! encodes and decodes: it does no I/O and knows nothing of keyrings.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::aead::{Key, Nonce, Tag};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use zeroize::{Zeroize, Zeroizing};

use super::error::SecureStoreError;

pub const SALT_LEN: usize = 16;
pub const IV_LEN: usize = 12;
pub const TAG_LEN: usize = 16;
const HEADER_LEN: usize = SALT_LEN + IV_LEN + TAG_LEN;

/// scrypt cost parameters; readers accept exactly these.
pub const SCRYPT_LOG_N: u8 = 14;
pub const SCRYPT_N: u64 = 1 << SCRYPT_LOG_N;
pub const SCRYPT_R: u32 = 8;
pub const SCRYPT_P: u32 = 1;

/// A derived AES-256 key; wiped on drop.
pub type DerivedKey = Zeroizing<[u8; 32]>;

/// The envelope versions keyshell reads. It always writes [`Version::V2`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// Password `service-machineId`.
    V1,
    /// Password `hex(machine_secret)|service|machineId`.
    V2,
}

impl Version {
    pub fn number(self) -> u64 {
        match self {
            Version::V1 => 1,
            Version::V2 => 2,
        }
    }
}

/// The parts of a well-formed envelope, before decryption.
#[derive(Debug)]
pub struct Sealed {
    pub version: Version,
    pub salt: [u8; SALT_LEN],
    pub iv: [u8; IV_LEN],
    pub tag: [u8; TAG_LEN],
    pub ciphertext: Vec<u8>,
}

pub const MSG_NOT_JSON: &str = "Fallback file is corrupt or uses an unrecognized format";
pub const MSG_MALFORMED: &str = "Fallback file envelope is malformed";
pub const MSG_DECRYPT: &str = "Failed to decrypt fallback file";
pub const MSG_NO_SECRET: &str = "v:2 fallback file cannot be decrypted: no machine secret is available. The OS keyring may be disabled or unavailable and no machine-secret file exists on disk.";

/// The error for an envelope version keyshell does not know (llxprt's text).
pub fn unknown_version(v: &Value) -> SecureStoreError {
    let shown = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    SecureStoreError::with_remediation(
        super::error::ErrorCode::Corrupt,
        format!("Unrecognized envelope version: {shown}. This file may require a newer version."),
        "upgrade to the latest version or re-save the key",
    )
}

/// The version number of an envelope, if the bytes are a JSON object with a `v`.
/// Used by start-up to spot files written by a newer tool, without decrypting.
pub fn peek_version(bytes: &[u8]) -> Option<Value> {
    let value: Value = serde_json::from_slice(bytes).ok()?;
    value.get("v").cloned()
}

/// Parses and checks an envelope: exactly v1 or v2 with exactly llxprt's parameters.
pub fn parse(bytes: &[u8]) -> Result<Sealed, SecureStoreError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|_| SecureStoreError::corrupt(MSG_NOT_JSON))?;
    let object = value
        .as_object()
        .ok_or_else(|| SecureStoreError::corrupt(MSG_NOT_JSON))?;
    let version = match object.get("v") {
        // JSON numbers: llxprt (JavaScript) reads `2.0` as 2.
        Some(v) if v.as_f64() == Some(1.0) => Version::V1,
        Some(v) if v.as_f64() == Some(2.0) => Version::V2,
        Some(other) => return Err(unknown_version(other)),
        None => return Err(SecureStoreError::corrupt(MSG_MALFORMED)),
    };
    let crypto = object.get("crypto").and_then(Value::as_object);
    let parameters_ok = crypto.is_some_and(|c| {
        c.get("alg") == Some(&Value::from("aes-256-gcm"))
            && c.get("kdf") == Some(&Value::from("scrypt"))
            && c.get("N").and_then(Value::as_u64) == Some(SCRYPT_N)
            && c.get("r").and_then(Value::as_u64) == Some(u64::from(SCRYPT_R))
            && c.get("p").and_then(Value::as_u64) == Some(u64::from(SCRYPT_P))
            && c.get("saltLen").and_then(Value::as_u64) == Some(SALT_LEN as u64)
    });
    let data = object.get("data").and_then(Value::as_str);
    let (true, Some(data)) = (parameters_ok, data) else {
        return Err(SecureStoreError::corrupt(MSG_MALFORMED));
    };
    let raw = decode_base64(data).ok_or_else(|| SecureStoreError::corrupt(MSG_MALFORMED))?;
    if raw.len() < HEADER_LEN {
        return Err(SecureStoreError::corrupt(MSG_MALFORMED));
    }
    let (salt, rest) = raw.split_at(SALT_LEN);
    let (iv, rest) = rest.split_at(IV_LEN);
    let (tag, ciphertext) = rest.split_at(TAG_LEN);
    Ok(Sealed {
        version,
        salt: salt.try_into().expect("split at SALT_LEN"),
        iv: iv.try_into().expect("split at IV_LEN"),
        tag: tag.try_into().expect("split at TAG_LEN"),
        ciphertext: ciphertext.to_vec(),
    })
}

/// Node's reader is lenient: it skips white space and accepts the URL-safe alphabet.
fn decode_base64(data: &str) -> Option<Vec<u8>> {
    let cleaned: String = data
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    let unpadded = cleaned.trim_end_matches('=');
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(unpadded)
        .ok()
}

/// The KDF password of a version (zeroized on drop).
pub fn password(
    version: Version,
    service: &str,
    machine_id: &str,
    machine_secret: Option<&[u8; 32]>,
) -> Result<Zeroizing<String>, SecureStoreError> {
    Ok(Zeroizing::new(match version {
        Version::V1 => format!("{service}-{machine_id}"),
        Version::V2 => {
            let secret = machine_secret.ok_or_else(|| SecureStoreError::corrupt(MSG_NO_SECRET))?;
            let mut hex = Zeroizing::new(String::with_capacity(64));
            for byte in secret {
                hex.push_str(&format!("{byte:02x}"));
            }
            format!("{}|{service}|{machine_id}", hex.as_str())
        }
    }))
}

/// scrypt(password, salt) with llxprt's parameters. Costs ~35 ms in release:
/// call it off the async executor.
pub fn derive_key(password: &str, salt: &[u8; SALT_LEN]) -> DerivedKey {
    let params = scrypt::Params::new(SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P)
        .expect("llxprt's scrypt parameters are valid");
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(password.as_bytes(), salt, &params, key.as_mut())
        .expect("a 32-byte output is a valid scrypt length");
    key
}

/// Decrypts a sealed envelope with its derived key.
pub fn open(sealed: &Sealed, key: &DerivedKey) -> Result<Zeroizing<Vec<u8>>, SecureStoreError> {
    let cipher = Aes256Gcm::new(<&Key<Aes256Gcm>>::from(&**key));
    let mut buffer = Zeroizing::new(sealed.ciphertext.clone());
    cipher
        .decrypt_inout_detached(
            <&Nonce<Aes256Gcm>>::from(&sealed.iv),
            b"",
            buffer.as_mut_slice().into(),
            <&Tag<Aes256Gcm>>::from(&sealed.tag),
        )
        .map_err(|_| {
            SecureStoreError::with_remediation(
                super::error::ErrorCode::Corrupt,
                MSG_DECRYPT,
                "Re-save the key or re-authenticate. The file may have been created on a different machine.",
            )
        })?;
    Ok(buffer)
}

/// Encrypts `plaintext` into the compact v2 (or v1) envelope text.
pub fn seal(
    version: Version,
    key: &DerivedKey,
    salt: &[u8; SALT_LEN],
    iv: &[u8; IV_LEN],
    plaintext: &[u8],
) -> String {
    let cipher = Aes256Gcm::new(<&Key<Aes256Gcm>>::from(&**key));
    let mut buffer = Zeroizing::new(plaintext.to_vec());
    let tag = cipher
        .encrypt_inout_detached(
            <&Nonce<Aes256Gcm>>::from(iv),
            b"",
            buffer.as_mut_slice().into(),
        )
        .expect("AES-GCM encrypts any message shorter than 64 GiB");
    let mut raw = Vec::with_capacity(HEADER_LEN + buffer.len());
    raw.extend_from_slice(salt);
    raw.extend_from_slice(iv);
    raw.extend_from_slice(&tag);
    raw.extend_from_slice(&buffer);
    let data = STANDARD.encode(&raw);
    raw.zeroize();
    format!(
        r#"{{"v":{},"crypto":{{"alg":"aes-256-gcm","kdf":"scrypt","N":{SCRYPT_N},"r":{SCRYPT_R},"p":{SCRYPT_P},"saltLen":{SALT_LEN}}},"data":"{data}"}}"#,
        version.number()
    )
}

/// Lower-case hex SHA-256 of `hostname + username` (no separator).
pub fn machine_id(hostname: &str, username: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{hostname}{username}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICE: &str = "llxprt-code-provider-keys";
    const V1_DATA: &str =
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGz1Of2rmBPhViT5ZYAa2IHf5zUL1zRWLL/kQTg==";
    const V2_DATA: &str =
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaG7uFUPhCPCYURdvOohqqLuv+f9pGrA0JKqTY4A==";

    fn envelope(v: u64, data: &str) -> String {
        format!(
            r#"{{"v":{v},"crypto":{{"alg":"aes-256-gcm","kdf":"scrypt","N":16384,"r":8,"p":1,"saltLen":16}},"data":"{data}"}}"#
        )
    }

    fn vector_secret() -> [u8; 32] {
        std::array::from_fn(|i| i as u8)
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn machine_id_matches_the_reference() {
        assert_eq!(
            machine_id("host", "user"),
            "8d0ac992bcd4ae1407f1bf92f5d62368438075e8a8bf06fbb4e20bff22fd250a"
        );
    }

    #[test]
    fn v1_test_vector_decrypts() {
        let id = machine_id("host", "user");
        let sealed = parse(envelope(1, V1_DATA).as_bytes()).unwrap();
        assert_eq!(sealed.version, Version::V1);
        let pw = password(Version::V1, SERVICE, &id, None).unwrap();
        let key = derive_key(&pw, &sealed.salt);
        assert_eq!(
            hex(key.as_ref()),
            "2081baaf56a3259a64c28da0ff0d86f3ce12c67d9ed3958657d81e7d73909b6a"
        );
        assert_eq!(open(&sealed, &key).unwrap().as_slice(), b"sk-test-123");
    }

    #[test]
    fn v2_test_vector_decrypts() {
        let id = machine_id("host", "user");
        let sealed = parse(envelope(2, V2_DATA).as_bytes()).unwrap();
        assert_eq!(sealed.version, Version::V2);
        let pw = password(Version::V2, SERVICE, &id, Some(&vector_secret())).unwrap();
        let key = derive_key(&pw, &sealed.salt);
        assert_eq!(
            hex(key.as_ref()),
            "d4d0856a1f7faecc85fc1df4e717bfd6494aac407b812be6c736c89625dde8ef"
        );
        assert_eq!(open(&sealed, &key).unwrap().as_slice(), b"sk-test-123");
    }

    #[test]
    fn seal_reproduces_the_v2_vector_byte_for_byte() {
        let id = machine_id("host", "user");
        let salt: [u8; 16] = std::array::from_fn(|i| i as u8);
        let iv: [u8; 12] = std::array::from_fn(|i| 0x10 + i as u8);
        let pw = password(Version::V2, SERVICE, &id, Some(&vector_secret())).unwrap();
        let key = derive_key(&pw, &salt);
        assert_eq!(
            seal(Version::V2, &key, &salt, &iv, b"sk-test-123"),
            envelope(2, V2_DATA)
        );
    }

    #[test]
    fn v2_without_a_secret_is_corrupt_with_llxprts_message() {
        let err = password(Version::V2, SERVICE, "id", None).unwrap_err();
        assert_eq!(err.message, MSG_NO_SECRET);
    }

    #[test]
    fn unknown_versions_and_parameters_are_refused() {
        let err = parse(envelope(3, V2_DATA).as_bytes()).unwrap_err();
        assert_eq!(
            err.message,
            "Unrecognized envelope version: 3. This file may require a newer version."
        );
        let err = parse(br#"{"v":"2","crypto":{},"data":""}"#).unwrap_err();
        assert_eq!(
            err.message,
            "Unrecognized envelope version: 2. This file may require a newer version."
        );
        let other_n = envelope(2, V2_DATA).replace("16384", "32768");
        assert_eq!(
            parse(other_n.as_bytes()).unwrap_err().message,
            MSG_MALFORMED
        );
        let no_data = envelope(2, V2_DATA).replace(r#""data""#, r#""date""#);
        assert_eq!(
            parse(no_data.as_bytes()).unwrap_err().message,
            MSG_MALFORMED
        );
        assert_eq!(parse(b"not json").unwrap_err().message, MSG_NOT_JSON);
        assert_eq!(parse(b"[1,2]").unwrap_err().message, MSG_NOT_JSON);
    }

    #[test]
    fn a_flipped_ciphertext_bit_fails_authentication() {
        let id = machine_id("host", "user");
        let mut sealed = parse(envelope(1, V1_DATA).as_bytes()).unwrap();
        sealed.ciphertext[0] ^= 1;
        let pw = password(Version::V1, SERVICE, &id, None).unwrap();
        let key = derive_key(&pw, &sealed.salt);
        assert_eq!(open(&sealed, &key).unwrap_err().message, MSG_DECRYPT);
    }
}
