//! Access keys, secret keys and tokens: how they are generated, and how secrets are kept
//! at rest (SKs encrypted with a key file in the data dir; tokens only as a hash).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::Rng;
use rand::distributions::Alphanumeric;
use sha2::{Digest, Sha256};

/// The file in the data dir that holds the key encrypting secret keys at rest.
pub const SECRET_KEY_FILE: &str = "secret.key";
const ACCESS_KEY_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const ACCESS_KEY_LENGTH: usize = 20;
const SECRET_KEY_LENGTH: usize = 40;
/// Tokens start with this so that a leaked one is recognisable (and greppable).
pub const TOKEN_PREFIX: &str = "dsct_";
const TOKEN_RANDOM_CHARS: usize = 43;
const NONCE_LENGTH: usize = 24;
/// What the key check seals, and the context it is bound to (no access key looks so).
const KEY_CHECK_TEXT: &str = "dsconn key check";
const KEY_CHECK_CONTEXT: &str = "key-check";

/// A secret kept in memory: never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret itself, for the one place that needs it (signing, or showing it once).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A new access key: 20 upper-case letters and digits, like Huawei Cloud's.
pub fn generate_access_key() -> String {
    let mut rng = OsRng;
    (0..ACCESS_KEY_LENGTH)
        .map(|_| char::from(ACCESS_KEY_CHARS[rng.gen_range(0..ACCESS_KEY_CHARS.len())]))
        .collect()
}

/// A new secret key: 40 letters and digits (about 238 bits).
pub fn generate_secret_key() -> Secret {
    Secret(
        OsRng
            .sample_iter(&Alphanumeric)
            .take(SECRET_KEY_LENGTH)
            .map(char::from)
            .collect(),
    )
}

/// A new bearer token for `X-Auth-Token` (about 256 bits after the prefix).
pub fn generate_token() -> Secret {
    let random: String = OsRng
        .sample_iter(&Alphanumeric)
        .take(TOKEN_RANDOM_CHARS)
        .map(char::from)
        .collect();
    Secret(format!("{TOKEN_PREFIX}{random}"))
}

/// What is stored of a token. Tokens are long random strings, so a plain SHA-256 is
/// enough: there is nothing to brute-force.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("the key file {0} is not 32 bytes of hex; restore it from a backup")]
    BadKeyFile(PathBuf),
    #[error("a stored secret cannot be decrypted: the key file does not match this database")]
    Undecryptable,
    #[error("sealed fields are not a JSON object")]
    NotFields,
}

/// What the secrets of the auth info `name` of `project` are sealed to: a row copied to
/// another project or name does not open. Access keys (the other context) never hold `:`.
pub fn auth_info_sealing_context(project: &impl fmt::Display, name: &str) -> String {
    format!("auth-info:{project}:{name}")
}

/// Encrypts secrets at rest with XChaCha20-Poly1305 under a key kept in a file.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox(<key redacted>)")
    }
}

impl SecretBox {
    /// Loads the key from `data_dir/secret.key`, creating it (mode 0600) on first use.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, SecretsError> {
        Self::load_or_create_file(&data_dir.join(SECRET_KEY_FILE))
    }

    /// Loads the key from `path`, creating it (mode 0600) on first use.
    pub fn load_or_create_file(path: &Path) -> Result<Self, SecretsError> {
        let path = path.to_path_buf();
        let io = |context: String| move |source| SecretsError::Io { context, source };
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
        }
        match Self::create_key_file(&path) {
            Ok(key) => return Ok(Self::from_key(&key)),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(io(format!("cannot create {}", path.display()))(error)),
        }
        let text = std::fs::read_to_string(&path)
            .map_err(io(format!("cannot read {}", path.display())))?;
        let key = hex::decode(text.trim())
            .ok()
            .filter(|key| key.len() == 32)
            .ok_or_else(|| SecretsError::BadKeyFile(path.clone()))?;
        Ok(Self::from_key(&key))
    }

    fn create_key_file(path: &Path) -> std::io::Result<Vec<u8>> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path)?;
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        writeln!(file, "{}", hex::encode(key))?;
        file.sync_all()?;
        Ok(key.to_vec())
    }

    fn from_key(key: &[u8]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(Key::from_slice(key)),
        }
    }

    /// Encrypts `secret`, bound to `context` (e.g. the access key it belongs to), so a
    /// ciphertext copied to another row does not decrypt. Output: nonce then ciphertext.
    pub fn seal(&self, secret: &Secret, context: &str) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: secret.expose().as_bytes(),
            aad: context.as_bytes(),
        };
        // Encryption with a fresh nonce and an in-memory buffer cannot fail.
        let ciphertext = self
            .cipher
            .encrypt(&nonce, payload)
            .unwrap_or_else(|_| unreachable!("XChaCha20-Poly1305 encryption is infallible"));
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// A value that only this key opens, kept in the database to tell at start-up whether
    /// a key file belongs to it.
    pub fn key_check_value(&self) -> Vec<u8> {
        self.seal(&Secret(KEY_CHECK_TEXT.to_owned()), KEY_CHECK_CONTEXT)
    }

    /// Whether `sealed` (from [`SecretBox::key_check_value`]) was made with this key.
    pub fn opens_key_check(&self, sealed: &[u8]) -> bool {
        self.open(sealed, KEY_CHECK_CONTEXT)
            .is_ok_and(|text| text.expose() == KEY_CHECK_TEXT)
    }

    /// Seals named secrets (an auth info's passwords) as one JSON object, bound to
    /// `context` as [`SecretBox::seal`].
    pub fn seal_fields<'a>(
        &self,
        fields: impl IntoIterator<Item = (&'a str, &'a Secret)>,
        context: &str,
    ) -> Vec<u8> {
        let object: serde_json::Map<String, serde_json::Value> = fields
            .into_iter()
            .map(|(name, secret)| {
                (
                    name.to_owned(),
                    serde_json::Value::String(secret.expose().to_owned()),
                )
            })
            .collect();
        let plain = Secret::new(serde_json::Value::Object(object).to_string());
        self.seal(&plain, context)
    }

    /// Opens what [`SecretBox::seal_fields`] sealed; fields that are not strings are left out.
    pub fn open_fields(
        &self,
        sealed: &[u8],
        context: &str,
    ) -> Result<Vec<(String, Secret)>, SecretsError> {
        let opened = self.open(sealed, context)?;
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(opened.expose()).map_err(|_| SecretsError::NotFields)?;
        Ok(object
            .into_iter()
            .filter_map(|(name, value)| match value {
                serde_json::Value::String(text) => Some((name, Secret::new(text))),
                _ => None,
            })
            .collect())
    }

    pub fn open(&self, sealed: &[u8], context: &str) -> Result<Secret, SecretsError> {
        if sealed.len() < NONCE_LENGTH {
            return Err(SecretsError::Undecryptable);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LENGTH);
        let payload = Payload {
            msg: ciphertext,
            aad: context.as_bytes(),
        };
        let plaintext = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), payload)
            .map_err(|_| SecretsError::Undecryptable)?;
        String::from_utf8(plaintext)
            .map(Secret)
            .map_err(|_| SecretsError::Undecryptable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_documented_shapes() {
        let access_key = generate_access_key();
        assert_eq!(access_key.len(), 20);
        assert!(
            access_key
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        );
        let secret_key = generate_secret_key();
        assert_eq!(secret_key.expose().len(), 40);
        assert!(
            secret_key
                .expose()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric())
        );
        assert_ne!(generate_access_key(), access_key);
        let token = generate_token();
        assert!(token.expose().starts_with(TOKEN_PREFIX));
        assert_eq!(hash_token(token.expose()).len(), 64);
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let secret = Secret::new("hunter2".into());
        assert!(!format!("{secret:?}").contains("hunter2"));
    }

    #[test]
    fn sealed_secrets_open_only_with_the_same_key_file_and_context() {
        let dir = tempfile::tempdir().expect("temp dir");
        let sealer = SecretBox::load_or_create(dir.path()).expect("key created");
        let secret = generate_secret_key();
        let sealed = sealer.seal(&secret, "AK1");
        assert!(!sealed.windows(40).any(|w| w == secret.expose().as_bytes()));

        let reloaded = SecretBox::load_or_create(dir.path()).expect("key loaded");
        assert_eq!(reloaded.open(&sealed, "AK1").expect("opens"), secret);
        assert!(reloaded.open(&sealed, "AK2").is_err());

        let other = tempfile::tempdir().expect("temp dir");
        let stranger = SecretBox::load_or_create(other.path()).expect("other key");
        assert!(stranger.open(&sealed, "AK1").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn the_key_file_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        SecretBox::load_or_create(dir.path()).expect("key created");
        let mode = std::fs::metadata(dir.path().join(SECRET_KEY_FILE))
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
