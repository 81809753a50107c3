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
