//! [`VaultConfig`]: where the team store is, read from the variables people
//! already use with the vault CLI (`VAULT_*`, or OpenBao's `BAO_*`) and from
//! `settings.toml` (`vault-mount`, `vault-prefix`).

use std::path::PathBuf;

use crate::store::Secret;

/// The KV v2 mount used when `vault-mount` is not set.
pub const DEFAULT_MOUNT: &str = "secret";
/// The path prefix used when `vault-prefix` is not set.
pub const DEFAULT_PREFIX: &str = "keyshell";

/// Where the team store is and how to reach it.
///
/// `Debug` is safe to print: the token shows as `[redacted]`.
#[derive(Clone, Debug)]
pub struct VaultConfig {
    /// `scheme://host:port`, no trailing slash.
    pub addr: String,
    pub token: Secret,
    pub namespace: Option<String>,
    /// A PEM bundle; when set, only these CAs are trusted (as the vault CLI does).
    pub cacert: Option<PathBuf>,
    /// The KV v2 mount, without slashes at either end.
    pub mount: String,
    /// The folder under the mount that holds keyshell's services; may be empty.
    pub prefix: String,
}

impl VaultConfig {
    /// Reads `VAULT_ADDR`, `VAULT_TOKEN`, `VAULT_NAMESPACE` and `VAULT_CACERT`
    /// (each falling back to its `BAO_*` twin). `mount` and `prefix` come from
    /// `settings.toml` (`vault-mount`, `vault-prefix`).
    pub fn from_env(mount: Option<&str>, prefix: Option<&str>) -> Result<VaultConfig, String> {
        Self::from_vars(|name| std::env::var(name).ok(), mount, prefix)
    }

    /// [`from_env`](Self::from_env) over any variable lookup.
    pub fn from_vars(
        var: impl Fn(&str) -> Option<String>,
        mount: Option<&str>,
        prefix: Option<&str>,
    ) -> Result<VaultConfig, String> {
        let first = |names: [&str; 2]| {
            names.into_iter().find_map(|name| {
                var(name)
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
            })
        };
        let addr = first(["VAULT_ADDR", "BAO_ADDR"]).ok_or(
            "The vault store needs the server's address: set VAULT_ADDR (or BAO_ADDR), \
             e.g. https://vault.example.com:8200",
        )?;
        let addr = normalize_addr(&addr)?;
        let token = first(["VAULT_TOKEN", "BAO_TOKEN"])
            .ok_or("The vault store needs a token: set VAULT_TOKEN (or BAO_TOKEN)")?;
        let namespace = first(["VAULT_NAMESPACE", "BAO_NAMESPACE"])
            .map(|ns| ns.trim_matches('/').to_string())
            .filter(|ns| !ns.is_empty());
        let cacert = first(["VAULT_CACERT", "BAO_CACERT"]).map(PathBuf::from);
        let mount = trim_path(mount.unwrap_or(DEFAULT_MOUNT));
        if mount.is_empty() {
            return Err("vault-mount must name a KV v2 mount, e.g. \"secret\"".into());
        }
        Ok(VaultConfig {
            addr,
            token: Secret::new(token),
            namespace,
            cacert,
            mount,
            prefix: trim_path(prefix.unwrap_or(DEFAULT_PREFIX)),
        })
    }
}

fn normalize_addr(addr: &str) -> Result<String, String> {
    let addr = addr.trim_end_matches('/');
    let host = addr
        .strip_prefix("https://")
        .or_else(|| addr.strip_prefix("http://"));
    match host {
        Some(host) if !host.is_empty() && !host.contains(['/', '?', '#', '@']) => {
            Ok(addr.to_string())
        }
        // An address with user info may hold a password: never echo that one.
        _ if addr.contains('@') => Err(
            "VAULT_ADDR must be http(s)://host[:port], e.g. https://vault.example.com:8200".into(),
        ),
        _ => Err(format!(
            "VAULT_ADDR must be http(s)://host[:port], e.g. https://vault.example.com:8200 (got '{addr}')"
        )),
    }
}

fn trim_path(path: &str) -> String {
    path.trim().trim_matches('/').to_string()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Shared with the adapter's tests (vault/tests.rs).
    pub(crate) const TOKEN: &str = "hvs.TESTTOKEN-must-never-show-0123456789";

    pub(crate) fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    pub(crate) fn config(addr: &str) -> VaultConfig {
        VaultConfig::from_vars(
            vars(&[("VAULT_ADDR", addr), ("VAULT_TOKEN", TOKEN)]),
            None,
            None,
        )
        .expect("a complete configuration")
    }

    #[test]
    fn configuration_prefers_vault_variables_then_bao_ones() {
        let c = VaultConfig::from_vars(
            vars(&[
                ("VAULT_ADDR", "https://v.example:8200/"),
                ("BAO_ADDR", "http://b.example"),
                ("BAO_TOKEN", " tok "),
                ("VAULT_NAMESPACE", "/team/"),
                ("BAO_CACERT", "/etc/ca.pem"),
            ]),
            Some("/kv/"),
            Some("team/keys/"),
        )
        .expect("complete");
        assert_eq!(c.addr, "https://v.example:8200");
        assert_eq!(c.token.expose(), "tok");
        assert_eq!(c.namespace.as_deref(), Some("team"));
        assert_eq!(c.cacert, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!((c.mount.as_str(), c.prefix.as_str()), ("kv", "team/keys"));

        let c = config("http://127.0.0.1:8200");
        assert_eq!(
            (c.mount.as_str(), c.prefix.as_str()),
            ("secret", "keyshell")
        );
        assert_eq!((c.namespace, c.cacert), (None, None));
    }

    #[test]
    fn missing_or_bad_configuration_names_the_variables() {
        let err = VaultConfig::from_vars(vars(&[("VAULT_TOKEN", TOKEN)]), None, None)
            .expect_err("no address");
        assert!(
            err.contains("VAULT_ADDR") && err.contains("BAO_ADDR"),
            "{err}"
        );
        let err = VaultConfig::from_vars(
            vars(&[("VAULT_ADDR", "http://h"), ("VAULT_TOKEN", "  ")]),
            None,
            None,
        )
        .expect_err("blank token");
        assert!(
            err.contains("VAULT_TOKEN") && err.contains("BAO_TOKEN"),
            "{err}"
        );
        let err = VaultConfig::from_vars(
            vars(&[("VAULT_ADDR", "vault:8200"), ("VAULT_TOKEN", TOKEN)]),
            None,
            None,
        )
        .expect_err("no scheme");
        assert!(err.contains("VAULT_ADDR must be http(s)://"), "{err}");
        let err = VaultConfig::from_vars(
            vars(&[("VAULT_ADDR", "http://h"), ("VAULT_TOKEN", TOKEN)]),
            Some("/"),
            None,
        )
        .expect_err("empty mount");
        assert!(err.contains("vault-mount"), "{err}");
    }

    #[test]
    fn debug_never_shows_the_token() {
        let debug = format!("{:?}", config("http://127.0.0.1:8200"));
        assert!(
            !debug.contains(TOKEN) && debug.contains("[redacted]"),
            "{debug}"
        );
    }
}
