//! Write tokens: `kaic registry token create` prints a new token once and stores only its sha256. A
//! token is 32 random bytes, so a fast hash is enough (a slow password hash defends guessable secrets,
//! which these are not), and lookups by hash are one indexed, parameterised query.

use sha2::{Digest, Sha256};

use crate::db::{Db, DbError, hex};

/// What every token starts with, so that a leaked one is recognisable (secret scanners, logs).
pub const PREFIX: &str = "kaicreg_";

/// A new random token.
///
/// # Errors
/// When the operating system's random source fails.
pub fn generate() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{PREFIX}{}", hex(&bytes)))
}

/// The hash stored for `token`.
pub fn hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Creates a token labelled `label`, stores its hash and returns the token itself (shown once).
///
/// # Errors
/// A database error, or no randomness.
pub async fn create(db: &Db, label: &str) -> Result<String, DbError> {
    let token = generate().map_err(|e| DbError::Query(sqlx::Error::Protocol(format!("no randomness: {e}"))))?;
    db.add_token(label, &hash(&token)).await?;
    Ok(token)
}

/// The result of checking a request's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// No `Authorization: Bearer` header: 401.
    Missing,
    /// A token the registry does not know: 403.
    Denied,
    /// A known token, with its label.
    Granted(String),
}

/// Checks the value of an `Authorization` header.
///
/// # Errors
/// A database error.
pub async fn check(db: &Db, authorization: Option<&str>) -> Result<Access, DbError> {
    let Some(token) = authorization.and_then(|v| v.strip_prefix("Bearer ")).map(str::trim).filter(|t| !t.is_empty())
    else {
        return Ok(Access::Missing);
    };
    Ok(match db.token_label(&hash(token)).await? {
        Some(label) => Access::Granted(label),
        None => Access::Denied,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_only_their_hash_is_kept() {
        let (a, b) = (generate().unwrap(), generate().unwrap());
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 64);
        assert_eq!(hash(&a).len(), 64);
        assert_ne!(hash(&a), hash(&b));
        assert!(!hash(&a).contains(&a[PREFIX.len()..]));
    }
}
