//! WireGuard key pairs for the lab's nodes and test peers (Curve25519, base64 as `wg` prints them).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use x25519_dalek::{PublicKey, StaticSecret};

/// A new `(private, public)` key pair, base64.
pub fn generate() -> (String, String) {
    let secret = StaticSecret::from(rand::random::<[u8; 32]>());
    let public = PublicKey::from(&secret);
    (
        STANDARD.encode(secret.to_bytes()),
        STANDARD.encode(public.as_bytes()),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_32_bytes_and_distinct() {
        use base64::Engine;
        let (a, b) = super::generate();
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(&a)
                .unwrap()
                .len(),
            32
        );
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(&b)
                .unwrap()
                .len(),
            32
        );
        assert_ne!(super::generate().1, b);
    }
}
