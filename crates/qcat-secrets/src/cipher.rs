//! The `ENC:v1` value format.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use qcat_core::secret::Secret;
use sha2::{Digest, Sha256};

const PREFIX: &str = "ENC:v1:";
const NONCE_LEN: usize = 12;

/// A 256-bit master key and its id (the first 8 hex digits of its SHA-256), which `ENC:`
/// values carry so the right key can be found and a wrong one named.
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    bytes: Secret<[u8; 32]>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    #[error(
        "{key}: not an ENC:v1 value ({why}); produce one with `qcatctl secret encrypt --key {key}`"
    )]
    Malformed { key: String, why: &'static str },
    #[error(
        "{key}: encrypted under master key {value_key}, but that key is not available (the current key is {current_key}); restore the key that encrypted it, or re-encrypt the value"
    )]
    WrongKey {
        key: String,
        value_key: String,
        current_key: String,
    },
    #[error(
        "{key}: the value does not authenticate: it was altered, or encrypted for another key; re-encrypt it with `qcatctl secret encrypt --key {key}`"
    )]
    Tampered { key: String },
    #[error("{key}: the decrypted value is not UTF-8 text")]
    NotText { key: String },
}

impl MasterKey {
    /// A new random key.
    pub fn generate() -> Self {
        let key = Aes256Gcm::generate_key(OsRng);
        let mut bytes = [0_u8; 32];
        bytes.copy_from_slice(&key);
        Self::from_bytes(bytes)
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let digest = Sha256::digest(bytes);
        let id = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        Self {
            id,
            bytes: Secret::new(bytes),
        }
    }

    /// A key for another purpose (`purpose` names it), derived so that it reveals nothing
    /// of this one: HMAC-SHA256(master key, purpose). The audit anchors are MAC'd with one.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        use hmac::Mac;
        let mut mac = <hmac::Hmac<Sha256> as Mac>::new_from_slice(self.bytes.expose())
            .expect("HMAC accepts any key length");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Parses the base64 text form (what key files and `QCAT_MASTER_KEY` hold).
    pub fn from_base64(text: &str) -> Option<Self> {
        let bytes = BASE64.decode(text.trim()).ok()?;
        let bytes: [u8; 32] = bytes.try_into().ok()?;
        Some(Self::from_bytes(bytes))
    }

    /// The base64 text form. Only for writing the key to its store.
    pub fn to_base64(&self) -> Secret<String> {
        Secret::new(BASE64.encode(self.bytes.expose()))
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(*self.bytes.expose()))
    }

    /// Encrypts `plaintext` for the config key `key_path` (its associated data).
    pub fn encrypt(&self, key_path: &str, plaintext: &str) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: key_path.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut blob = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        format!("{PREFIX}{}:{}", self.id, BASE64.encode(blob))
    }
}

/// The key id an `ENC:v1` value names, or why it is not one.
pub fn key_id_of<'v>(key_path: &str, value: &'v str) -> Result<&'v str, CipherError> {
    Ok(parse(key_path, value)?.0)
}

fn parse<'v>(key_path: &str, value: &'v str) -> Result<(&'v str, &'v str), CipherError> {
    let malformed = |why| CipherError::Malformed {
        key: key_path.to_owned(),
        why,
    };
    let rest = value
        .strip_prefix(PREFIX)
        .ok_or_else(|| malformed("it must start with ENC:v1:"))?;
    let (key_id, body) = rest
        .split_once(':')
        .ok_or_else(|| malformed("the key id is missing"))?;
    if key_id.len() != 8 || !key_id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(malformed("the key id must be 8 hex digits"));
    }
    Ok((key_id, body))
}

/// Decrypts an `ENC:v1` value of `key_path` with whichever of `keys` encrypted it.
pub fn decrypt(
    keys: &[MasterKey],
    key_path: &str,
    value: &str,
) -> Result<Secret<String>, CipherError> {
    let (key_id, body) = parse(key_path, value)?;
    let malformed = |why| CipherError::Malformed {
        key: key_path.to_owned(),
        why,
    };
    let blob = BASE64
        .decode(body)
        .map_err(|_| malformed("the ciphertext is not base64"))?;
    if blob.len() < NONCE_LEN + 16 {
        return Err(malformed("the ciphertext is too short"));
    }
    let key = keys
        .iter()
        .find(|key| key.id == key_id)
        .ok_or_else(|| CipherError::WrongKey {
            key: key_path.to_owned(),
            value_key: key_id.to_owned(),
            current_key: keys
                .first()
                .map_or_else(|| "none".to_owned(), |key| key.id.clone()),
        })?;
    let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("split at the nonce length");
    let plaintext = key
        .cipher()
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad: key_path.as_bytes(),
            },
        )
        .map_err(|_| CipherError::Tampered {
            key: key_path.to_owned(),
        })?;
    String::from_utf8(plaintext)
        .map(Secret::new)
        .map_err(|_| CipherError::NotText {
            key: key_path.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_fresh_nonces() {
        let key = MasterKey::generate();
        let first = key.encrypt("database.password", "s3cret");
        let second = key.encrypt("database.password", "s3cret");
        // A random nonce per value: equal plaintexts must not give equal ciphertexts.
        assert_ne!(first, second);
        assert!(first.starts_with(&format!("ENC:v1:{}:", key.id())));
        let plain = decrypt(&[key], "database.password", &first).unwrap();
        assert_eq!(plain.expose(), "s3cret");
    }

    #[test]
    fn a_flipped_byte_is_refused_as_tampered() {
        let key = MasterKey::generate();
        let value = key.encrypt("database.password", "s3cret");
        let (head, body) = value.rsplit_once(':').unwrap();
        let mut blob = BASE64.decode(body).unwrap();
        let last = blob.len() - 1;
        blob[last] ^= 0x01;
        let tampered = format!("{head}:{}", BASE64.encode(blob));
        assert!(matches!(
            decrypt(&[key], "database.password", &tampered),
            Err(CipherError::Tampered { .. })
        ));
    }

    #[test]
    fn a_value_moved_to_another_key_is_refused() {
        // The key path is associated data: redis.password cannot reuse database.password's value.
        let key = MasterKey::generate();
        let value = key.encrypt("database.password", "s3cret");
        let err = decrypt(&[key], "redis.password", &value).unwrap_err();
        assert!(matches!(err, CipherError::Tampered { ref key } if key == "redis.password"));
    }

    #[test]
    fn a_wrong_key_is_named_not_reported_as_tampering() {
        let encrypting = MasterKey::generate();
        let other = MasterKey::generate();
        let value = encrypting.encrypt("jwt.secret_key", "k");
        let err = decrypt(std::slice::from_ref(&other), "jwt.secret_key", &value).unwrap_err();
        assert_eq!(
            err,
            CipherError::WrongKey {
                key: "jwt.secret_key".into(),
                value_key: encrypting.id().into(),
                current_key: other.id().into(),
            }
        );
    }

    #[test]
    fn malformed_values_say_how_to_make_a_good_one() {
        let key = MasterKey::generate();
        for bad in [
            "ENC:encrypted_password",
            "ENC:v1:zz:abc",
            "ENC:v1:0011aabb:!!",
        ] {
            let err = decrypt(std::slice::from_ref(&key), "redis.password", bad).unwrap_err();
            assert!(matches!(err, CipherError::Malformed { .. }), "{bad}: {err}");
            assert!(
                err.to_string()
                    .contains("qcatctl secret encrypt --key redis.password")
            );
        }
    }

    #[test]
    fn base64_form_round_trips_and_keeps_the_id() {
        let key = MasterKey::generate();
        let back = MasterKey::from_base64(key.to_base64().expose()).unwrap();
        assert_eq!(back.id(), key.id());
        assert!(!format!("{key:?}").contains(key.to_base64().expose().as_str()));
    }
}
