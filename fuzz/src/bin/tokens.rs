//! Token events as `steward import tokens` reads them: Keycloak's events JSON and the Steward
//! token CSV. Never a panic, never a hang.
fn main() {
    afl::fuzz!(|bytes: &[u8]| {
        let _ = steward::usage::tokens::parse_keycloak(bytes);
        let _ = steward::usage::tokens::parse_csv(bytes);
    });
}
