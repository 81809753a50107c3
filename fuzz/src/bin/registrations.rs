//! Registrations as `steward import registrations` reads them, the format detected from the
//! content: Steward CSV, RFC 7591 client metadata, a Keycloak realm export. Never a panic,
//! never a hang.
fn main() {
    afl::fuzz!(|bytes: &[u8]| {
        for name in ["clients.csv", "clients.json"] {
            let _ = steward::inventory::import::parse(name, bytes, None);
        }
    });
}
