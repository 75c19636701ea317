//! [`Secret`]: the only type a stored value is handed out as.

use std::fmt;

use zeroize::Zeroize;

/// A secret value (an API key, a token). Its bytes are wiped when it is dropped,
/// and it never formats itself: `Debug` and `Display` both print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself. Call this only where the value must leave keyshell's
    /// control (a keyring write, an encryption, the active runtime key).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.chars().count()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Overwrites the whole buffer — its capacity, not only its length — with
    /// zeros and leaves the value empty. `Drop` calls this; it is public so a
    /// test can look at the buffer afterwards.
    #[doc(hidden)]
    pub fn wipe(&mut self) {
        self.0.zeroize();
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.wipe();
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_value() {
        let secret = Secret::new("sk-live-abcdef123456");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&secret)), "Some([redacted])");
        assert_eq!(secret.expose(), "sk-live-abcdef123456");
    }

    /// The buffer is still owned by the `Secret` after `wipe` (same pointer,
    /// same capacity), so reading all of it back is sound.
    #[test]
    #[allow(unsafe_code)]
    fn wipe_zeroes_every_byte_of_the_allocation() {
        let mut value = String::with_capacity(100);
        // Spare capacity that once held secret bytes too: grow, then shrink.
        value.push_str("sk-live-abcdef123456-and-some-more-secret-text");
        value.truncate(20);
        let mut secret = Secret::from(value);
        let (ptr, capacity) = (secret.0.as_ptr(), secret.0.capacity());
        assert!(capacity >= 100);

        secret.wipe();

        assert!(secret.is_empty());
        assert_eq!(secret.0.as_ptr(), ptr, "the allocation was not replaced");
        assert_eq!(secret.0.capacity(), capacity);
        // SAFETY: `ptr` points at the live allocation of `secret.0`, which
        // has `capacity` bytes, every one of them written by `wipe`.
        let buffer = unsafe { std::slice::from_raw_parts(ptr, capacity) };
        assert!(buffer.iter().all(|&b| b == 0), "{buffer:?}");
    }
}
