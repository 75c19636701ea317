//! [`TokenStorage`]: MCP OAuth credentials, stored as llxprt-code stores them
//! (service `llxprt-cli-mcp-oauth`, one compact JSON value per server) so both
//! tools share them — but over [`SecureStore`], so the encrypted file fallback
//! is kept where llxprt lost it.
//!
//! Access and refresh tokens are [`Secret`]s: they are redacted in `Debug`,
//! zeroized on drop, and never formatted into an error. Even a parse failure
//! names only the server, since serde's messages can quote the stored text.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::paths::Layout;
use crate::store::{
    FallbackPolicy, KeyringLoader, Secret, SecureStore, SecureStoreError, SecureStoreOptions,
    StoredIn,
};

pub const SERVICE: &str = "llxprt-cli-mcp-oauth";

/// A token counts as expired this long before its `expiresAt` (llxprt's buffer).
pub const EXPIRY_BUFFER_MS: i64 = 300_000;

/// Accounts llxprt's own keychain probe may leave behind; never a server.
const LLXPRT_PROBE_PREFIX: &str = "__keychain_test__";

/// Why a token storage operation failed. The texts are llxprt's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// `Server name is required`, `Token is required`, `Access token is
    /// required` or `Token type is required`.
    #[error("{0}")]
    Validation(&'static str),
    /// The stored value for this server is not credentials JSON.
    #[error("Failed to parse stored credentials for {0}")]
    Parse(String),
    #[error("No credentials found for {0}")]
    NotFound(String),
    /// The messages of every deletion that failed, joined by `, `.
    #[error("Failed to clear some credentials: {0}")]
    ClearFailed(String),
    #[error(transparent)]
    Store(#[from] SecureStoreError),
}

/// An OAuth token as llxprt stores it (`mcp/token-storage/types.ts`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthToken {
    #[serde(with = "secret_json")]
    pub access_token: Secret,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "optional_secret_json"
    )]
    pub refresh_token: Option<Secret>,
    /// Milliseconds since the Unix epoch.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "optional_millis_json"
    )]
    pub expires_at: Option<i64>,
    pub token_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl OAuthToken {
    /// A token with just an access token and a type.
    pub fn new(access_token: impl Into<String>, token_type: impl Into<String>) -> Self {
        OAuthToken {
            access_token: Secret::new(access_token),
            refresh_token: None,
            expires_at: None,
            token_type: token_type.into(),
            scope: None,
        }
    }

    /// llxprt's rule: no `expiresAt` → never; else `now > expiresAt − 5 min`.
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expires_at
            .is_some_and(|at| now_ms > at.saturating_sub(EXPIRY_BUFFER_MS))
    }

    /// Where the token stands at `now_ms`, for display.
    pub fn expiry(&self, now_ms: i64) -> Expiry {
        match self.expires_at {
            None => Expiry::NoExpiry,
            Some(at) if now_ms >= at => Expiry::Expired { expires_at: at },
            Some(at) if self.is_expired(now_ms) => Expiry::ExpiringSoon { expires_at: at },
            Some(at) => Expiry::Valid { expires_at: at },
        }
    }
}

/// One MCP server's credentials as llxprt stores them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthCredentials {
    pub server_name: String,
    pub token: OAuthToken,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_server_url: Option<String>,
    /// Milliseconds since the Unix epoch; [`TokenStorage::set_credentials`] sets it.
    #[serde(default, with = "millis_json")]
    pub updated_at: i64,
}

impl OAuthCredentials {
    /// Credentials with no optional fields and `updated_at` 0 (set on write).
    pub fn new(server_name: impl Into<String>, token: OAuthToken) -> Self {
        OAuthCredentials {
            server_name: server_name.into(),
            token,
            client_id: None,
            token_url: None,
            mcp_server_url: None,
            updated_at: 0,
        }
    }

    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.token.is_expired(now_ms)
    }

    /// What `/mcp tokens` may show about these credentials: never a token.
    pub fn status(&self, now_ms: i64) -> TokenStatus {
        TokenStatus {
            server_name: self.server_name.clone(),
            token_type: self.token.token_type.clone(),
            has_refresh_token: self.token.refresh_token.is_some(),
            expiry: self.token.expiry(now_ms),
        }
    }

    /// llxprt's checks, in llxprt's order.
    pub fn validate(&self) -> Result<(), TokenError> {
        validate_credentials(&self.server_name, Some(&self.token))
    }
}

/// Where a token stands relative to its `expiresAt`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    NoExpiry,
    /// More than [`EXPIRY_BUFFER_MS`] left.
    Valid {
        expires_at: i64,
    },
    /// Inside the 5-minute buffer: llxprt already treats it as expired.
    ExpiringSoon {
        expires_at: i64,
    },
    /// `expiresAt` has passed.
    Expired {
        expires_at: i64,
    },
}

/// The displayable facts about one server's token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenStatus {
    pub server_name: String,
    pub token_type: String,
    pub has_refresh_token: bool,
    pub expiry: Expiry,
}

/// Validates credentials in llxprt's order. `token` is an `Option` so that
/// input that lacks a token (hand-written JSON) meets llxprt's message too.
/// Blank (whitespace-only) values count as missing.
pub fn validate_credentials(
    server_name: &str,
    token: Option<&OAuthToken>,
) -> Result<(), TokenError> {
    if server_name.trim().is_empty() {
        return Err(TokenError::Validation("Server name is required"));
    }
    let Some(token) = token else {
        return Err(TokenError::Validation("Token is required"));
    };
    if token.access_token.expose().trim().is_empty() {
        return Err(TokenError::Validation("Access token is required"));
    }
    if token.token_type.trim().is_empty() {
        return Err(TokenError::Validation("Token type is required"));
    }
    Ok(())
}

/// The keyring account for a server: llxprt's
/// `replace(/[^a-zA-Z0-9-_.]/g, '_')`. JavaScript replaces per UTF-16 code
/// unit, so a character outside the BMP becomes two underscores.
pub fn sanitize_server_name(server_name: &str) -> String {
    let mut account = String::with_capacity(server_name.len());
    for c in server_name.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
            account.push(c);
        } else {
            account.extend(std::iter::repeat_n('_', c.len_utf16()));
        }
    }
    account
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// MCP OAuth credentials on one [`SecureStore`].
#[derive(Clone, Debug)]
pub struct TokenStorage {
    store: Arc<SecureStore>,
}

impl TokenStorage {
    /// The standard storage under a data root: service `llxprt-cli-mcp-oauth`,
    /// fallback `ROOT/secure-store/llxprt-cli-mcp-oauth`, policy Allow.
    pub fn new(layout: &Layout, keyring: KeyringLoader) -> Self {
        let mut opts = SecureStoreOptions::new(&layout.root);
        opts.fallback_dir = Some(layout.secure_store(SERVICE));
        opts.fallback_policy = FallbackPolicy::Allow;
        opts.keyring = keyring;
        Self::with_store(SecureStore::new(SERVICE, opts))
    }

    pub fn with_store(store: SecureStore) -> Self {
        TokenStorage {
            store: Arc::new(store),
        }
    }

    pub fn store(&self) -> &SecureStore {
        &self.store
    }

    /// The stored credentials for `server_name`, expired or not.
    pub async fn get_credentials(
        &self,
        server_name: &str,
    ) -> Result<Option<OAuthCredentials>, TokenError> {
        require_server_name(server_name)?;
        let account = sanitize_server_name(server_name);
        match self.store.get(&account).await? {
            Some(json) => parse(&json, server_name).map(Some),
            None => Ok(None),
        }
    }

    /// Validates, stamps `updatedAt` with now, and stores compact JSON under
    /// the sanitised server name. Returns where the value went.
    pub async fn set_credentials(
        &self,
        credentials: &OAuthCredentials,
    ) -> Result<StoredIn, TokenError> {
        credentials.validate()?;
        let mut stamped = credentials.clone();
        stamped.updated_at = now_ms();
        let json = Zeroizing::new(
            serde_json::to_string(&stamped)
                .expect("credentials have only string keys and always serialize"),
        );
        let account = sanitize_server_name(&credentials.server_name);
        Ok(self.store.set(&account, &json).await?)
    }

    /// Removes a server's credentials; llxprt's error when there were none.
    pub async fn delete_credentials(&self, server_name: &str) -> Result<(), TokenError> {
        require_server_name(server_name)?;
        let account = sanitize_server_name(server_name);
        if self.store.delete(&account).await? {
            Ok(())
        } else {
            Err(TokenError::NotFound(server_name.to_string()))
        }
    }

    /// The stored accounts (sanitised server names), sorted. Nothing is read
    /// or decrypted, so an unreadable entry is listed too.
    pub async fn list_servers(&self) -> Result<Vec<String>, TokenError> {
        let mut accounts = self.store.list().await?;
        accounts.retain(|a| !a.starts_with(LLXPRT_PROBE_PREFIX));
        Ok(accounts)
    }

    /// Every readable entry, keyed by its `serverName`; entries that cannot be
    /// read or parsed are skipped (llxprt's rule).
    pub async fn get_all_credentials(
        &self,
    ) -> Result<BTreeMap<String, OAuthCredentials>, TokenError> {
        let mut all = BTreeMap::new();
        for account in self.list_servers().await? {
            let Ok(Some(json)) = self.store.get(&account).await else {
                continue;
            };
            if let Ok(credentials) = parse(&json, &account) {
                all.insert(credentials.server_name.clone(), credentials);
            }
        }
        Ok(all)
    }

    /// The display status of every readable entry, sorted by server name.
    pub async fn statuses(&self, now_ms: i64) -> Result<Vec<TokenStatus>, TokenError> {
        Ok(self
            .get_all_credentials()
            .await?
            .values()
            .map(|c| c.status(now_ms))
            .collect())
    }

    /// Deletes every entry and returns how many were removed. Every entry is
    /// tried; the failures are reported together.
    pub async fn clear_all(&self) -> Result<usize, TokenError> {
        let mut cleared = 0;
        let mut failures = Vec::new();
        for account in self.list_servers().await? {
            match self.store.delete(&account).await {
                Ok(true) => cleared += 1,
                Ok(false) => {}
                Err(err) => failures.push(err.message),
            }
        }
        if failures.is_empty() {
            Ok(cleared)
        } else {
            Err(TokenError::ClearFailed(failures.join(", ")))
        }
    }
}

fn require_server_name(server_name: &str) -> Result<(), TokenError> {
    if server_name.trim().is_empty() {
        Err(TokenError::Validation("Server name is required"))
    } else {
        Ok(())
    }
}

/// The serde error is dropped on purpose: it may quote the stored value.
fn parse(json: &Secret, server_name: &str) -> Result<OAuthCredentials, TokenError> {
    serde_json::from_str(json.expose()).map_err(|_| TokenError::Parse(server_name.to_string()))
}

/// A [`Secret`] as a plain JSON string.
mod secret_json {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::store::Secret;

    pub fn serialize<S: Serializer>(secret: &Secret, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(secret.expose())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        String::deserialize(deserializer).map(Secret::from)
    }
}

/// An optional [`Secret`]; `null` reads as absent.
mod optional_secret_json {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::store::Secret;

    pub fn serialize<S: Serializer>(
        secret: &Option<Secret>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match secret {
            Some(secret) => serializer.serialize_some(secret.expose()),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Secret>, D::Error> {
        Option::<String>::deserialize(deserializer).map(|v| v.map(Secret::from))
    }
}

/// Epoch milliseconds. JavaScript writes numbers, which may carry a fraction
/// (`Date.now() + expires_in * 1000` with a fractional `expires_in`); such a
/// value is truncated rather than rejected.
mod millis_json {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(millis: &i64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(*millis)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        from_number(serde_json::Number::deserialize(deserializer)?)
    }

    pub(super) fn from_number<E: Error>(number: serde_json::Number) -> Result<i64, E> {
        if let Some(millis) = number.as_i64() {
            return Ok(millis);
        }
        match number.as_f64() {
            Some(millis) if millis.is_finite() && millis.abs() < 9.0e18 => Ok(millis as i64),
            _ => Err(E::custom("timestamp out of range")),
        }
    }
}

/// Optional epoch milliseconds; `null` reads as absent.
mod optional_millis_json {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        millis: &Option<i64>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match millis {
            Some(millis) => serializer.serialize_some(millis),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<i64>, D::Error> {
        Option::<serde_json::Number>::deserialize(deserializer)?
            .map(super::millis_json::from_number)
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_follows_javascript_code_units() {
        assert_eq!(sanitize_server_name("a-b_c.d09"), "a-b_c.d09");
        assert_eq!(sanitize_server_name("a b/c:d"), "a_b_c_d");
        assert_eq!(sanitize_server_name("é"), "_");
        assert_eq!(sanitize_server_name("🔑x"), "__x");
    }

    #[test]
    fn fractional_and_null_timestamps_are_read() {
        let json = r#"{"serverName":"s","token":{"accessToken":"a","tokenType":"Bearer",
            "refreshToken":null,"expiresAt":1700000000000.7},"updatedAt":1.5e12}"#;
        let creds: OAuthCredentials = serde_json::from_str(json).unwrap();
        assert_eq!(creds.token.expires_at, Some(1_700_000_000_000));
        assert_eq!(creds.token.refresh_token, None);
        assert_eq!(creds.updated_at, 1_500_000_000_000);
    }

    #[test]
    fn a_missing_updated_at_reads_as_zero() {
        let json = r#"{"serverName":"s","token":{"accessToken":"a","tokenType":"Bearer"}}"#;
        let creds: OAuthCredentials = serde_json::from_str(json).unwrap();
        assert_eq!(creds.updated_at, 0);
    }

    #[test]
    fn expiry_states_around_the_buffer() {
        let mut token = OAuthToken::new("a", "Bearer");
        assert_eq!(token.expiry(0), Expiry::NoExpiry);
        let at = 10_000_000;
        token.expires_at = Some(at);
        let e = at;
        assert_eq!(
            token.expiry(at - EXPIRY_BUFFER_MS),
            Expiry::Valid { expires_at: e }
        );
        assert_eq!(
            token.expiry(at - EXPIRY_BUFFER_MS + 1),
            Expiry::ExpiringSoon { expires_at: e }
        );
        assert_eq!(token.expiry(at - 1), Expiry::ExpiringSoon { expires_at: e });
        assert_eq!(token.expiry(at), Expiry::Expired { expires_at: e });
    }
}
