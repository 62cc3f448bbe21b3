//! List pagination: `page_size` (default 100, at most 1000) and an opaque,
//! tamper-evident `page_token` carrying the keyset position after which the
//! next page starts.
//!
//! A token is bound to what it continues: the server's request edge puts a
//! binding of the call in scope ([`bound`]: a keyed hash of the service's
//! secret, the caller, the RPC and every request field but the page fields),
//! and a token issued under one binding is refused under any other — another
//! caller's token, a token of another list, or the same list with changed
//! filters is INVALID_ARGUMENT `INVALID_PAGE_TOKEN`.

use std::future::Future;

use csm_errors::{CsmError, CsmResult, FieldErrors};
use sha2::{Digest as _, Sha256};

pub const DEFAULT_PAGE_SIZE: u32 = 100;
pub const MAX_PAGE_SIZE: u32 = 1000;

/// The reason of a page token this call did not issue.
pub const INVALID_PAGE_TOKEN: &str = "INVALID_PAGE_TOKEN";

tokio::task_local! {
    static BINDING: [u8; 32];
}

/// Runs `work` (a request's handling) with page tokens bound to `binding`.
pub async fn bound<F: Future>(binding: [u8; 32], work: F) -> F::Output {
    BINDING.scope(binding, work).await
}

fn current_binding() -> [u8; 32] {
    BINDING.try_with(|binding| *binding).unwrap_or([0; 32])
}

/// A validated page request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Rows to return.
    pub size: u32,
    /// The sort key of the last row of the previous page (None: first page).
    pub after: Option<String>,
}

impl PageRequest {
    /// Parses the wire fields: a negative size is INVALID_ARGUMENT on
    /// `page_size`; a token this call did not issue is INVALID_ARGUMENT
    /// `INVALID_PAGE_TOKEN` on `page_token`; 0 means the default; above the
    /// maximum is capped.
    pub fn parse(page_size: i32, page_token: &str) -> CsmResult<Self> {
        let mut errors = FieldErrors::new();
        let page = Self::collect(&mut errors, page_size, page_token);
        errors.finish()?;
        page.ok_or_else(|| CsmError::internal("a page request without errors"))
    }

    /// As [`PageRequest::parse`], adding the violations to `errors` (so one
    /// answer names every bad field of a request).
    pub fn collect(errors: &mut FieldErrors, page_size: i32, page_token: &str) -> Option<Self> {
        let mut valid = true;
        if page_size < 0 {
            errors.add("page_size", "must not be negative");
            valid = false;
        }
        let after = if page_token.is_empty() {
            None
        } else {
            match decode_token(page_token, &current_binding()) {
                Some(key) => Some(key),
                None => {
                    errors.add_with_reason(
                        INVALID_PAGE_TOKEN,
                        "page_token",
                        "is not a token this service issued for this caller and these filters",
                    );
                    valid = false;
                    None
                }
            }
        };
        let size = match page_size.max(0) as u32 {
            0 => DEFAULT_PAGE_SIZE,
            size => size.min(MAX_PAGE_SIZE),
        };
        valid.then_some(Self { size, after })
    }

    /// The position the page token carries, read back with `parse` (the
    /// inverse of the key given to [`PageRequest::finish`]); `None` on the
    /// first page. A sealed key `parse` refuses is INVALID_PAGE_TOKEN.
    pub fn after_key<T>(&self, parse: impl FnOnce(&str) -> Option<T>) -> CsmResult<Option<T>> {
        match self.after.as_deref() {
            None => Ok(None),
            Some(key) => parse(key).map(Some).ok_or_else(invalid_page_token),
        }
    }

    /// Rows to fetch: one more than the page, to know whether another page follows.
    pub fn fetch_limit(&self) -> i64 {
        i64::from(self.size) + 1
    }

    /// Cuts `rows` (fetched with [`fetch_limit`](Self::fetch_limit)) to the page and
    /// returns the next page token ("" on the last page), built from the last row's key.
    pub fn finish<T>(&self, mut rows: Vec<T>, key: impl Fn(&T) -> String) -> (Vec<T>, String) {
        if rows.len() > self.size as usize {
            rows.truncate(self.size as usize);
            let token = rows.last().map(|row| encode_token(&key(row), &current_binding())).unwrap_or_default();
            (rows, token)
        } else {
            (rows, String::new())
        }
    }
}

/// The page token continuing after `key`, for lists whose position is not
/// one row's key (a cursor into a peer's list, say); bound to the call as
/// every token, and read back by [`PageRequest::collect`] as `after`.
pub fn token_for(key: &str) -> String {
    encode_token(key, &current_binding())
}

/// INVALID_ARGUMENT INVALID_PAGE_TOKEN on `page_token`.
pub fn invalid_page_token() -> CsmError {
    CsmError::invalid_argument(INVALID_PAGE_TOKEN, "page_token is not a token this service issued for this list")
        .with_field("page_token", "is not a token this service issued for this list")
}

const TOKEN_PREFIX: &str = "p2.";

/// The first 16 bytes of SHA-256(binding ‖ key), hex.
fn seal(key: &str, binding: &[u8; 32]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(binding);
    hasher.update(key.as_bytes());
    hasher.finalize().iter().take(16).map(|byte| format!("{byte:02x}")).collect()
}

fn encode_token(key: &str, binding: &[u8; 32]) -> String {
    let mut token = String::with_capacity(TOKEN_PREFIX.len() + key.len() * 2 + 33);
    token.push_str(TOKEN_PREFIX);
    for byte in key.bytes() {
        token.push_str(&format!("{byte:02x}"));
    }
    token.push('.');
    token.push_str(&seal(key, binding));
    token
}

fn decode_token(token: &str, binding: &[u8; 32]) -> Option<String> {
    let (hex, mac) = token.strip_prefix(TOKEN_PREFIX)?.split_once('.')?;
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(hex.get(index..index + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    let key = String::from_utf8(bytes).ok()?;
    let expected = seal(&key, binding);
    // Constant time: the comparison does not tell how much of a forged seal is right.
    let same =
        expected.len() == mac.len() && expected.bytes().zip(mac.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    same.then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_foreign_tokens_are_rejected() {
        let page = PageRequest::parse(2, "").unwrap();
        let (rows, token) = page.finish(vec!["a", "b", "c"], |row| row.to_string());
        assert_eq!(rows, vec!["a", "b"]);
        let next = PageRequest::parse(2, &token).unwrap();
        assert_eq!(next.after.as_deref(), Some("b"));
        let error = PageRequest::parse(2, "garbage").unwrap_err();
        assert_eq!(error.reason(), INVALID_PAGE_TOKEN);
        assert_eq!(error.field_errors()[0].field, "page_token");
        let error = PageRequest::parse(-1, "").unwrap_err();
        assert_eq!(error.field_errors()[0].field, "page_size");
    }

    #[tokio::test]
    async fn tokens_are_bound_to_their_call() {
        let token = bound([1; 32], async {
            let page = PageRequest::parse(1, "").unwrap();
            page.finish(vec!["a", "b"], |row| row.to_string()).1
        })
        .await;
        let same = bound([1; 32], async { PageRequest::parse(1, &token) }).await.unwrap();
        assert_eq!(same.after.as_deref(), Some("a"));
        let other = bound([2; 32], async { PageRequest::parse(1, &token) }).await.unwrap_err();
        assert_eq!(other.reason(), INVALID_PAGE_TOKEN);
        // A key changed by hand breaks the seal.
        let forged = token.replacen("61", "62", 1);
        assert!(bound([1; 32], async { PageRequest::parse(1, &forged) }).await.is_err());
    }

    #[test]
    fn sizes_default_and_cap() {
        assert_eq!(PageRequest::parse(0, "").unwrap().size, DEFAULT_PAGE_SIZE);
        assert_eq!(PageRequest::parse(5000, "").unwrap().size, MAX_PAGE_SIZE);
    }

    #[test]
    fn the_last_page_has_no_token() {
        let page = PageRequest::parse(5, "").unwrap();
        let (rows, token) = page.finish(vec![1, 2], |row| row.to_string());
        assert_eq!(rows.len(), 2);
        assert!(token.is_empty());
    }
}
