//! Passwords: a value that never shows in logs, the policy (R6.x) and the
//! salted hash stored for a login.

use std::fmt;

/// A password in transit. Its `Debug` never shows it, so it cannot leak into
/// logs, error messages or idempotency fingerprints.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Password policy bounds (characters).
pub const PASSWORD_MIN_LEN: usize = 8;
pub const PASSWORD_MAX_LEN: usize = 256;

/// The password policy: 8 to 256 characters, not only whitespace. The upper
/// bound keeps the slow hash from being a denial-of-service lever.
pub fn check_password_policy(password: &Password) -> Result<(), String> {
    let length = password.expose().chars().count();
    if length < PASSWORD_MIN_LEN {
        return Err(format!("must be at least {PASSWORD_MIN_LEN} characters"));
    }
    if length > PASSWORD_MAX_LEN {
        return Err(format!("must be at most {PASSWORD_MAX_LEN} characters"));
    }
    if password.expose().trim().is_empty() {
        return Err("must not be only whitespace".to_owned());
    }
    Ok(())
}

/// Slow salted password hashing: PBKDF2-HMAC-SHA256, stored as
/// `pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>`. Only this form is ever
/// stored; the password itself never is.
pub mod password_hash {
    use sha2::Sha256;

    use super::Password;

    /// OWASP's recommendation for PBKDF2-HMAC-SHA256: the default of
    /// `CSM_PASSWORD_HASH_ITERATIONS`. Each stored hash carries its own count,
    /// so changing the setting only affects new hashes.
    pub const ITERATIONS: u32 = 600_000;
    const SCHEME: &str = "pbkdf2-sha256";
    const HASH_LEN: usize = 32;

    /// Hashes `password` with a fresh random 16-byte salt (a UUID v4's bytes:
    /// 122 random bits, plenty for a salt, which must be unique, not secret).
    pub fn hash(password: &Password, iterations: u32) -> String {
        hash_with(password, uuid::Uuid::new_v4().as_bytes(), iterations)
    }

    pub fn hash_with(password: &Password, salt: &[u8], iterations: u32) -> String {
        let mut derived = [0u8; HASH_LEN];
        pbkdf2::pbkdf2_hmac::<Sha256>(password.expose().as_bytes(), salt, iterations, &mut derived);
        format!("{SCHEME}${iterations}${}${}", hex(salt), hex(&derived))
    }

    /// Whether `password` matches `stored` (compared in constant time). An
    /// unreadable stored value never matches.
    pub fn verify(password: &Password, stored: &str) -> bool {
        let mut parts = stored.split('$');
        let (Some(SCHEME), Some(iterations), Some(salt), Some(expected), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let (Ok(iterations), Some(salt), Some(expected)) = (iterations.parse::<u32>(), unhex(salt), unhex(expected))
        else {
            return false;
        };
        if iterations == 0 || expected.len() != HASH_LEN {
            return false;
        }
        let mut derived = [0u8; HASH_LEN];
        pbkdf2::pbkdf2_hmac::<Sha256>(password.expose().as_bytes(), &salt, iterations, &mut derived);
        // Constant time: every byte is compared whatever the first difference.
        derived.iter().zip(expected.iter()).fold(0u8, |difference, (a, b)| difference | (a ^ b)) == 0
    }

    /// Spends the same time as a real [`verify`], for logins that do not exist
    /// or have no password, so timing does not reveal which login names exist.
    pub fn verify_nothing(password: &Password, iterations: u32) {
        let mut derived = [0u8; HASH_LEN];
        pbkdf2::pbkdf2_hmac::<Sha256>(password.expose().as_bytes(), b"csm-no-such-login", iterations, &mut derived);
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    fn unhex(text: &str) -> Option<Vec<u8>> {
        if !text.len().is_multiple_of(2) {
            return None;
        }
        (0..text.len()).step_by(2).map(|index| u8::from_str_radix(text.get(index..index + 2)?, 16).ok()).collect()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_hash_verifies_its_password_only() {
            let password = Password::new("correct horse battery");
            let stored = hash_with(&password, b"0123456789abcdef", 1_000);
            assert!(stored.starts_with("pbkdf2-sha256$1000$"));
            assert!(!stored.contains("correct"));
            assert!(verify(&password, &stored));
            assert!(!verify(&Password::new("correct horse battery!"), &stored));
            assert!(!verify(&password, "garbage"));
            assert!(!verify(&password, "pbkdf2-sha256$0$00$00"));
        }

        #[test]
        fn the_same_password_gets_different_salts() {
            let password = Password::new("correct horse battery");
            let (first, second) =
                (hash_with(&password, b"salt-one-1234567", 1_000), hash_with(&password, b"salt-two-1234567", 1_000));
            assert_ne!(first, second);
        }
    }
}
