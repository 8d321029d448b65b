//! The signing algorithms of the official SDKs, and the keys each one derives from the SK.
//!
//! All of them sign the same canonical request (see the parent module); they differ in
//! the digest (SHA-256 or SM3), the body hash header, and what signs the string to sign:
//!
//! - `SDK-HMAC-SHA256`, `SDK-HMAC-SM3`: an HMAC keyed with the SK.
//! - `SDK-ECDSA-P256-SHA256`, `SDK-SM2-SM3`: the SDK derives a private key from AK and SK
//!   (an HMAC counter construction, see [`derive_candidates`]) and signs with it. The
//!   server derives the same key from the stored SK and verifies with its public half.
//! - `V11-HMAC-SHA256` (the SDKs' "derived" signer): an HMAC-SHA256 keyed with
//!   hex(HKDF-SHA256(salt = AK, key = SK, info = `<yyyymmdd>/<region>/<service>`)), the
//!   credential scope that the Authorization header carries.

use std::fmt;
use std::str::FromStr;

use ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use ecdsa::signature::{Signer as _, Verifier as _};
use hkdf::Hkdf;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use p256::elliptic_curve::ff::PrimeField;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use sha2::{Digest, Sha256};
use sm3::Sm3;

use super::SigningError;

type HmacSha256 = Hmac<Sha256>;
type HmacSm3 = Hmac<Sm3>;

/// The user id the SDKs hash into SM2's Z value (GB/T 32918's default).
const SM2_USER_ID_TEXT: &str = "1234567812345678";
const SM2_USER_ID: &[u8] = SM2_USER_ID_TEXT.as_bytes();

/// A signing algorithm, by the name the Authorization header starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    HmacSha256,
    HmacSm3,
    EcdsaP256Sha256,
    Sm2Sm3,
    /// The derived-key signer (`DerivationAKSKSigner` / `DerivedAKSKSigner`).
    DerivedHmacSha256,
}

impl Algorithm {
    pub const ALL: [Algorithm; 5] = [
        Algorithm::HmacSha256,
        Algorithm::HmacSm3,
        Algorithm::EcdsaP256Sha256,
        Algorithm::Sm2Sm3,
        Algorithm::DerivedHmacSha256,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Algorithm::HmacSha256 => "SDK-HMAC-SHA256",
            Algorithm::HmacSm3 => "SDK-HMAC-SM3",
            Algorithm::EcdsaP256Sha256 => "SDK-ECDSA-P256-SHA256",
            Algorithm::Sm2Sm3 => "SDK-SM2-SM3",
            Algorithm::DerivedHmacSha256 => "V11-HMAC-SHA256",
        }
    }

    /// Whether the Authorization header names the key `Credential=<AK>/<scope>` rather
    /// than `Access=<AK>`.
    pub const fn is_derived(self) -> bool {
        matches!(self, Algorithm::DerivedHmacSha256)
    }

    const fn uses_sm3(self) -> bool {
        matches!(self, Algorithm::HmacSm3 | Algorithm::Sm2Sm3)
    }

    /// Hex digest, as the canonical request and the string to sign use it.
    pub fn hash_hex(self, data: &[u8]) -> String {
        if self.uses_sm3() {
            hex::encode(Sm3::digest(data))
        } else {
            hex::encode(Sha256::digest(data))
        }
    }

    /// The header in which the SDK may declare the body's hash (or `UNSIGNED-PAYLOAD`).
    pub const fn content_hash_header(self) -> &'static str {
        if self.uses_sm3() {
            "x-sdk-content-sm3"
        } else {
            "x-sdk-content-sha256"
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = SigningError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL
            .into_iter()
            .find(|algorithm| algorithm.name().eq_ignore_ascii_case(name.trim()))
            .ok_or(SigningError::UnsupportedAlgorithm)
    }
}

/// How a client signs: the algorithm and, for `V11-HMAC-SHA256`, the region and service
/// that the derived key is scoped to (the SDK's region id and derived auth service name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigningMode<'a> {
    pub algorithm: Algorithm,
    pub region: &'a str,
    pub service: &'a str,
}

impl SigningMode<'static> {
    /// The algorithm with dsconn's default derived scope (region `local`, service `dli`;
    /// a dsconn server accepts any region and service).
    pub const fn of(algorithm: Algorithm) -> Self {
        Self {
            algorithm,
            region: "local",
            service: "dli",
        }
    }
}

impl Default for SigningMode<'static> {
    fn default() -> Self {
        Self::of(Algorithm::HmacSha256)
    }
}

fn hmac_of<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> M {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <M as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(data);
    mac
}

/// The V11 signing key: the hex text of HKDF-SHA256(salt = AK, SK, info = scope).
fn derived_key(access_key: &str, secret_key: &str, scope: &str) -> Result<String, SigningError> {
    let mut okm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(access_key.as_bytes()), secret_key.as_bytes())
        .expand(scope.as_bytes(), &mut okm)
        .map_err(|_| SigningError::KeyDerivationFailed)?;
    Ok(hex::encode(okm))
}

/// The SDKs' private-key candidates for the asymmetric algorithms: for counter 0..255,
/// HMAC(SK, 00000001 || algorithm name || 00 || AK || counter || 00000100) (a NIST
/// SP 800-108 counter-mode KDF). The first candidate `c <= n - 2` gives the key `c + 1`.
fn derive_candidates<M: Mac + KeyInit>(
    algorithm: Algorithm,
    access_key: &str,
    secret_key: &str,
) -> impl Iterator<Item = Vec<u8>> {
    (0u8..0xff).map(move |counter| {
        let mut data = vec![0, 0, 0, 1];
        data.extend_from_slice(algorithm.name().as_bytes());
        data.push(0);
        data.extend_from_slice(access_key.as_bytes());
        data.push(counter);
        data.extend_from_slice(&[0, 0, 1, 0]);
        hmac_of::<M>(secret_key.as_bytes(), &data)
            .finalize()
            .into_bytes()
            .to_vec()
    })
}

/// `c + 1` for a candidate `c <= n - 2`: `c` must be a valid scalar (`c < n`) and
/// `c + 1` must not wrap to zero (`c != n - 1`).
macro_rules! private_scalar {
    ($curve:ident, $candidate:expr) => {{
        let repr = $curve::FieldBytes::clone_from_slice($candidate);
        let scalar: Option<$curve::Scalar> = $curve::Scalar::from_repr(repr).into();
        scalar.and_then(|scalar| -> Option<$curve::NonZeroScalar> {
            $curve::NonZeroScalar::new(scalar + $curve::Scalar::ONE).into()
        })
    }};
}

fn p256_signing_key(
    access_key: &str,
    secret_key: &str,
) -> Result<p256::ecdsa::SigningKey, SigningError> {
    derive_candidates::<HmacSha256>(Algorithm::EcdsaP256Sha256, access_key, secret_key)
        .find_map(|candidate| private_scalar!(p256, &candidate))
        .map(p256::ecdsa::SigningKey::from)
        .ok_or(SigningError::KeyDerivationFailed)
}

fn sm2_signing_key(
    access_key: &str,
    secret_key: &str,
) -> Result<sm2::dsa::SigningKey, SigningError> {
    derive_candidates::<HmacSm3>(Algorithm::Sm2Sm3, access_key, secret_key)
        .find_map(|candidate| private_scalar!(sm2, &candidate))
        .and_then(|scalar| sm2::dsa::SigningKey::from_nonzero_scalar(sm2_user_id(), scalar).ok())
        .ok_or(SigningError::KeyDerivationFailed)
}

fn sm2_user_id() -> &'static str {
    SM2_USER_ID_TEXT
}

/// SM3(Z || message), where Z hashes the user id, the curve and the public key as the
/// SDKs do: each coordinate as a big-endian integer without leading zero bytes (GB/T
/// 32918 pads them to 32 bytes; the SDKs do not, and we must match the SDKs).
fn sm2_prehash(public_key: &sm2::dsa::VerifyingKey, message: &[u8]) -> Vec<u8> {
    let strip = |bytes: &[u8]| -> Vec<u8> {
        let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        bytes[start..].to_vec()
    };
    let point = public_key.as_affine().to_encoded_point(false);
    let (x, y) = (
        point.x().map(|x| strip(x)).unwrap_or_default(),
        point.y().map(|y| strip(y)).unwrap_or_default(),
    );
    let mut z = Sm3::new();
    z.update(
        u16::try_from(SM2_USER_ID.len() * 8)
            .unwrap_or(u16::MAX)
            .to_be_bytes(),
    );
    z.update(SM2_USER_ID);
    for parameter in SM2_CURVE_PARAMETERS {
        z.update(hex_bytes(parameter));
    }
    z.update(&x);
    z.update(&y);
    let z = z.finalize();
    Sm3::new_with_prefix(z)
        .chain_update(message)
        .finalize()
        .to_vec()
}

/// SM2's a, b, and generator (x, y); none has a leading zero byte, so their SDK encoding
/// is the 32-byte one.
const SM2_CURVE_PARAMETERS: [&str; 4] = [
    "fffffffeffffffffffffffffffffffffffffffff00000000fffffffffffffffc",
    "28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93",
    "32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7",
    "bc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0",
];

fn hex_bytes(text: &str) -> Vec<u8> {
    hex::decode(text).unwrap_or_default()
}

/// Signs the string to sign with the key that the algorithm derives from the AK, SK and
/// (for V11) the credential scope; the result is hex, as the Authorization header has it.
pub(super) fn sign_string(
    algorithm: Algorithm,
    access_key: &str,
    secret_key: &str,
    scope: Option<&str>,
    string_to_sign: &str,
) -> Result<String, SigningError> {
    let message = string_to_sign.as_bytes();
    Ok(match algorithm {
        Algorithm::HmacSha256 => hex::encode(
            hmac_of::<HmacSha256>(secret_key.as_bytes(), message)
                .finalize()
                .into_bytes(),
        ),
        Algorithm::HmacSm3 => hex::encode(
            hmac_of::<HmacSm3>(secret_key.as_bytes(), message)
                .finalize()
                .into_bytes(),
        ),
        Algorithm::DerivedHmacSha256 => {
            let key = derived_key(access_key, secret_key, scope.unwrap_or_default())?;
            hex::encode(
                hmac_of::<HmacSha256>(key.as_bytes(), message)
                    .finalize()
                    .into_bytes(),
            )
        }
        Algorithm::EcdsaP256Sha256 => {
            let signature: p256::ecdsa::Signature =
                p256_signing_key(access_key, secret_key)?.sign(message);
            hex::encode(signature.to_der().as_bytes())
        }
        Algorithm::Sm2Sm3 => {
            let key = sm2_signing_key(access_key, secret_key)?;
            let signature: sm2::dsa::Signature = key
                .sign_prehash(&sm2_prehash(key.verifying_key(), message))
                .map_err(|_| SigningError::KeyDerivationFailed)?;
            let signature = ecdsa::Signature::<sm2::Sm2>::from_slice(&signature.to_bytes())
                .map_err(|_| SigningError::KeyDerivationFailed)?;
            hex::encode(signature.to_der().as_bytes())
        }
    })
}

/// Checks `signature` (hex) over `string_to_sign`; HMACs compare in constant time.
pub(super) fn verify_string(
    algorithm: Algorithm,
    access_key: &str,
    secret_key: &str,
    scope: Option<&str>,
    string_to_sign: &str,
    signature: &str,
) -> Result<(), SigningError> {
    let given = hex::decode(signature).map_err(|_| SigningError::SignatureMismatch)?;
    let message = string_to_sign.as_bytes();
    let outcome = match algorithm {
        Algorithm::HmacSha256 => {
            hmac_of::<HmacSha256>(secret_key.as_bytes(), message).verify_slice(&given)
        }
        Algorithm::HmacSm3 => {
            hmac_of::<HmacSm3>(secret_key.as_bytes(), message).verify_slice(&given)
        }
        Algorithm::DerivedHmacSha256 => {
            let key = derived_key(access_key, secret_key, scope.unwrap_or_default())?;
            hmac_of::<HmacSha256>(key.as_bytes(), message).verify_slice(&given)
        }
        Algorithm::EcdsaP256Sha256 => {
            let key = p256_signing_key(access_key, secret_key)?;
            let signature = p256::ecdsa::DerSignature::from_bytes(&given)
                .map_err(|_| SigningError::SignatureMismatch)?;
            return key
                .verifying_key()
                .verify(message, &signature)
                .map_err(|_| SigningError::SignatureMismatch);
        }
        Algorithm::Sm2Sm3 => {
            let key = sm2_signing_key(access_key, secret_key)?;
            let signature = ecdsa::der::Signature::<sm2::Sm2>::from_bytes(&given)
                .ok()
                .and_then(|der| ecdsa::Signature::<sm2::Sm2>::try_from(der).ok())
                .and_then(|signature| sm2::dsa::Signature::from_slice(&signature.to_bytes()).ok())
                .ok_or(SigningError::SignatureMismatch)?;
            let public_key = key.verifying_key();
            return public_key
                .verify_prehash(&sm2_prehash(public_key, message), &signature)
                .map_err(|_| SigningError::SignatureMismatch);
        }
    };
    outcome.map_err(|_| SigningError::SignatureMismatch)
}
