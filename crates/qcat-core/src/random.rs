//! Random bytes and ids from the operating system's source: session tokens, user and event
//! ids, salts. (Key material stays in qcat-secrets' cipher.)

/// `N` random bytes.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).expect("the OS random source is available");
    out
}

/// `len` random bytes as lowercase hex (`2 * len` characters).
pub fn hex_id(len: usize) -> String {
    let mut out = vec![0u8; len];
    getrandom::fill(&mut out).expect("the OS random source is available");
    hex::encode(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_have_the_asked_length_and_do_not_repeat() {
        let one = super::hex_id(16);
        assert_eq!(one.len(), 32);
        assert!(one.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(one, super::hex_id(16), "128 random bits do not collide");
        assert_ne!(super::bytes::<16>(), [0u8; 16]);
    }
}
