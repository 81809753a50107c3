//! Fingerprints stand in for secrets: Steward never stores a raw secret or token.
//!
//! Secrets are fingerprinted with HMAC-SHA-256 under a per-installation key, so a copied
//! database cannot be used to test guesses offline, while the same secret used in two
//! environments still yields the same fingerprint. Public keys get RFC 7638 thumbprints.

use std::io::Write;
use std::path::Path;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{Error, Result};

const KEY_LEN: usize = 32;

/// A raw secret or token on its way to its fingerprint: zeroized when dropped, and never
/// shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct RawSecret(Zeroizing<String>);

impl RawSecret {
    pub fn new(s: impl Into<String>) -> RawSecret {
        RawSecret(Zeroizing::new(s.into()))
    }
}

impl From<String> for RawSecret {
    fn from(s: String) -> RawSecret {
        RawSecret::new(s)
    }
}

impl std::ops::Deref for RawSecret {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for RawSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RawSecret({} bytes)", self.0.len())
    }
}

/// The per-installation HMAC key; zeroized when dropped.
pub struct FingerprintKey(Zeroizing<[u8; KEY_LEN]>);

impl FingerprintKey {
    /// Reads the key at `path`, or creates one (mode 0600) when none exists yet.
    pub fn load_or_create(path: &Path) -> Result<FingerprintKey> {
        match read_private(path)? {
            Some(bytes) => {
                let raw: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
                    Error::invalid(
                        path.display().to_string(),
                        format!(
                            "a fingerprint key is {KEY_LEN} bytes, found {}",
                            bytes.len()
                        ),
                    )
                })?;
                Ok(FingerprintKey(Zeroizing::new(raw)))
            }
            None => {
                let mut raw = Zeroizing::new([0u8; KEY_LEN]);
                rand::rngs::OsRng.fill_bytes(raw.as_mut());
                if create_key_file(path, raw.as_ref()).map_err(|e| Error::io(path, e))? {
                    Ok(FingerprintKey(raw))
                } else {
                    // Another process made it first: theirs is the key.
                    FingerprintKey::load_or_create(path)
                }
            }
        }
    }

    /// Reads the key at `path`, if one is there.
    pub fn load(path: &Path) -> Result<Option<FingerprintKey>> {
        match std::fs::metadata(path) {
            Ok(_) => FingerprintKey::load_or_create(path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// The key's check value: its fingerprint of a fixed text, which tells whether two keys
    /// are one without showing either.
    pub fn check(&self) -> String {
        self.secret("steward fingerprint key check")
    }

    /// A fixed key for tests and benchmarks.
    pub fn from_bytes(raw: [u8; KEY_LEN]) -> FingerprintKey {
        FingerprintKey(Zeroizing::new(raw))
    }

    /// `hmac-sha256:<hex>` of a secret.
    pub fn secret(&self, secret: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.as_ref()).expect("HMAC takes any key");
        mac.update(secret.as_bytes());
        format!("hmac-sha256:{}", hex::encode(mac.finalize().into_bytes()))
    }
}

/// Writes a new file readable by its owner only; never overwrites one.
/// Reads a key or secret file (`None` when there is none), refusing one that is not the
/// user's own regular file with mode 0600: a key others can read, or that someone else
/// placed, is not this user's key. The bytes are zeroized when dropped.
pub(crate) fn read_private(path: &Path) -> Result<Option<Zeroizing<Vec<u8>>>> {
    use std::io::Read;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    let mut file = match options.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let me = rustix::process::geteuid().as_raw();
        let mode = meta.mode() & 0o777;
        if !meta.is_file() || meta.uid() != me || mode & 0o077 != 0 {
            return Err(Error::Forbidden(format!(
                "{}: a key file must be a regular file of this user's, mode 0600; this one is \
                 owned by uid {} with mode {mode:03o}. Check who changed it, then \
                 `chmod 600` it (or restore it from a backup)",
                path.display(),
                meta.uid()
            )));
        }
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(meta.len() as usize));
    Read::by_ref(&mut file)
        .take(1 << 20)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    Ok(Some(bytes))
}

/// Makes a key file (0600) holding `bytes`, unless one is there already: written whole to a
/// file of its own, then linked into place, so another process making the same key at the
/// same moment finds either nothing or a whole key. False when one was there (read it).
pub(crate) fn create_key_file(path: &Path, bytes: &[u8]) -> std::io::Result<bool> {
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(".new-{}", std::process::id()));
    let tmp = std::path::PathBuf::from(name);
    let _ = std::fs::remove_file(&tmp);
    write_private(&tmp, bytes)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// RFC 7638 JWK thumbprint (`jwk-sha256:<hex>`) over the key's required members, or `None`
/// for a key type the RFC does not define.
pub fn jwk_thumbprint(jwk: &serde_json::Value) -> Option<String> {
    let members: &[&str] = match jwk.get("kty")?.as_str()? {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        "oct" => &["k", "kty"],
        _ => return None,
    };
    let mut canonical = serde_json::Map::new();
    for m in members {
        canonical.insert(
            (*m).to_string(),
            serde_json::Value::String(jwk.get(*m)?.as_str()?.into()),
        );
    }
    // Members are inserted in lexicographic order, as RFC 7638 requires.
    let json = serde_json::to_string(&canonical).ok()?;
    Some(format!(
        "jwk-sha256:{}",
        hex::encode(Sha256::digest(json.as_bytes()))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_secret_same_fingerprint_other_key_other_fingerprint() {
        let a = FingerprintKey::from_bytes([1; KEY_LEN]);
        let b = FingerprintKey::from_bytes([2; KEY_LEN]);
        assert_eq!(a.secret("s3cret"), a.secret("s3cret"));
        assert_ne!(
            a.secret("s3cret"),
            b.secret("s3cret"),
            "the key must change the fingerprint"
        );
        assert!(!a.secret("s3cret").contains("s3cret"));
    }

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 section 3.1: the thumbprint of this key is
        // NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs (base64url of the SHA-256).
        let jwk = serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        let expected = "3736cbb1787cb8309c77ee8c3705c5e16ffb9e859715901f1e4c59b11182f57b";
        assert_eq!(
            jwk_thumbprint(&jwk).as_deref(),
            Some(&*format!("jwk-sha256:{expected}"))
        );
    }
}
