//! List pagination: `page_size` (default 100, at most 1000) and an opaque
//! `page_token` carrying the keyset position after which the next page starts.

use csm_errors::{CsmError, CsmResult};

pub const DEFAULT_PAGE_SIZE: u32 = 100;
pub const MAX_PAGE_SIZE: u32 = 1000;

/// A validated page request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Rows to return.
    pub size: u32,
    /// The sort key of the last row of the previous page (None: first page).
    pub after: Option<String>,
}

impl PageRequest {
    /// Parses the wire fields: a negative size or a token this service did
    /// not issue is INVALID_ARGUMENT; 0 means the default; above the maximum is capped.
    pub fn parse(page_size: i32, page_token: &str) -> CsmResult<Self> {
        if page_size < 0 {
            return Err(CsmError::invalid_field("page_size", "must not be negative"));
        }
        let size = match page_size as u32 {
            0 => DEFAULT_PAGE_SIZE,
            size => size.min(MAX_PAGE_SIZE),
        };
        let after = if page_token.is_empty() {
            None
        } else {
            Some(
                decode_token(page_token)
                    .ok_or_else(|| CsmError::invalid_field("page_token", "is not a token returned by this service"))?,
            )
        };
        Ok(Self { size, after })
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
            let token = rows.last().map(|row| encode_token(&key(row))).unwrap_or_default();
            (rows, token)
        } else {
            (rows, String::new())
        }
    }
}

const TOKEN_PREFIX: &str = "p1.";

fn encode_token(key: &str) -> String {
    let mut token = String::with_capacity(TOKEN_PREFIX.len() + key.len() * 2);
    token.push_str(TOKEN_PREFIX);
    for byte in key.bytes() {
        token.push_str(&format!("{byte:02x}"));
    }
    token
}

fn decode_token(token: &str) -> Option<String> {
    let hex = token.strip_prefix(TOKEN_PREFIX)?;
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(hex.get(index..index + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
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
        assert!(PageRequest::parse(2, "garbage").is_err());
        assert!(PageRequest::parse(-1, "").is_err());
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
