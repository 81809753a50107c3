//! The installation's Ed25519 signing key, for evidence packages and audit checkpoints.
//!
//! Kept in the OS keychain (Secret Service, macOS Keychain, Windows Credential Manager, via
//! the `keyring` crate) where one answers and the store asks for it, otherwise in a 0600 file
//! beside the database (`<db>.signing.key`). Either way it is the 32-byte seed, zeroized in
//! memory and never written to a package, the database or a log. A key already in a file
//! stays there. Its public half is published as a PEM SubjectPublicKeyInfo (for `openssl
//! pkeyutl -verify -rawin`) and as a minisign public key.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use blake2::Blake2b512;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{Error, Result};

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the 32-byte key follows.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Where the signing key of the database at `db` lives.
pub fn key_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".signing.key");
    db.with_file_name(name)
}

/// Where a store would like its signing key kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStore {
    /// A 0600 file beside the database.
    File,
    /// The OS keychain when one answers, else the file.
    Keychain,
}

/// The keychain service name entries are filed under.
pub const KEYCHAIN_SERVICE: &str = "steward";

/// Where a signing key is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    File(PathBuf),
    /// The keychain entry (service [`KEYCHAIN_SERVICE`], this account).
    Keychain(String),
}

/// The signing key.
pub struct Signer25519 {
    key: SigningKey,
    place: Place,
}

/// The keychain account of the database at `db`: one key per database.
fn account(db: &Path) -> String {
    let db = std::fs::canonicalize(db).unwrap_or_else(|_| db.to_path_buf());
    format!("signing-key {}", db.display())
}

fn seed_of(bytes: &[u8], place: &str) -> Result<Zeroizing<[u8; 32]>> {
    let seed: [u8; 32] = bytes
        .try_into()
        .map_err(|_| Error::invalid(place, "a signing key is 32 bytes"))?;
    Ok(Zeroizing::new(seed))
}

fn new_seed() -> Zeroizing<[u8; 32]> {
    let mut seed = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(seed.as_mut());
    seed
}

/// The key in the keychain entry, created there on first use; the inner `Err` says why no
/// keychain could be used (none answers, it is locked, ...).
fn from_keychain(account: &str) -> Result<std::result::Result<Zeroizing<[u8; 32]>, String>> {
    let entry = match keyring::Entry::new(KEYCHAIN_SERVICE, account) {
        Ok(e) => e,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let place = format!("keychain entry '{account}'");
    match entry.get_secret() {
        Ok(bytes) => seed_of(&Zeroizing::new(bytes), &place).map(Ok),
        Err(keyring::Error::NoEntry) => {
            let seed = new_seed();
            if let Err(e) = entry.set_secret(seed.as_ref()) {
                return Ok(Err(e.to_string()));
            }
            // Read back: a keychain that accepts but does not keep must not be trusted.
            match entry.get_secret().map(Zeroizing::new) {
                Ok(back) if back.as_slice() == seed.as_ref() => Ok(Ok(seed)),
                Ok(_) => Err(Error::Unavailable(format!("{place}: read back differs"))),
                Err(e) => Ok(Err(e.to_string())),
            }
        }
        Err(e) => Ok(Err(e.to_string())),
    }
}

fn from_file(path: &Path) -> Result<Zeroizing<[u8; 32]>> {
    match crate::inventory::fingerprint::read_private(path)? {
        Some(bytes) => seed_of(&bytes, &path.display().to_string()),
        None => {
            let seed = new_seed();
            if crate::inventory::fingerprint::create_key_file(path, seed.as_ref())
                .map_err(|e| Error::io(path, e))?
            {
                Ok(seed)
            } else {
                // Another process made it first: theirs is the key.
                from_file(path)
            }
        }
    }
}

/// Why no key was made: the keychain was asked for and cannot be used.
pub fn keychain_unavailable(what: &str, why: &str) -> Error {
    Error::Unavailable(format!(
        "the OS keychain cannot keep {what} ({why}); nothing was made or signed. Unlock the \
         keychain or start its Secret Service and try again, or keep it in a 0600 file beside \
         the database instead: `steward evidence key use-file` (in the window: Export \
         evidence, Keep the key in a file), or STEWARD_KEY_STORE=file"
    ))
}

impl Signer25519 {
    /// The signing key of the database at `db`, created on first use where `store` says (a
    /// key already in the file beside the database stays there). A keychain that is asked
    /// for and cannot be used (locked, no service) is an error: a new key is never made
    /// elsewhere in its place without the user's word ([`Signer25519::create_in_file`]).
    pub fn load_or_create(db: &Path, store: KeyStore) -> Result<Signer25519> {
        let path = key_path(db);
        if store == KeyStore::Keychain && !path.exists() {
            let account = account(db);
            return match from_keychain(&account)? {
                Ok(seed) => Ok(Signer25519 {
                    key: SigningKey::from_bytes(&seed),
                    place: Place::Keychain(account),
                }),
                Err(why) => Err(keychain_unavailable("this database's signing key", &why)),
            };
        }
        let seed = from_file(&path)?;
        Ok(Signer25519 {
            key: SigningKey::from_bytes(&seed),
            place: Place::File(path),
        })
    }

    /// Makes the signing key of the database at `db` in a 0600 file beside it, as the user
    /// chose when the keychain cannot be used; the file is used from then on. Refused when
    /// the file is there already.
    pub fn create_in_file(db: &Path) -> Result<Signer25519> {
        let path = key_path(db);
        if path.exists() {
            return Err(Error::Conflict(format!(
                "{}: the signing key is in this file already",
                path.display()
            )));
        }
        Signer25519::load_or_create(db, KeyStore::File)
    }

    /// Where the key is kept.
    pub fn place(&self) -> &Place {
        &self.place
    }

    /// Destroys the key where it is kept (a file is overwritten with zeros, then removed),
    /// so the next use creates a new one.
    pub fn retire(self) -> Result<()> {
        match &self.place {
            Place::File(path) => shred(path),
            Place::Keychain(account) => keyring::Entry::new(KEYCHAIN_SERVICE, account)
                .and_then(|e| e.delete_credential())
                .map_err(|e| Error::Unavailable(format!("keychain entry '{account}': {e}"))),
        }
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Raw 64-byte Ed25519 signature.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    /// `ed25519:<hex SHA-256 of the raw public key>`.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.verifying_key())
    }

    /// A minisign signature file for `data` (prehashed, BLAKE2b-512).
    pub fn minisign(&self, data: &[u8], trusted_comment: &str) -> String {
        let keynum = keynum(&self.verifying_key());
        let signature = self.sign(&Blake2b512::digest(data));
        let mut sig_line = Vec::with_capacity(74);
        sig_line.extend_from_slice(b"ED");
        sig_line.extend_from_slice(&keynum);
        sig_line.extend_from_slice(&signature);
        let mut global = signature.to_vec();
        global.extend_from_slice(trusted_comment.as_bytes());
        format!(
            "untrusted comment: signature from steward key {}\n{}\ntrusted comment: {trusted_comment}\n{}\n",
            keynum_hex(&keynum),
            STANDARD.encode(sig_line),
            STANDARD.encode(self.sign(&global)),
        )
    }
}

/// Destroys the key file at `path` (overwritten with zeros, then removed).
fn shred(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(m) => {
            std::fs::write(path, vec![0u8; m.len() as usize]).map_err(|e| Error::io(path, e))?;
            std::fs::remove_file(path).map_err(|e| Error::io(path, e))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// `ed25519:<hex SHA-256 of the raw public key>`.
pub fn fingerprint(key: &VerifyingKey) -> String {
    format!("ed25519:{}", hex::encode(Sha256::digest(key.as_bytes())))
}

/// PEM SubjectPublicKeyInfo of a public key.
pub fn public_pem(key: &VerifyingKey) -> String {
    let mut der = SPKI_PREFIX.to_vec();
    der.extend_from_slice(key.as_bytes());
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(der)
    )
}

/// Reads a PEM SubjectPublicKeyInfo written by [`public_pem`].
pub fn parse_public_pem(pem: &str) -> Option<VerifyingKey> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD.decode(body.trim()).ok()?;
    let raw: [u8; 32] = der.strip_prefix(&SPKI_PREFIX)?.try_into().ok()?;
    VerifyingKey::from_bytes(&raw).ok()
}

/// The minisign key id: the first 8 bytes of the SHA-256 of the public key.
fn keynum(key: &VerifyingKey) -> [u8; 8] {
    let d = Sha256::digest(key.as_bytes());
    let mut n = [0u8; 8];
    n.copy_from_slice(&d[..8]);
    n
}

fn keynum_hex(keynum: &[u8; 8]) -> String {
    format!("{:016X}", u64::from_le_bytes(*keynum))
}

/// A minisign public key file.
pub fn minisign_public(key: &VerifyingKey) -> String {
    let keynum = keynum(key);
    let mut raw = b"Ed".to_vec();
    raw.extend_from_slice(&keynum);
    raw.extend_from_slice(key.as_bytes());
    format!(
        "untrusted comment: minisign public key {}\n{}\n",
        keynum_hex(&keynum),
        STANDARD.encode(raw)
    )
}

/// Checks a raw Ed25519 signature.
pub fn verify(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    let Ok(bytes) = <[u8; 64]>::try_from(signature) else {
        return false;
    };
    key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&bytes))
        .is_ok()
}
