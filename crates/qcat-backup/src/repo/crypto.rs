//! The repository's keys: one for AES-256-GCM, one for the chunk ids (HMAC-SHA256), both
//! random, kept in `repository.json` wrapped by the master key (an `ENC:v1` value).

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::Mac;
use qcat_core::secret::Secret;
use sha2::Sha256;

pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;

/// A chunk's name: HMAC-SHA256 of its plaintext under the repository's chunk-id key, so the
/// names reveal nothing about the content to someone without the key (a plain hash would
/// confirm a guessed file).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkId(pub [u8; 32]);

impl ChunkId {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        let bytes = hex::decode(text).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }
}

impl std::fmt::Debug for ChunkId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", &self.to_hex()[..16])
    }
}

impl std::fmt::Display for ChunkId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[derive(Clone)]
pub struct RepoKeys {
    encryption: Secret<[u8; 32]>,
    chunk_id: Secret<[u8; 32]>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeysText {
    encryption: String,
    chunk_id: String,
}

/// A sealed blob did not authenticate: altered bytes, or another repository's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unauthentic;

impl RepoKeys {
    pub fn generate() -> Self {
        let key = |_| {
            let generated = Aes256Gcm::generate_key(OsRng);
            let mut bytes = [0_u8; 32];
            bytes.copy_from_slice(&generated);
            Secret::new(bytes)
        };
        Self {
            encryption: key(0),
            chunk_id: key(1),
        }
    }

    /// The JSON the master key wraps: `{"encryption": base64, "chunkId": base64}`.
    pub fn to_text(&self) -> Secret<String> {
        Secret::new(
            serde_json::to_string(&KeysText {
                encryption: BASE64.encode(self.encryption.expose()),
                chunk_id: BASE64.encode(self.chunk_id.expose()),
            })
            .expect("two strings serialize"),
        )
    }

    pub fn from_text(text: &str) -> Option<Self> {
        let parsed: KeysText = serde_json::from_str(text).ok()?;
        let decode = |value: &str| -> Option<Secret<[u8; 32]>> {
            let bytes = BASE64.decode(value).ok()?;
            Some(Secret::new(bytes.try_into().ok()?))
        };
        Some(Self {
            encryption: decode(&parsed.encryption)?,
            chunk_id: decode(&parsed.chunk_id)?,
        })
    }

    pub fn chunk_id(&self, plaintext: &[u8]) -> ChunkId {
        let mut mac = <hmac::Hmac<Sha256> as Mac>::new_from_slice(self.chunk_id.expose())
            .expect("HMAC accepts any key length");
        mac.update(plaintext);
        ChunkId(mac.finalize().into_bytes().into())
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(*self.encryption.expose()))
    }

    /// `nonce ‖ ciphertext ‖ tag` of `plaintext`, bound to `aad` (the chunk id, or the
    /// manifest's name) so a blob cannot be passed off as another.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut blob = Vec::with_capacity(NONCE_LEN + sealed.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        blob
    }

    pub fn open(&self, aad: &[u8], blob: &[u8]) -> Result<Vec<u8>, Unauthentic> {
        if blob.len() < NONCE_LEN + TAG_LEN {
            return Err(Unauthentic);
        }
        let (nonce, sealed) = blob.split_at(NONCE_LEN);
        self.cipher()
            .decrypt(
                &Nonce::from(
                    <[u8; NONCE_LEN]>::try_from(nonce).expect("split at the nonce length"),
                ),
                Payload { msg: sealed, aad },
            )
            .map_err(|_| Unauthentic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_blob_opens_only_with_its_key_and_its_name() {
        let keys = RepoKeys::generate();
        let blob = keys.seal(b"chunk-a", b"payload");
        assert_eq!(keys.open(b"chunk-a", &blob).unwrap(), b"payload");
        // Bound to its name: the same bytes presented as another chunk are refused.
        assert_eq!(keys.open(b"chunk-b", &blob), Err(Unauthentic));
        // Another repository's key cannot read it.
        assert_eq!(
            RepoKeys::generate().open(b"chunk-a", &blob),
            Err(Unauthentic)
        );
        let mut flipped = blob.clone();
        flipped[NONCE_LEN + 2] ^= 1;
        assert_eq!(keys.open(b"chunk-a", &flipped), Err(Unauthentic));
    }

    #[test]
    fn keys_survive_their_text_form_and_ids_depend_on_the_key() {
        let keys = RepoKeys::generate();
        let again = RepoKeys::from_text(keys.to_text().expose()).unwrap();
        assert_eq!(keys.chunk_id(b"x"), again.chunk_id(b"x"));
        // Keyed: another repository names the same content differently.
        assert_ne!(keys.chunk_id(b"x"), RepoKeys::generate().chunk_id(b"x"));
        assert!(RepoKeys::from_text("{}").is_none());
    }
}
