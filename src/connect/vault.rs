//! The credentials Steward holds for drills and management (an identity's client secret or
//! private key, RFC 7592 registration access tokens, a Keycloak admin client's secret).
//!
//! Kept where the signing key is kept: the OS keychain (service `steward`, account
//! `secret <database> <subject> <kind>`) where the store asks for it and one answers,
//! otherwise a 0600 file in a 0700 directory beside the database (`<db>.secrets/`). The
//! database holds only a fingerprint and where the value is; values are zeroized in memory
//! and never printed through `Debug`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use zeroize::Zeroizing;

use crate::evidence::key::{KeyStore, KEYCHAIN_SERVICE};
use crate::inventory::text_enum;
use crate::{Error, Result};

text_enum! {
    /// What a held credential is.
    SecretKind {
        ClientSecret => "client_secret",
        PrivateKey => "private_key",
        RegistrationToken => "registration_token",
        AdminSecret => "admin_secret",
    }
}

/// Where a held credential is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "store", content = "at", rename_all = "snake_case")]
pub enum Place {
    /// The keychain account (service `steward`).
    Keychain(String),
    /// The file.
    File(String),
}

impl Place {
    /// `keychain` or `file`, and the account or path.
    pub fn parts(&self) -> (&'static str, &str) {
        match self {
            Place::Keychain(a) => ("keychain", a),
            Place::File(p) => ("file", p),
        }
    }

    pub fn from_parts(store: &str, at: &str) -> Result<Place> {
        match store {
            "keychain" => Ok(Place::Keychain(at.to_string())),
            "file" => Ok(Place::File(at.to_string())),
            other => Err(Error::Internal(format!(
                "a held credential is kept in '{other}'"
            ))),
        }
    }
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Keychain(a) => {
                write!(f, "OS keychain (service {KEYCHAIN_SERVICE}, account '{a}')")
            }
            Place::File(p) => write!(f, "file {p} (mode 0600)"),
        }
    }
}

/// A secret value, zeroized when dropped; `Debug` never shows it.
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Secret {
        Secret(Zeroizing::new(bytes))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The value as text (client secrets, tokens, PEM).
    pub fn text(&self) -> Result<&str> {
        std::str::from_utf8(&self.0)
            .map_err(|_| Error::invalid("credential", "a held credential is not text"))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// The held credentials of one database.
pub struct Vault {
    db: PathBuf,
    store: KeyStore,
}

/// A safe file name for a subject (`identity:12` → `identity-12`).
fn file_part(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

impl Vault {
    /// The vault beside the database at `db` (a team database: its team directory).
    pub fn new(db: &Path, store: KeyStore) -> Vault {
        Vault {
            db: db.to_path_buf(),
            store,
        }
    }

    /// The directory of file-kept credentials.
    pub fn dir(&self) -> PathBuf {
        let mut name = self
            .db
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        name.push(".secrets");
        self.db.with_file_name(name)
    }

    fn account(&self, subject: &str, kind: SecretKind) -> String {
        let db = std::fs::canonicalize(&self.db).unwrap_or_else(|_| self.db.clone());
        format!("secret {} {subject} {kind}", db.display())
    }

    fn file(&self, subject: &str, kind: SecretKind) -> PathBuf {
        self.dir().join(format!("{}.{kind}", file_part(subject)))
    }

    /// Keeps `value`; returns where. A keychain that is asked for and cannot be used is an
    /// error, never a quiet file in its place.
    pub fn put(&self, subject: &str, kind: SecretKind, value: &Secret) -> Result<Place> {
        if self.store == KeyStore::Keychain {
            let account = self.account(subject, kind);
            return match keychain_put(&account, value.bytes()) {
                Ok(()) => {
                    let _ = std::fs::remove_file(self.file(subject, kind));
                    Ok(Place::Keychain(account))
                }
                Err(why) => Err(crate::evidence::key::keychain_unavailable(
                    "the credential",
                    &why,
                )),
            };
        }
        let dir = self.dir();
        private_dir(&dir)?;
        let path = self.file(subject, kind);
        let tmp = path.with_extension("partial");
        let _ = std::fs::remove_file(&tmp);
        crate::inventory::fingerprint::write_private(&tmp, value.bytes())
            .map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        Ok(Place::File(path.display().to_string()))
    }

    /// The value kept at `place`.
    pub fn get(&self, place: &Place) -> Result<Secret> {
        match place {
            Place::Keychain(account) => keyring::Entry::new(KEYCHAIN_SERVICE, account)
                .and_then(|e| e.get_secret())
                .map(Secret::new)
                .map_err(|e| Error::Unavailable(format!("keychain entry '{account}': {e}"))),
            Place::File(path) => {
                match crate::inventory::fingerprint::read_private(Path::new(path))? {
                    Some(bytes) => Ok(Secret(bytes)),
                    None => Err(Error::NotFound(format!(
                        "{path}: the held credential is gone"
                    ))),
                }
            }
        }
    }

    /// Removes the value kept at `place` (a file is overwritten first).
    pub fn remove(&self, place: &Place) -> Result<()> {
        match place {
            Place::Keychain(account) => keyring::Entry::new(KEYCHAIN_SERVICE, account)
                .and_then(|e| e.delete_credential())
                .map_err(|e| Error::Unavailable(format!("keychain entry '{account}': {e}"))),
            Place::File(path) => {
                let path = Path::new(path);
                if let Ok(m) = std::fs::metadata(path) {
                    let _ = std::fs::write(path, vec![0u8; m.len() as usize]);
                }
                match std::fs::remove_file(path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path, e)),
                    _ => Ok(()),
                }
            }
        }
    }
}

fn private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(dir, e))?;
    }
    Ok(())
}

/// Sets the keychain entry and reads it back; the error says why no keychain could be used.
fn keychain_put(account: &str, value: &[u8]) -> std::result::Result<(), String> {
    let entry = keyring::Entry::new(KEYCHAIN_SERVICE, account).map_err(|e| e.to_string())?;
    entry.set_secret(value).map_err(|e| e.to_string())?;
    match entry.get_secret().map(Zeroizing::new) {
        Ok(back) if back.as_slice() == value => Ok(()),
        Ok(_) => Err("the keychain gave back another value".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_vault_keeps_values_private_and_removes_them() {
        let dir = tempfile::tempdir().expect("valid");
        let v = Vault::new(&dir.path().join("s.db"), KeyStore::File);
        let place = v
            .put(
                "identity:7",
                SecretKind::ClientSecret,
                &Secret::new(b"s3cret".to_vec()),
            )
            .expect("valid");
        let Place::File(path) = &place else {
            panic!("{place:?}")
        };
        assert!(
            path.ends_with("s.db.secrets/identity-7.client_secret"),
            "{path}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).expect("valid").permissions().mode() & 0o777;
            assert_eq!(mode(Path::new(path)), 0o600);
            assert_eq!(mode(&v.dir()), 0o700);
        }
        assert_eq!(v.get(&place).expect("valid").bytes(), b"s3cret");
        assert_eq!(
            format!("{:?}", v.get(&place).expect("valid")),
            "Secret(6 bytes)"
        );
        v.remove(&place).expect("valid");
        assert!(!Path::new(path).exists());
    }
}
