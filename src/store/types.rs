//! How the domain's closed string enums are stored: as TEXT on both engines, spelled by their
//! `as_str` and read back by their `FromStr`. The domain types carry no database derives; the
//! mapping lives here, at the store's edge.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, Type};

use crate::connect::vault::SecretKind;
use crate::connect::ServerKind;
use crate::inventory::{CredentialKind, Environment, Kind, OwnerRole, ScopeSet, Status};
use crate::policy::Severity;
use crate::review::{CampaignState, DeadlineDefault, ItemState, ReviewDecision, Tier};
use crate::usage::tokens::TokenEventKind;

macro_rules! stored_as_text {
    ($($t:ty),+ $(,)?) => {$(
        impl<DB: Database> Type<DB> for $t
        where
            str: Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: Database> Encode<'q, DB> for $t
        where
            &'q str: Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as Database>::ArgumentBuffer<'q>,
            ) -> Result<IsNull, BoxDynError> {
                <&'q str as Encode<'q, DB>>::encode(self.as_str(), buf)
            }
        }

        impl<'r, DB: Database> Decode<'r, DB> for $t
        where
            &'r str: Decode<'r, DB>,
        {
            fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                let text = <&'r str as Decode<'r, DB>>::decode(value)?;
                Ok(text.parse::<$t>()?)
            }
        }

        impl rusqlite::types::FromSql for $t {
            fn column_result(
                v: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                v.as_str()?
                    .parse()
                    .map_err(|e: String| rusqlite::types::FromSqlError::Other(e.into()))
            }
        }
    )+};
}

stored_as_text!(
    Kind,
    Environment,
    Status,
    ScopeSet,
    CredentialKind,
    OwnerRole,
    Severity,
    Tier,
    ReviewDecision,
    ItemState,
    DeadlineDefault,
    CampaignState,
    TokenEventKind,
    ServerKind,
    SecretKind,
);

/// Reads a domain type from a row by its column names, on either engine: the domain type
/// carries no database derive, and its columns are named once, here.
macro_rules! from_row {
    ($t:path { $($f:ident: $ty:ty),+ $(,)? }) => {
        impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for $t
        where
            &'r str: sqlx::ColumnIndex<R>,
            $($ty: Decode<'r, R::Database> + Type<R::Database>,)+
        {
            fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
                Ok(Self {
                    $($f: row.try_get(stringify!($f))?,)+
                })
            }
        }
    };
}

from_row!(crate::inventory::IdentityRecord {
    id: i64,
    client_id: String,
    environment: Environment,
    name: String,
    kind: Kind,
    vendor: Option<String>,
    status: Status,
    business_owner_id: Option<i64>,
    technical_owner_id: Option<i64>,
    purpose: Option<String>,
    use_case: Option<String>,
    auth_method: Option<String>,
    access_token_lifetime_s: Option<i64>,
    refresh_token_lifetime_s: Option<i64>,
    jwks_uri: Option<String>,
    revocation_endpoint: Option<String>,
    last_used_at: Option<String>,
    last_reviewed_at: Option<String>,
    next_review_due: Option<String>,
    created_at: String,
    updated_at: String,
    ai_agent: bool,
    reauth_reason: Option<String>,
    reauth_since: Option<String>,
    version: i64,
    reviewed_elsewhere_at: Option<String>,
});

from_row!(crate::inventory::Credential {
    id: i64,
    kind: CredentialKind,
    fingerprint: String,
    issued_at: Option<String>,
    expires_at: Option<String>,
    last_used_at: Option<String>,
    rotated_at: Option<String>,
    revoked_at: Option<String>,
    reused_by: i64,
});

from_row!(crate::policy::rules::CredentialFacts {
    identity_id: i64,
    kind: CredentialKind,
    fingerprint: String,
    issued_at: Option<String>,
    rotated_at: Option<String>,
    expires_at: Option<String>,
});

from_row!(crate::policy::Mapping {
    rule: String,
    framework: String,
    control: String,
});

from_row!(crate::policy::PosturePoint {
    day: String,
    least_privilege_pct: f64,
    open_findings: i64,
    identities: i64,
});
