//! A real OpenBao dev server for tests: started through scripts/openbao.sh,
//! stopped (only the one started) when dropped.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use keyshell::store::VaultConfig;

pub const ROOT_TOKEN: &str = "keyshell-test-root-token-5f1c";
pub const SERVICE: &str = "keyshell-test";
pub const SPACED_SERVICE: &str = "LLxprt Code Extension x";

pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(name)
}

pub fn vault_required() -> bool {
    std::env::var("KEYSHELL_REQUIRE_VAULT").is_ok_and(|v| v.trim() == "1")
}

/// A dev server this test started; dropping it stops that server (and only it).
pub struct DevServer {
    pub addr: String,
    pub pidfile: PathBuf,
}

impl DevServer {
    /// Starts a server, or says why not: `None` is a skip, unless
    /// `KEYSHELL_REQUIRE_VAULT=1`, where it is a failure.
    pub fn start(test: &str) -> Option<DevServer> {
        Self::start_with(test, false)
    }

    /// With `tls`, the server speaks HTTPS with its own CA ([`DevServer::ca`]).
    pub fn start_with(test: &str, tls: bool) -> Option<DevServer> {
        let mut why = String::new();
        for _attempt in 0..3 {
            let port = free_port_pair();
            let mut args = vec!["start-dev".to_string(), port.to_string(), ROOT_TOKEN.into()];
            if tls {
                args.push("tls".into());
            }
            let out = Command::new(script("openbao.sh"))
                .args(&args)
                .env("KEYSHELL_OPENBAO_PARENT", std::process::id().to_string())
                .output()
                .expect("run scripts/openbao.sh");
            if out.status.success() {
                let pidfile = String::from_utf8_lossy(&out.stdout).trim().to_string();
                let scheme = if tls { "https" } else { "http" };
                return Some(DevServer {
                    addr: format!("{scheme}://127.0.0.1:{port}"),
                    pidfile: PathBuf::from(pidfile),
                });
            }
            why = String::from_utf8_lossy(&out.stderr).trim().to_string();
        }
        assert!(
            !vault_required(),
            "{test}: KEYSHELL_REQUIRE_VAULT=1 but no OpenBao server could be started:\n{why}"
        );
        println!("{test}: skipped: no OpenBao server ({why})");
        None
    }

    pub fn stop(&self) {
        let _ = Command::new(script("openbao.sh"))
            .arg("stop")
            .arg(&self.pidfile)
            .status();
    }

    /// The CA of a TLS server.
    pub fn ca(&self) -> PathBuf {
        self.pidfile.with_file_name("vault-ca.pem")
    }

    pub fn config(&self, token: &str) -> VaultConfig {
        config_for(&self.addr, token)
    }

    pub fn openbao(&self, args: &[&str]) -> String {
        openbao(&self.addr, args)
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A loopback port whose neighbour is free too (the dev server's cluster port).
pub fn free_port_pair() -> u16 {
    loop {
        let first = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = first.local_addr().expect("local address").port();
        if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

pub fn config_for(addr: &str, token: &str) -> VaultConfig {
    let vars = [("VAULT_ADDR", addr), ("VAULT_TOKEN", token)];
    VaultConfig::from_vars(
        |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        },
        None,
        None,
    )
    .expect("a complete vault configuration")
}

/// Runs the bao CLI against `addr` as root; its stdout.
pub fn openbao(addr: &str, args: &[&str]) -> String {
    let bin = Command::new(script("openbao.sh"))
        .arg("bin")
        .output()
        .expect("scripts/openbao.sh bin");
    let bin = String::from_utf8_lossy(&bin.stdout).trim().to_string();
    let out = Command::new(bin)
        .args(args)
        .env("BAO_ADDR", addr)
        .env("BAO_TOKEN", ROOT_TOKEN)
        .env_remove("VAULT_ADDR")
        .env_remove("VAULT_TOKEN")
        .output()
        .expect("run bao");
    assert!(
        out.status.success(),
        "bao {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
