//! Secrets out of a bug report, whatever file they turn up in: the exact secrets kubewire knows
//! (the laptop's private key, the kubeconfig's tokens, passwords and client keys), every
//! WireGuard-key-shaped string that is not a public key of the connection (a private or preshared
//! key in a log line), bearer tokens and JWTs. What is left keeps public keys, addresses and names:
//! what a maintainer needs to read the report.

use std::collections::BTreeSet;

/// Replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// What to take out, and which key-shaped strings may stay.
#[derive(Debug, Default)]
pub struct Redactor {
    secrets: Vec<String>,
    public_keys: BTreeSet<String>,
}

/// Whether `word` looks like a WireGuard key: 32 bytes in standard base64 (44 characters, one `=`).
fn key_shaped(word: &str) -> bool {
    word.len() == 44
        && word.ends_with('=')
        && word[..43]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// Whether `word` looks like a JSON Web Token (`eyJ<header>.<payload>.<signature>`).
fn jwt_shaped(word: &str) -> bool {
    let parts: Vec<&str> = word.split('.').collect();
    parts.len() == 3
        && word.starts_with("eyJ")
        && parts[..2].iter().all(|p| p.len() >= 4)
        && parts.iter().all(|p| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A character that may belong to a token (base64, base64url, JWT dots, `sha256~` tokens).
fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_' | '.' | '~')
}

impl Redactor {
    /// A secret to take out wherever it appears (ignored when too short to be one: a 3-character
    /// "token" would redact half the report).
    pub fn secret(&mut self, secret: &str) {
        let secret = secret.trim();
        if secret.len() >= 8 && !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_owned());
            // Longest first, so that a secret containing another is taken out whole.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// A public key that may stay (the laptop's, the peers').
    pub fn public_key(&mut self, key: &str) {
        self.public_keys.insert(key.trim().to_owned());
    }

    /// `text` without secrets, and how many were taken out.
    #[must_use]
    pub fn redact(&self, text: &str) -> (String, usize) {
        let mut out = text.to_owned();
        let mut count = 0;
        for secret in &self.secrets {
            let n = out.matches(secret.as_str()).count();
            if n > 0 {
                count += n;
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        let (out, n) = self.redact_words(&out);
        (out, count + n)
    }

    /// Key-shaped words that are not known public keys, JWTs, and the word after `Bearer`.
    fn redact_words(&self, text: &str) -> (String, usize) {
        let mut out = String::with_capacity(text.len());
        let mut count = 0;
        let mut after_bearer = false;
        let mut rest = text;
        while !rest.is_empty() {
            let start = rest.find(token_char).unwrap_or(rest.len());
            out.push_str(&rest[..start]);
            rest = &rest[start..];
            let end = rest.find(|c: char| !token_char(c)).unwrap_or(rest.len());
            let word = &rest[..end];
            let trimmed = word.trim_end_matches('.');
            let secret = (after_bearer && word.len() >= 8)
                || jwt_shaped(trimmed)
                || (key_shaped(trimmed) && !self.public_keys.contains(trimmed));
            if secret {
                out.push_str(REDACTED);
                out.push_str(&word[trimmed.len()..]);
                count += 1;
            } else {
                out.push_str(word);
            }
            if !word.is_empty() {
                after_bearer = word.eq_ignore_ascii_case("bearer");
            }
            rest = &rest[end..];
        }
        (out, count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIVATE: &str = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
    const PUBLIC: &str = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";

    #[test]
    fn known_secrets_and_unknown_keys_go_and_public_keys_stay() {
        let mut r = Redactor::default();
        r.secret("kubewire-test-token");
        r.public_key(PUBLIC);
        let text = format!(
            "token: kubewire-test-token\nPrivateKey = {PRIVATE}\nPublicKey = {PUBLIC}\nendpoint 192.0.2.1:51820\n"
        );
        let (out, n) = r.redact(&text);
        assert!(!out.contains("kubewire-test-token"), "{out}");
        assert!(!out.contains(PRIVATE), "{out}");
        assert!(out.contains(PUBLIC), "{out}");
        assert!(out.contains("192.0.2.1:51820"), "{out}");
        assert_eq!(n, 2);
        assert_eq!(out.matches(REDACTED).count(), 2);
    }

    #[test]
    fn bearer_tokens_and_jwts_go_wherever_they_are() {
        let r = Redactor::default();
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJkZXYifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ";
        let (out, n) = r.redact(&format!(
            "Authorization: Bearer sha256~abcdefghijkl\n\"token\":\"{jwt}\"\nBearer"
        ));
        assert!(
            !out.contains("sha256~abcdefghijkl") && !out.contains("abcdefghijkl"),
            "{out}"
        );
        assert!(!out.contains(jwt), "{out}");
        assert_eq!(n, 2, "{out}");
        assert!(out.contains("Authorization: Bearer "), "{out}");
    }

    #[test]
    fn short_secrets_are_not_taken_as_secrets_and_text_is_left_alone() {
        let mut r = Redactor::default();
        r.secret("abc");
        let text = "nodes ready: 4 of 4, 10.42.0.0/16 via aws (abc)";
        assert_eq!(r.redact(text), (text.to_owned(), 0));
    }
}
