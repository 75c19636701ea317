//! The team store: a [`KeyringAdapter`] over a Vault KV v2 engine (OpenBao or
//! HashiCorp Vault), so that several machines and people share one set of keys.
//!
//! `(service, account)` is the secret `<mount>/data/<prefix>/<service>/<account>`
//! with the value in its field `value`; enumeration is the metadata LIST and a
//! delete removes the metadata, so every version goes. Server refusals keep
//! their HTTP status and Vault's own error text.
//!
//! The token is a [`Secret`]: it goes into the `X-Vault-Token` header and
//! nowhere else. No error, description or `Debug` output ever holds it.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use ureq::Agent;
use ureq::http::{self, HeaderValue, Method};
use ureq::tls::{PemItem, RootCerts, TlsConfig};
use zeroize::Zeroizing;

mod config;
#[cfg(test)]
mod tests;

pub use config::{DEFAULT_MOUNT, DEFAULT_PREFIX, VaultConfig};

use super::error::ErrorCode;
use super::keyring::{Credential, KeyringAdapter, KeyringError};
use super::secret::Secret;

/// Bounds a TCP + TLS handshake; SecureStore's keyring timeout still applies above.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bounds a whole request, so a call SecureStore gave up on does not linger.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A KV secret holding one API key is tiny; anything near this is not ours.
const BODY_LIMIT: u64 = 4 * 1024 * 1024;

/// A Vault KV v2 engine as a keyring.
pub struct VaultStore {
    config: VaultConfig,
    /// `Err` holds why no client could be built (an unreadable `VAULT_CACERT`);
    /// every call then reports it.
    agent: Result<Agent, String>,
}

/// The body of a KV v2 write, borrowing the value so that the only copy
/// made is the request body, which is wiped after sending.
#[derive(serde::Serialize)]
struct Write<'a> {
    data: Field<'a>,
}

#[derive(serde::Serialize)]
struct Field<'a> {
    value: &'a str,
}

/// One HTTP answer, its body wiped when dropped (it may hold a secret).
struct Reply {
    status: u16,
    body: Zeroizing<String>,
    location: Option<String>,
}

impl VaultStore {
    pub fn new(config: VaultConfig) -> VaultStore {
        let agent = build_agent(&config);
        VaultStore { config, agent }
    }

    pub fn config(&self) -> &VaultConfig {
        &self.config
    }

    /// The logical path of a secret, as `bao kv` and error messages name it.
    fn secret_path(&self, kind: &str, service: &str, account: Option<&str>) -> String {
        let mut parts = vec![self.config.mount.as_str(), kind];
        if !self.config.prefix.is_empty() {
            parts.push(&self.config.prefix);
        }
        parts.push(service);
        parts.extend(account);
        parts.join("/")
    }

    /// The request URL: mount and prefix keep their slashes; service and
    /// account are single segments, percent-encoded.
    fn url(&self, kind: &str, service: &str, account: Option<&str>) -> String {
        let mut url = format!("{}/v1", self.config.addr);
        let folders = [self.config.mount.as_str(), kind, &self.config.prefix];
        for segment in folders.iter().flat_map(|f| f.split('/')) {
            if !segment.is_empty() {
                url.push('/');
                url.push_str(&encode_segment(segment));
            }
        }
        url.push('/');
        url.push_str(&encode_segment(service));
        url.push('/');
        if let Some(account) = account {
            url.push_str(&encode_segment(account));
        }
        url
    }

    fn send(&self, method: Method, url: &str, body: Option<&[u8]>) -> Result<Reply, KeyringError> {
        let agent = self
            .agent
            .as_ref()
            .map_err(|reason| KeyringError::new(ErrorCode::Unavailable, reason.clone()))?;
        let mut token = HeaderValue::from_str(self.config.token.expose()).map_err(|_| {
            KeyringError::new(
                ErrorCode::Denied,
                "VAULT_TOKEN holds characters that cannot be sent in an HTTP header",
            )
        })?;
        token.set_sensitive(true);
        let mut request = http::Request::builder()
            .method(method)
            .uri(url)
            .header("X-Vault-Token", token);
        if let Some(namespace) = &self.config.namespace {
            request = request.header("X-Vault-Namespace", namespace.as_str());
        }
        let result = match body {
            Some(body) => request
                .header("Content-Type", "application/json")
                .body(body)
                .map(|r| agent.run(r)),
            None => request.body(()).map(|r| agent.run(r)),
        };
        let mut response = result
            .map_err(|err| self.error(ErrorCode::Unavailable, format!("bad request: {err}")))?
            .map_err(|err| self.transport_error(err))?;
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response
            .body_mut()
            .with_config()
            .limit(BODY_LIMIT)
            .read_to_string()
            .map_err(|err| self.transport_error(err))?;
        Ok(Reply {
            status: response.status().as_u16(),
            body: Zeroizing::new(body),
            location,
        })
    }

    /// An error whose message has any trace of the token taken out.
    fn error(&self, code: ErrorCode, message: String) -> KeyringError {
        KeyringError::new(code, redact(&message, self.config.token.expose()))
    }

    fn transport_error(&self, err: ureq::Error) -> KeyringError {
        let addr = &self.config.addr;
        let (code, message) = match &err {
            ureq::Error::Timeout(_) => (
                ErrorCode::Timeout,
                format!("The vault at {addr} timed out: {err}"),
            ),
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => (
                ErrorCode::Timeout,
                format!("The vault at {addr} timed out: {io}"),
            ),
            ureq::Error::HostNotFound => (
                ErrorCode::Unavailable,
                format!("Cannot reach the vault at {addr}: host not found (DNS)"),
            ),
            ureq::Error::Io(io) if !is_tls_failure(io) => (
                ErrorCode::Unavailable,
                format!("Cannot reach the vault at {addr}: {io}"),
            ),
            ureq::Error::Io(_)
            | ureq::Error::Tls(_)
            | ureq::Error::Pem(_)
            | ureq::Error::Rustls(_) => (
                ErrorCode::Unavailable,
                format!(
                    "TLS with the vault at {addr} failed: {err} \
                     (set VAULT_CACERT to the CA bundle that signed its certificate)"
                ),
            ),
            _ => (
                ErrorCode::Unavailable,
                format!("The request to the vault at {addr} failed: {err}"),
            ),
        };
        self.error(code, message)
    }

    /// Maps an HTTP status that is not a success to SPEC's codes.
    fn status_error(&self, reply: &Reply, path: &str) -> KeyringError {
        let status = reply.status;
        let reason = vault_errors(&reply.body);
        let detail = if reason.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {reason}")
        };
        let (code, message) = match status {
            401 | 403 => (
                ErrorCode::Denied,
                format!(
                    "Permission denied by the vault on {path} ({detail}); check that \
                     VAULT_TOKEN is valid and that its policy allows this"
                ),
            ),
            503 if reason.to_lowercase().contains("sealed") => (
                ErrorCode::Locked,
                format!("The vault is sealed (HTTP {status}); ask its operators to unseal it"),
            ),
            300..=399 => (
                ErrorCode::Unavailable,
                format!(
                    "The vault at {} redirected the request to {} ({detail}); \
                     set VAULT_ADDR to the active node",
                    self.config.addr,
                    reply.location.as_deref().unwrap_or("another address"),
                ),
            ),
            404 => (
                ErrorCode::Unavailable,
                format!(
                    "The vault has no route for {path} ({detail}); check that vault-mount '{}' \
                     is a KV version 2 engine",
                    self.config.mount
                ),
            ),
            _ => (
                ErrorCode::Unavailable,
                format!("The vault failed on {path} ({detail})"),
            ),
        };
        self.error(code, message)
    }

    /// A 404 that only says "no such secret" (KV v2 answers `{"errors":[]}`,
    /// or the metadata of a deleted version), as opposed to "no such route".
    fn is_absent(reply: &Reply) -> bool {
        reply.status == 404 && vault_errors(&reply.body).is_empty()
    }
}

impl KeyringAdapter for VaultStore {
    fn describe(&self) -> String {
        let namespace = match &self.config.namespace {
            Some(ns) => format!(", namespace {ns}"),
            None => String::new(),
        };
        format!(
            "Vault KV v2 at {} (mount {}, prefix {}{namespace})",
            self.config.addr, self.config.mount, self.config.prefix
        )
    }

    fn get_password(&self, service: &str, account: &str) -> Result<Option<String>, KeyringError> {
        let path = self.secret_path("data", service, Some(account));
        let reply = self.send(Method::GET, &self.url("data", service, Some(account)), None)?;
        if Self::is_absent(&reply) {
            return Ok(None);
        }
        if !(200..300).contains(&reply.status) {
            return Err(self.status_error(&reply, &path));
        }
        let parsed: Value = serde_json::from_str(&reply.body).map_err(|_| {
            self.error(
                ErrorCode::Corrupt,
                format!("The vault answered {path} with something that is not JSON"),
            )
        })?;
        match parsed.pointer("/data/data/value") {
            Some(Value::String(value)) => Ok(Some(value.clone())),
            _ => Err(self.error(
                ErrorCode::Corrupt,
                format!("The vault secret {path} has no text field 'value'"),
            )),
        }
    }

    fn set_password(
        &self,
        service: &str,
        account: &str,
        password: &str,
    ) -> Result<(), KeyringError> {
        let path = self.secret_path("data", service, Some(account));
        let body = Zeroizing::new(
            serde_json::to_string(&Write {
                data: Field { value: password },
            })
            .map_err(|err| {
                self.error(
                    ErrorCode::Corrupt,
                    format!("Cannot encode the value: {err}"),
                )
            })?,
        );
        let url = self.url("data", service, Some(account));
        let reply = self.send(Method::POST, &url, Some(body.as_bytes()))?;
        if (200..300).contains(&reply.status) {
            Ok(())
        } else {
            Err(self.status_error(&reply, &path))
        }
    }

    fn delete_password(&self, service: &str, account: &str) -> Result<bool, KeyringError> {
        let path = self.secret_path("metadata", service, Some(account));
        let url = self.url("metadata", service, Some(account));
        // Deleting metadata answers 204 whether or not it existed: ask first.
        let reply = self.send(Method::GET, &url, None)?;
        if Self::is_absent(&reply) {
            return Ok(false);
        }
        if !(200..300).contains(&reply.status) {
            return Err(self.status_error(&reply, &path));
        }
        let reply = self.send(Method::DELETE, &url, None)?;
        if (200..300).contains(&reply.status) || Self::is_absent(&reply) {
            Ok(true)
        } else {
            Err(self.status_error(&reply, &path))
        }
    }

    fn find_credentials(&self, service: &str) -> Option<Result<Vec<Credential>, KeyringError>> {
        let accounts = match self.list_accounts(service)? {
            Ok(accounts) => accounts,
            Err(err) => return Some(Err(err)),
        };
        let mut found = Vec::with_capacity(accounts.len());
        for account in accounts {
            match self.get_password(service, &account) {
                Ok(Some(password)) => found.push((account, Secret::new(password))),
                Ok(None) => {}
                Err(err) => return Some(Err(err)),
            }
        }
        Some(Ok(found))
    }

    fn list_accounts(&self, service: &str) -> Option<Result<Vec<String>, KeyringError>> {
        let path = self.secret_path("metadata", service, None);
        let url = format!("{}?list=true", self.url("metadata", service, None));
        let reply = match self.send(Method::GET, &url, None) {
            Ok(reply) => reply,
            Err(err) => return Some(Err(err)),
        };
        if Self::is_absent(&reply) {
            return Some(Ok(Vec::new()));
        }
        if !(200..300).contains(&reply.status) {
            return Some(Err(self.status_error(&reply, &path)));
        }
        let parsed: Value = serde_json::from_str(&reply.body).unwrap_or_default();
        let Some(keys) = parsed.pointer("/data/keys").and_then(Value::as_array) else {
            return Some(Err(self.error(
                ErrorCode::Corrupt,
                format!("The vault's listing of {path} has no 'keys'"),
            )));
        };
        // Folders (names ending in '/') are not keys of this service.
        Some(Ok(keys
            .iter()
            .filter_map(Value::as_str)
            .filter(|k| !k.ends_with('/'))
            .map(str::to_string)
            .collect()))
    }
}

fn build_agent(config: &VaultConfig) -> Result<Agent, String> {
    let mut builder = Agent::config_builder()
        .http_status_as_error(false)
        // A redirect would carry the token to another host: report it instead.
        .max_redirects(0)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_global(Some(REQUEST_TIMEOUT));
    if let Some(path) = &config.cacert {
        let pem = std::fs::read(path)
            .map_err(|err| format!("Cannot read VAULT_CACERT {}: {err}", path.display()))?;
        let certs: Vec<_> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(PemItem::Certificate(cert)) => Some(cert),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err(format!(
                "VAULT_CACERT {} holds no PEM certificate",
                path.display()
            ));
        }
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::Specific(Arc::new(certs)))
            .build();
        builder = builder.tls_config(tls);
    }
    Ok(builder.build().new_agent())
}

/// rustls reports a handshake failure (an untrusted certificate, say) as an
/// I/O error of kind `InvalidData` over the socket.
fn is_tls_failure(err: &std::io::Error) -> bool {
    err.kind() == std::io::ErrorKind::InvalidData || err.to_string().contains("certificate")
}

/// Vault's error text: the `errors` list of the body, tidied of go-multierror's
/// "1 error occurred:" framing; the body itself (cut short) when it is not JSON.
fn vault_errors(body: &str) -> String {
    let Ok(parsed) = serde_json::from_str::<Value>(body) else {
        let text: String = body.trim().chars().take(200).collect();
        return text.split_whitespace().collect::<Vec<_>>().join(" ");
    };
    let Some(errors) = parsed.get("errors").and_then(Value::as_array) else {
        return String::new();
    };
    errors
        .iter()
        .filter_map(Value::as_str)
        .flat_map(str::lines)
        .map(|line| line.trim().trim_start_matches("* ").trim())
        .filter(|line| !line.is_empty() && !line.ends_with("occurred:"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `text` with every occurrence of `token` replaced.
fn redact(text: &str, token: &str) -> String {
    if token.is_empty() {
        text.to_string()
    } else {
        text.replace(token, "[redacted]")
    }
}

/// RFC 3986 unreserved characters stay; every other byte becomes `%XX`.
fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
