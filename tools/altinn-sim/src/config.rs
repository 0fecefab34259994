//! Simulator configuration: who the registered Maskinporten client is, which org we play, and how
//! fast time runs for event retries.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// The public key the test client signs its grants with (matches `testdata/client-key.*`).
pub const TEST_CLIENT_PUBLIC_KEY_PEM: &str = include_str!("../testdata/client-key.pub.pem");
/// The PKCS#8 private key of the test client; tests and the demo sign grants with it.
pub const TEST_CLIENT_PRIVATE_KEY_PEM: &str = include_str!("../testdata/client-key.pkcs8.pem");
/// The self-signed certificate of the test client key, for the `x5c` grant header.
pub const TEST_CLIENT_CERT_PEM: &str = include_str!("../testdata/client-cert.pem");
/// The key the simulator signs the Maskinporten and Altinn tokens it issues with.
pub(crate) const ISSUER_PRIVATE_KEY_PEM: &str = include_str!("../testdata/issuer-key.pkcs8.pem");
/// The public key of the simulator's token-signing key: tests verify issued tokens with it.
pub const ISSUER_PUBLIC_KEY_PEM: &str = include_str!("../testdata/issuer-key.pub.pem");

/// Everything that shapes the simulator's behaviour. Start from [`SimConfig::default`] and
/// override the fields a test cares about.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Our service-owner org code (the `urn:altinn:org` claim and the default instance owner org).
    pub org: String,
    /// The org number of the Maskinporten client's organisation (`consumer.ID` = `0192:{org_number}`).
    pub org_number: String,
    /// The registered Maskinporten client id (the grant's `iss`).
    pub client_id: String,
    /// The key id registered for the client key (the grant header's `kid`).
    pub client_kid: String,
    /// The client's registered RSA public key (SPKI PEM, `-----BEGIN PUBLIC KEY-----`).
    pub client_public_key_pem: String,
    /// Scopes registered on the client; a grant asking for anything else gets `invalid_scope`.
    /// The default registers every scope set the archive uses: instances read/write (Storage
    /// and App), `altinn:serviceowner` and `altinn:events.subscribe` (Events), and both
    /// Correspondence scopes.
    pub client_scopes: Vec<String>,
    /// Lifetime of exchanged Altinn tokens (Altinn: 30 minutes).
    pub altinn_token_lifetime: Duration,
    /// Lifetime of Maskinporten access tokens (a real TEST token: 120 s).
    pub maskinporten_token_lifetime: Duration,
    /// Multiplies Altinn's event push and validation retry delays (1.0 = real time). The push
    /// schedule spans about 34 h 47 min, so 0.001 runs it in about 2 min and 0.00001 in about 1.3 s.
    pub retry_time_scale: f64,
    /// Per-request timeout of event pushes (Altinn: 45 s).
    pub push_timeout: Duration,
    /// Where to listen; port 0 picks a free port.
    pub bind: SocketAddr,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            org: "ttd".to_owned(),
            org_number: "991825827".to_owned(),
            client_id: "sim-client".to_owned(),
            client_kid: "sim-kid".to_owned(),
            client_public_key_pem: TEST_CLIENT_PUBLIC_KEY_PEM.to_owned(),
            client_scopes: [
                "altinn:serviceowner/instances.read",
                "altinn:serviceowner/instances.write",
                "altinn:serviceowner",
                "altinn:events.subscribe",
                "altinn:correspondence.read",
                "altinn:correspondence.write",
            ]
            .map(str::to_owned)
            .to_vec(),
            altinn_token_lifetime: Duration::from_secs(30 * 60),
            maskinporten_token_lifetime: Duration::from_secs(120),
            retry_time_scale: 1.0,
            push_timeout: Duration::from_secs(45),
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        }
    }
}

impl SimConfig {
    /// Scales one of Altinn's retry delays by [`SimConfig::retry_time_scale`].
    pub fn scaled(&self, delay: Duration) -> Duration {
        let scale = if self.retry_time_scale.is_finite() && self.retry_time_scale >= 0.0 {
            self.retry_time_scale
        } else {
            1.0
        };
        delay.mul_f64(scale)
    }
}
