//! Client keys held in a PKCS#11 token: the key never leaves the token.
//!
//! rustls requests a signature from a [`SigningKey`] during each handshake.
//! [`TokenKey`] hashes the handshake transcript here and has the token sign
//! the digest with `C_Sign`:
//!
//! - ECDSA (P-256, P-384) uses `CKM_ECDSA` over a SHA-2 digest, because
//!   SoftHSM2 and many tokens lack the combined `CKM_ECDSA_SHA256`. The token
//!   returns raw `r || s`; TLS needs a DER `ECDSA-Sig-Value`.
//! - RSA uses `CKM_RSA_PKCS_PSS` over a digest, because TLS 1.3 forbids
//!   PKCS#1 v1.5 signatures in the handshake.
//!
//! `C_Initialize` succeeds once per process, so one context per module path
//! is kept for the life of the process. A `cryptoki` session is `Send` but
//! not `Sync`, so each key's session sits behind a mutex. The session stays
//! open and logged in, because closing the last session logs the token out.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as Pkcs11Error, RvError};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::{AuthPin, Ulong};
use rustls::sign::{Signer, SigningKey, public_key_to_spki};
use rustls::{SignatureAlgorithm, SignatureScheme};
use rustls_pki_types::SubjectPublicKeyInfoDer;
use rustls_pki_types::alg_id;
use sha2::Digest;
use zeroize::Zeroizing;

use crate::error::Error;

/// The DER encoding of the P-256 curve OID (1.2.840.10045.3.1.7), as a
/// token stores it in `CKA_EC_PARAMS`.
const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// The DER encoding of the P-384 curve OID (1.3.132.0.34).
const P384_PARAMS: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

/// A private key in a PKCS#11 token, for [`IotConfigBuilder::pkcs11_key`](super::IotConfigBuilder::pkcs11_key).
///
/// Select the token by label (preferred: slot ids can change when tokens
/// are added or initialised) or by slot id, and the key by label, id, or
/// both. The PIN is zeroized on drop and never appears in `Debug` output,
/// errors or logs.
///
/// # Examples
///
/// ```
/// use aws_refresh_session::strategy::iot::Pkcs11Key;
///
/// let key = Pkcs11Key::new("/usr/lib/softhsm/libsofthsm2.so")
///     .token_label("device")
///     .user_pin("1234")
///     .key_label("device-key");
/// assert!(!format!("{key:?}").contains("1234"));
/// ```
#[derive(Clone)]
pub struct Pkcs11Key {
    module: PathBuf,
    token_label: Option<String>,
    slot_id: Option<u64>,
    pin: Option<Zeroizing<String>>,
    key_label: Option<String>,
    key_id: Option<Vec<u8>>,
}

impl Pkcs11Key {
    /// Starts a key description for the PKCS#11 module (shared library) at
    /// `module`, such as `/usr/lib/softhsm/libsofthsm2.so`.
    pub fn new(module: impl AsRef<Path>) -> Self {
        Pkcs11Key {
            module: module.as_ref().to_owned(),
            token_label: None,
            slot_id: None,
            pin: None,
            key_label: None,
            key_id: None,
        }
    }

    /// Selects the token by its label.
    pub fn token_label(mut self, label: impl Into<String>) -> Self {
        self.token_label = Some(label.into());
        self
    }

    /// Selects the token by slot id.
    pub fn slot_id(mut self, slot_id: u64) -> Self {
        self.slot_id = Some(slot_id);
        self
    }

    /// Sets the user PIN the session logs in with.
    pub fn user_pin(mut self, pin: impl Into<String>) -> Self {
        self.pin = Some(Zeroizing::new(pin.into()));
        self
    }

    /// Selects the private key by its label (`CKA_LABEL`).
    pub fn key_label(mut self, label: impl Into<String>) -> Self {
        self.key_label = Some(label.into());
        self
    }

    /// Selects the private key by its id (`CKA_ID`).
    pub fn key_id(mut self, id: impl Into<Vec<u8>>) -> Self {
        self.key_id = Some(id.into());
        self
    }

    /// Returns the module path.
    pub fn module(&self) -> &Path {
        &self.module
    }

    /// Checks that the description is complete, without opening the module.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.module.as_os_str().is_empty() {
            return Err(Error::validation(
                "pkcs11_module",
                Some(String::new()),
                "`pkcs11_module` is empty; pass the path of the token's PKCS#11 library",
            ));
        }
        match (&self.token_label, self.slot_id) {
            (Some(_), Some(_)) => {
                return Err(Error::configuration(
                    "both a PKCS#11 token label and a slot id are set; set exactly one (the label is more stable)",
                ));
            }
            (None, None) => {
                return Err(Error::configuration(
                    "no PKCS#11 token is selected; set a token label or a slot id",
                ));
            }
            _ => {}
        }
        if self.pin.is_none() {
            return Err(Error::validation(
                "pkcs11_user_pin",
                None,
                "`pkcs11_user_pin` is required to use a private key in the token",
            ));
        }
        if self.key_label.is_none() && self.key_id.is_none() {
            return Err(Error::configuration(
                "no PKCS#11 key is selected; set a key label, a key id, or both",
            ));
        }
        Ok(())
    }

    fn describe_token(&self) -> String {
        match (&self.token_label, self.slot_id) {
            (Some(label), _) => format!("token {label:?}"),
            (None, Some(slot)) => format!("slot {slot}"),
            (None, None) => "no token".to_owned(),
        }
    }

    fn describe_key(&self) -> String {
        match (&self.key_label, &self.key_id) {
            (Some(label), Some(id)) => format!("label {label:?} and id {}", hex::encode(id)),
            (Some(label), None) => format!("label {label:?}"),
            (None, Some(id)) => format!("id {}", hex::encode(id)),
            (None, None) => "no selector".to_owned(),
        }
    }

    fn key_template(&self, class: ObjectClass) -> Vec<Attribute> {
        let mut template = vec![Attribute::Class(class)];
        if let Some(label) = &self.key_label {
            template.push(Attribute::Label(label.as_bytes().to_vec()));
        }
        if let Some(id) = &self.key_id {
            template.push(Attribute::Id(id.clone()));
        }
        template
    }
}

impl fmt::Debug for Pkcs11Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Key")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("slot_id", &self.slot_id)
            .field(
                "user_pin",
                &self.pin.as_ref().map(|_| crate::credentials::REDACTED),
            )
            .field("key_label", &self.key_label)
            .field("key_id", &self.key_id.as_ref().map(hex::encode))
            .finish()
    }
}

/// Opens the token, logs in, finds the key and its public half, and returns
/// a rustls signing key backed by it.
pub(crate) fn open_signing_key(key: &Pkcs11Key) -> Result<Arc<dyn SigningKey>, Error> {
    let context = context(&key.module)?;
    let slot = find_slot(&context, key)?;
    let token = key.describe_token();

    let session = context.open_ro_session(slot).map_err(|error| {
        Error::configuration(format!("opening a session on PKCS#11 {token} failed"))
            .with_source(error)
    })?;
    let pin = key.pin.as_ref().map(|pin| AuthPin::from(pin.as_str()));
    match session.login(UserType::User, pin.as_ref()) {
        // Login state is per application and token: a second source on the
        // same token finds it logged in already.
        Ok(()) | Err(Pkcs11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(Pkcs11Error::Pkcs11(
            RvError::PinIncorrect | RvError::PinLenRange | RvError::PinInvalid,
            _,
        )) => {
            return Err(Error::configuration(format!(
                "the user PIN was rejected by PKCS#11 {token}; check `pkcs11_user_pin`"
            )));
        }
        Err(error) => {
            return Err(
                Error::configuration(format!("logging in to PKCS#11 {token} failed"))
                    .with_source(error),
            );
        }
    }

    let handle = find_one(
        &session,
        &key.key_template(ObjectClass::PRIVATE_KEY),
        key,
        &token,
    )?
    .ok_or_else(|| {
        Error::configuration(format!(
            "PKCS#11 {token} has no private key with {}; check the key label or id",
            key.describe_key()
        ))
    })?;
    let key_type = match attribute(&session, handle, AttributeType::KeyType, &token)? {
        Attribute::KeyType(key_type) => key_type,
        _ => {
            return Err(Error::configuration(format!(
                "PKCS#11 {token} returned no key type for the key"
            )));
        }
    };

    let (kind, spki) = if key_type == KeyType::EC {
        ec_public_key(&session, handle, key, &token)?
    } else if key_type == KeyType::RSA {
        rsa_public_key(&session, handle, &token)?
    } else {
        return Err(Error::configuration(format!(
            "the PKCS#11 key with {} is a {key_type} key; TLS client authentication here supports EC (P-256, P-384) and RSA",
            key.describe_key()
        )));
    };

    Ok(Arc::new(TokenKey {
        inner: Arc::new(TokenKeyInner {
            session: Mutex::new(session),
            pin: key.pin.clone().unwrap_or_default(),
            handle,
            kind,
            spki,
            description: format!("{token}, key {}", key.describe_key()),
        }),
    }))
}

/// Returns the process-wide context for `module`, loading and initialising
/// it on first use.
fn context(module: &Path) -> Result<Pkcs11, Error> {
    static CONTEXTS: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let contexts = CONTEXTS.get_or_init(Default::default);
    let mut contexts = contexts
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(context) = contexts.get(module) {
        return Ok(context.clone());
    }

    let context = Pkcs11::new(module).map_err(|error| {
        Error::configuration(format!(
            "the PKCS#11 module {} failed to load; check the path (SoftHSM2 installs /usr/lib/softhsm/libsofthsm2.so)",
            module.display()
        ))
        .with_source(error)
    })?;
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(Pkcs11Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(error) => {
            return Err(Error::configuration(format!(
                "the PKCS#11 module {} failed to initialise",
                module.display()
            ))
            .with_source(error));
        }
    }

    contexts.insert(module.to_owned(), context.clone());
    Ok(context)
}

fn find_slot(context: &Pkcs11, key: &Pkcs11Key) -> Result<Slot, Error> {
    let slots = context.get_slots_with_token().map_err(|error| {
        Error::configuration(format!(
            "listing the tokens of PKCS#11 module {} failed",
            key.module.display()
        ))
        .with_source(error)
    })?;

    if let Some(slot_id) = key.slot_id {
        return slots.into_iter().find(|slot| slot.id() == slot_id).ok_or_else(|| {
            Error::configuration(format!(
                "PKCS#11 slot {slot_id} has no token; slot ids change when tokens are initialised, so prefer a token label"
            ))
        });
    }

    let expected = key.token_label.as_deref().unwrap_or_default();
    let mut labels = Vec::new();
    for slot in slots {
        let Ok(info) = context.get_token_info(slot) else {
            continue;
        };
        // Token labels are padded with spaces to 32 bytes.
        let label = info.label().trim_end().to_owned();
        if label == expected {
            return Ok(slot);
        }
        labels.push(label);
    }
    Err(Error::configuration(format!(
        "no PKCS#11 token is labelled {expected:?} in module {}; the tokens found are {labels:?}",
        key.module.display()
    )))
}

fn find_one(
    session: &Session,
    template: &[Attribute],
    key: &Pkcs11Key,
    token: &str,
) -> Result<Option<ObjectHandle>, Error> {
    let found = session.find_objects(template).map_err(|error| {
        Error::configuration(format!("searching PKCS#11 {token} for the key failed"))
            .with_source(error)
    })?;
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(Error::configuration(format!(
            "PKCS#11 {token} has {} objects with {}; select the key by label and id",
            found.len(),
            key.describe_key()
        ))),
    }
}

fn attribute(
    session: &Session,
    handle: ObjectHandle,
    kind: AttributeType,
    token: &str,
) -> Result<Attribute, Error> {
    session
        .get_attributes(handle, &[kind])
        .map_err(|error| {
            Error::configuration(format!(
                "reading {kind} of the key in PKCS#11 {token} failed"
            ))
            .with_source(error)
        })?
        .into_iter()
        .next()
        .ok_or_else(|| {
            Error::configuration(format!("PKCS#11 {token} did not return {kind} for the key"))
        })
}

fn ec_public_key(
    session: &Session,
    private: ObjectHandle,
    key: &Pkcs11Key,
    token: &str,
) -> Result<(KeyKind, SubjectPublicKeyInfoDer<'static>), Error> {
    let params = match attribute(session, private, AttributeType::EcParams, token)? {
        Attribute::EcParams(params) => params,
        _ => Vec::new(),
    };
    let (kind, point_len, algorithm) = if params == P256_PARAMS {
        (KeyKind::EcP256, 65, alg_id::ECDSA_P256)
    } else if params == P384_PARAMS {
        (KeyKind::EcP384, 97, alg_id::ECDSA_P384)
    } else {
        return Err(Error::configuration(format!(
            "the PKCS#11 EC key with {} is on a curve other than P-256 or P-384",
            key.describe_key()
        )));
    };

    // The private key object does not carry the point; its public half does.
    let public = find_one(session, &key.key_template(ObjectClass::PUBLIC_KEY), key, token)?.ok_or_else(|| {
        Error::configuration(format!(
            "PKCS#11 {token} has no public key with {}; import or keep the public key next to the private key, \
             so that it can be checked against the certificate",
            key.describe_key()
        ))
    })?;
    let point = match attribute(session, public, AttributeType::EcPoint, token)? {
        Attribute::EcPoint(point) => point,
        _ => Vec::new(),
    };
    let point = unwrap_ec_point(&point, point_len).ok_or_else(|| {
        Error::configuration(format!(
            "the public key in PKCS#11 {token} has a malformed EC point"
        ))
    })?;

    Ok((kind, public_key_to_spki(&algorithm, point)))
}

/// Returns the uncompressed point from `CKA_EC_POINT`, which PKCS#11 v2.40
/// specifies as a DER OCTET STRING (SoftHSM2 follows it) and some tokens
/// return raw.
fn unwrap_ec_point(value: &[u8], point_len: usize) -> Option<&[u8]> {
    if value.len() == point_len && value[0] == 0x04 {
        return Some(value);
    }
    let content = match value {
        [0x04, len, rest @ ..] if usize::from(*len) == rest.len() && *len < 0x80 => rest,
        [0x04, 0x81, len, rest @ ..] if usize::from(*len) == rest.len() => rest,
        _ => return None,
    };
    (content.len() == point_len && content[0] == 0x04).then_some(content)
}

fn rsa_public_key(
    session: &Session,
    private: ObjectHandle,
    token: &str,
) -> Result<(KeyKind, SubjectPublicKeyInfoDer<'static>), Error> {
    // PKCS#11 stores the modulus and public exponent on RSA private keys.
    let modulus = match attribute(session, private, AttributeType::Modulus, token)? {
        Attribute::Modulus(modulus) => modulus,
        _ => Vec::new(),
    };
    let exponent = match attribute(session, private, AttributeType::PublicExponent, token)? {
        Attribute::PublicExponent(exponent) => exponent,
        _ => Vec::new(),
    };
    if modulus.is_empty() || exponent.is_empty() {
        return Err(Error::configuration(format!(
            "the RSA key in PKCS#11 {token} does not expose its modulus and exponent"
        )));
    }

    let rsa_public_key = der::sequence(&[der::integer(&modulus), der::integer(&exponent)].concat());
    Ok((
        KeyKind::Rsa,
        public_key_to_spki(&alg_id::RSA_ENCRYPTION, rsa_public_key),
    ))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyKind {
    EcP256,
    EcP384,
    Rsa,
}

/// A rustls signing key whose private half stays in the token.
#[derive(Debug)]
struct TokenKey {
    inner: Arc<TokenKeyInner>,
}

struct TokenKeyInner {
    session: Mutex<Session>,
    /// Kept to log in again if the token logs the session out.
    pin: Zeroizing<String>,
    handle: ObjectHandle,
    kind: KeyKind,
    spki: SubjectPublicKeyInfoDer<'static>,
    description: String,
}

impl fmt::Debug for TokenKeyInner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKey")
            .field("key", &self.description)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl SigningKey for TokenKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        let supported: &[SignatureScheme] = match self.inner.kind {
            KeyKind::EcP256 => &[SignatureScheme::ECDSA_NISTP256_SHA256],
            KeyKind::EcP384 => &[SignatureScheme::ECDSA_NISTP384_SHA384],
            KeyKind::Rsa => &[
                SignatureScheme::RSA_PSS_SHA256,
                SignatureScheme::RSA_PSS_SHA384,
                SignatureScheme::RSA_PSS_SHA512,
            ],
        };
        let scheme = supported
            .iter()
            .copied()
            .find(|scheme| offered.contains(scheme))?;
        Some(Box::new(TokenSigner {
            inner: Arc::clone(&self.inner),
            scheme,
        }))
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        Some(self.inner.spki.clone())
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        match self.inner.kind {
            KeyKind::EcP256 | KeyKind::EcP384 => SignatureAlgorithm::ECDSA,
            KeyKind::Rsa => SignatureAlgorithm::RSA,
        }
    }
}

#[derive(Debug)]
struct TokenSigner {
    inner: Arc<TokenKeyInner>,
    scheme: SignatureScheme,
}

impl TokenSigner {
    fn sign_digest(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        let (digest, hash, mgf) = match self.scheme {
            SignatureScheme::ECDSA_NISTP256_SHA256 | SignatureScheme::RSA_PSS_SHA256 => (
                sha2::Sha256::digest(message).to_vec(),
                MechanismType::SHA256,
                PkcsMgfType::MGF1_SHA256,
            ),
            SignatureScheme::ECDSA_NISTP384_SHA384 | SignatureScheme::RSA_PSS_SHA384 => (
                sha2::Sha384::digest(message).to_vec(),
                MechanismType::SHA384,
                PkcsMgfType::MGF1_SHA384,
            ),
            SignatureScheme::RSA_PSS_SHA512 => (
                sha2::Sha512::digest(message).to_vec(),
                MechanismType::SHA512,
                PkcsMgfType::MGF1_SHA512,
            ),
            other => {
                return Err(rustls::Error::General(format!(
                    "PKCS#11 key cannot sign with {other:?}"
                )));
            }
        };

        let mechanism = match self.inner.kind {
            KeyKind::EcP256 | KeyKind::EcP384 => Mechanism::Ecdsa,
            KeyKind::Rsa => {
                let salt_len = Ulong::try_from(digest.len()).map_err(|_| {
                    rustls::Error::General("PSS salt length does not fit".to_owned())
                })?;
                // TLS requires the PSS salt to be as long as the digest.
                Mechanism::RsaPkcsPss(PkcsPssParams {
                    hash_alg: hash,
                    mgf,
                    s_len: salt_len,
                })
            }
        };

        let signature = {
            let session = self.inner.session.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match session.sign(&mechanism, self.inner.handle, &digest) {
                // NOTE: no test drives a token into logging the session out,
                // so this recovery path is unexercised.
                Err(Pkcs11Error::Pkcs11(RvError::UserNotLoggedIn, _)) => {
                    tracing::warn!(key = %self.inner.description, "PKCS#11 session was logged out; logging in again");
                    let pin = AuthPin::from(self.inner.pin.as_str());
                    session
                        .login(UserType::User, Some(&pin))
                        .and_then(|()| session.sign(&mechanism, self.inner.handle, &digest))
                }
                other => other,
            }
        }
        .map_err(|error| {
            tracing::error!(key = %self.inner.description, error = %error, "PKCS#11 signing failed");
            rustls::Error::General(format!("PKCS#11 C_Sign failed: {error}"))
        })?;

        match self.inner.kind {
            KeyKind::EcP256 | KeyKind::EcP384 => {
                der::ecdsa_signature(&signature).ok_or_else(|| {
                    rustls::Error::General(
                        "PKCS#11 returned a malformed ECDSA signature".to_owned(),
                    )
                })
            }
            KeyKind::Rsa => Ok(signature),
        }
    }
}

impl Signer for TokenSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        // `C_Sign` blocks; on a multi-thread runtime let tokio move other
        // tasks off this worker while a slow hardware token works.
        let on_multi_thread = tokio::runtime::Handle::try_current().is_ok_and(|handle| {
            handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
        });
        if on_multi_thread {
            tokio::task::block_in_place(|| self.sign_digest(message))
        } else {
            self.sign_digest(message)
        }
    }

    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }
}

/// The few DER encodings the token's outputs need.
mod der {
    /// Encodes a definite length.
    fn length(len: usize) -> Vec<u8> {
        if len < 0x80 {
            return vec![len as u8];
        }
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|byte| *byte == 0)
            .collect();
        let mut encoded = vec![0x80 | bytes.len() as u8];
        encoded.extend(bytes);
        encoded
    }

    /// Encodes an unsigned big-endian integer as a DER INTEGER.
    pub(super) fn integer(unsigned: &[u8]) -> Vec<u8> {
        let trimmed: &[u8] = match unsigned.iter().position(|byte| *byte != 0) {
            Some(first) => &unsigned[first..],
            None => &[0],
        };
        let mut content = Vec::with_capacity(trimmed.len() + 1);
        if trimmed[0] & 0x80 != 0 {
            content.push(0);
        }
        content.extend_from_slice(trimmed);

        let mut encoded = vec![0x02];
        encoded.extend(length(content.len()));
        encoded.extend(content);
        encoded
    }

    pub(super) fn sequence(content: &[u8]) -> Vec<u8> {
        let mut encoded = vec![0x30];
        encoded.extend(length(content.len()));
        encoded.extend_from_slice(content);
        encoded
    }

    /// Converts PKCS#11's raw `r || s` into a DER `ECDSA-Sig-Value`.
    pub(super) fn ecdsa_signature(raw: &[u8]) -> Option<Vec<u8>> {
        if raw.is_empty() || !raw.len().is_multiple_of(2) {
            return None;
        }
        let (r, s) = raw.split_at(raw.len() / 2);
        Some(sequence(&[integer(r), integer(s)].concat()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_integer_adds_sign_byte() {
        assert_eq!(der::integer(&[0x00, 0x7f]), vec![0x02, 0x01, 0x7f]);
        assert_eq!(der::integer(&[0x80]), vec![0x02, 0x02, 0x00, 0x80]);
        assert_eq!(der::integer(&[0x00, 0x00]), vec![0x02, 0x01, 0x00]);
    }

    #[test]
    fn ecdsa_signature_is_der_sequence() {
        let raw = [[0x01u8; 32], [0xffu8; 32]].concat();

        let encoded = der::ecdsa_signature(&raw).unwrap();

        assert_eq!(&encoded[..4], &[0x30, 0x45, 0x02, 0x20]);
        assert_eq!(&encoded[36..39], &[0x02, 0x21, 0x00]);
        assert_eq!(encoded.len(), 0x47);
    }

    #[test]
    fn long_lengths_use_long_form() {
        let content = vec![0u8; 300];

        let encoded = der::sequence(&content);

        assert_eq!(&encoded[..4], &[0x30, 0x82, 0x01, 0x2c]);
    }

    #[test]
    fn ec_point_is_unwrapped_from_octet_string() {
        let point = [vec![0x04], vec![0xaa; 64]].concat();
        let wrapped = [vec![0x04, 0x41], point.clone()].concat();

        assert_eq!(unwrap_ec_point(&wrapped, 65), Some(point.as_slice()));
        assert_eq!(unwrap_ec_point(&point, 65), Some(point.as_slice()));
        assert_eq!(unwrap_ec_point(&[0x04, 0x02, 0x04, 0x01], 65), None);
    }

    #[test]
    fn debug_hides_pin() {
        let key = Pkcs11Key::new("/lib/module.so")
            .token_label("device")
            .user_pin("987654")
            .key_label("k");

        let printed = format!("{key:?}");

        assert!(!printed.contains("987654"), "{printed}");
        assert!(printed.contains("** redacted **"), "{printed}");
    }

    #[test]
    fn incomplete_descriptions_are_rejected() {
        let base = Pkcs11Key::new("/lib/module.so");

        assert!(
            base.clone()
                .user_pin("1")
                .key_label("k")
                .validate()
                .unwrap_err()
                .is_configuration()
        );
        assert!(
            base.clone()
                .token_label("t")
                .slot_id(1)
                .user_pin("1")
                .key_label("k")
                .validate()
                .unwrap_err()
                .is_configuration()
        );
        assert_eq!(
            base.clone()
                .token_label("t")
                .key_label("k")
                .validate()
                .unwrap_err()
                .parameter(),
            Some("pkcs11_user_pin")
        );
        assert!(
            base.clone()
                .token_label("t")
                .user_pin("1")
                .validate()
                .unwrap_err()
                .is_configuration()
        );
        assert!(
            base.token_label("t")
                .user_pin("1")
                .key_id(vec![1])
                .validate()
                .is_ok()
        );
    }
}
