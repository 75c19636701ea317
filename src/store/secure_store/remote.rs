//! A [`SecureStore`] over a remote store (the team vault): every operation
//! goes to the server, and nothing ever falls back to a local file. A failure
//! is reported with the server's reason and changes nothing.

use super::{PROBE_PREFIX, SecureStore, StoredIn};
use crate::store::error::{ErrorCode, SecureStoreError};
use crate::store::secret::Secret;

impl SecureStore {
    /// Rewords an adapter failure for a remote store: the server's reason
    /// stays, the remediation says what to check.
    fn remote_error(&self, err: SecureStoreError) -> SecureStoreError {
        let remediation = match err.code {
            ErrorCode::Denied => {
                "Check that the token (VAULT_TOKEN) has a policy allowing this path"
            }
            ErrorCode::Locked => "Ask an operator to unseal the vault",
            ErrorCode::Timeout => "Retry; check the server's load and the network",
            ErrorCode::Corrupt => "Re-save the key",
            ErrorCode::NotFound => "Save the key first",
            ErrorCode::Unavailable => "Check VAULT_ADDR and that the server is running",
        };
        let message = if err.code == ErrorCode::Timeout {
            format!(
                "The team store did not answer within {} ms",
                self.timeout.as_millis()
            )
        } else {
            err.message
        };
        SecureStoreError::with_remediation(err.code, message, remediation)
    }

    async fn remote_adapter(
        &self,
    ) -> Result<std::sync::Arc<dyn crate::store::KeyringAdapter>, SecureStoreError> {
        self.adapter().await.ok_or_else(|| {
            SecureStoreError::with_remediation(
                ErrorCode::Unavailable,
                "The team store could not be reached",
                "Check VAULT_ADDR and that the server is running",
            )
        })
    }

    pub(super) async fn remote_set(
        &self,
        key: &str,
        value: &str,
    ) -> Result<StoredIn, SecureStoreError> {
        let adapter = self.remote_adapter().await?;
        let (service, account, password) =
            (self.service.clone(), key.to_string(), Secret::new(value));
        self.call(&adapter, move |k| {
            k.set_password(&service, &account, password.expose())
        })
        .await
        .map_err(|e| self.remote_error(e))?;
        Ok(StoredIn::Remote)
    }

    pub(super) async fn remote_get(&self, key: &str) -> Result<Option<Secret>, SecureStoreError> {
        let adapter = self.remote_adapter().await?;
        let (service, account) = (self.service.clone(), key.to_string());
        self.call(&adapter, move |k| k.get_password(&service, &account))
            .await
            .map(|found| found.map(Secret::new))
            .map_err(|e| self.remote_error(e))
    }

    pub(super) async fn remote_delete(&self, key: &str) -> Result<bool, SecureStoreError> {
        let adapter = self.remote_adapter().await?;
        let (service, account) = (self.service.clone(), key.to_string());
        self.call(&adapter, move |k| k.delete_password(&service, &account))
            .await
            .map_err(|e| self.remote_error(e))
    }

    pub(super) async fn remote_list(&self) -> Result<Vec<String>, SecureStoreError> {
        let adapter = self.remote_adapter().await?;
        let service = self.service.clone();
        let found = self
            .call(&adapter, move |k| k.list_accounts(&service).transpose())
            .await
            .map_err(|e| self.remote_error(e))?;
        let mut names: Vec<String> = found
            .unwrap_or_default()
            .into_iter()
            .filter(|a| !a.starts_with(PROBE_PREFIX))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    pub(super) async fn remote_has(&self, key: &str) -> Result<bool, SecureStoreError> {
        Ok(self.remote_get(key).await?.is_some())
    }

    /// Whether the remote store answers a read (no probe entry is written).
    pub(super) async fn remote_available(&self) -> Result<(), SecureStoreError> {
        let adapter = self.remote_adapter().await?;
        let service = self.service.clone();
        self.call(&adapter, move |k| k.list_accounts(&service).transpose())
            .await
            .map(|_| ())
            .map_err(|e| self.remote_error(e))
    }
}
