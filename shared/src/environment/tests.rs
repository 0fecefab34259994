//! Environments, their URLs, and the allowlist against a table of hostile and valid sources.

use uuid::Uuid;

use super::*;
use crate::event::{InstanceRef, SourceError};
use SourceError::*;

const GUID: &str = "428a4575-2c04-4400-89a3-1aaadd2579cd";

fn prod() -> Allowlist {
    Allowlist::new(AltinnEnvironment::Prod, None)
}
fn prod_pinned() -> Allowlist {
    Allowlist::new(AltinnEnvironment::Prod, Some("ttd".into()))
}
fn tt02() -> Allowlist {
    Allowlist::new(AltinnEnvironment::Tt02, None)
}
fn at23() -> Allowlist {
    Allowlist::new(AltinnEnvironment::parse("at23", None, None).unwrap(), None)
}
fn yt01() -> Allowlist {
    Allowlist::new(AltinnEnvironment::parse("YT01", None, None).unwrap(), None)
}
fn local() -> Allowlist {
    let env = AltinnEnvironment::parse(
        "local",
        Some("http://127.0.0.1:5101"),
        Some("http://127.0.0.1:5102/apps"),
    )
    .unwrap();
    Allowlist::new(env, Some("ttd".into()))
}
fn local_default_port() -> Allowlist {
    let env = AltinnEnvironment::parse(
        "local",
        Some("http://local.altinn.cloud/"),
        Some("http://local.altinn.cloud/"),
    )
    .unwrap();
    Allowlist::new(env, None)
}

fn instance(org: &str, app: &str, party_id: u64) -> InstanceRef {
    InstanceRef {
        org: org.into(),
        app: app.into(),
        party_id,
        instance_guid: Uuid::parse_str(GUID).unwrap(),
    }
}

/// One row: which allowlist, the source text, and the exact expected result.
type Row = (
    fn() -> Allowlist,
    &'static str,
    Result<(&'static str, &'static str, u64), SourceError>,
);

#[rustfmt::skip]
fn rows() -> Vec<Row> {
    vec![
        // ---- accepted, one per environment ----
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Ok(("ttd", "apps-test", 50660768))),
        (prod_pinned, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Ok(("ttd", "apps-test", 50660768))),
        (prod, "https://skd.apps.altinn.no/skd/a/instances/1/428a4575-2c04-4400-89a3-1aaadd2579cd", Ok(("skd", "a", 1))),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/18446744073709551615/428a4575-2c04-4400-89a3-1aaadd2579cd", Ok(("ttd", "apps-test", u64::MAX))),
        (tt02, "https://ttd.apps.tt02.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Ok(("ttd", "apps-test", 50660768))),
        (at23, "https://ttd.apps.at23.altinn.cloud/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Ok(("ttd", "apps-test", 50660768))),
        (yt01, "https://digdir.apps.yt01.altinn.cloud/digdir/demoapp/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Ok(("digdir", "demoapp", 50660768))),
        (local, "http://127.0.0.1:5102/apps/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Ok(("ttd", "apps-test", 50660768))),
        (local_default_port, "http://local.altinn.cloud/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Ok(("ttd", "apps-test", 50660768))),

        // ---- not a URL at all / characters outside RFC 3986 ----
        (prod, "", Err(NotAUrl)),
        (prod, "ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotAUrl)),
        (prod, "/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotAUrl)),
        (prod, " https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotAUrl)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd ", Err(NotAUrl)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd\n", Err(NotAUrl)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-\ttest/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotAUrl)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test\\instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotAUrl)),
        (prod, "https://ttd.apps.altinn.no\\@evil.com/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotAUrl)),
        (prod, "https:\\\\ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotAUrl)),
        (prod, "https:/ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotAUrl)),
        (prod, "https:ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotAUrl)),
        (prod, "https://ttd.apps.altınn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotAUrl)),
        (prod, "https://ttd.apps.altinn.no/ttd/äpps/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotAUrl)),
        (prod, "1https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotAUrl)),

        // ---- scheme ----
        (prod, "http://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotHttps)),
        (prod, "HTTPS://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotHttps)),
        (prod, "ftp://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotHttps)),
        (tt02, "http://ttd.apps.tt02.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(NotHttps)),
        (local, "https://127.0.0.1:5102/apps/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),

        // ---- user information ----
        (prod, "https://ttd.apps.altinn.no@evil.com/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(UserInfo)),
        (prod, "https://x@ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(UserInfo)),
        (prod, "https://user:pass@ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(UserInfo)),
        (prod, "https://@ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(UserInfo)),
        (local, "http://x@127.0.0.1:5102/apps/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(UserInfo)),

        // ---- ports ----
        (prod, "https://ttd.apps.altinn.no:443/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(Port)),
        (prod, "https://ttd.apps.altinn.no:8443/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(Port)),
        (prod, "https://ttd.apps.altinn.no:/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(Port)),
        (tt02, "https://ttd.apps.tt02.altinn.no:443/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(Port)),
        (local, "http://127.0.0.1:5101/apps/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (local, "http://127.0.0.1/apps/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (local_default_port, "http://local.altinn.cloud:80/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),

        // ---- hosts: other envs, look-alikes, IP literals ----
        (prod, "https://ttd.apps.tt02.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (tt02, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (at23, "https://ttd.apps.at22.altinn.cloud/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (at23, "https://ttd.apps.at23.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (prod, "https://ttd.apps.altinn.no.evil.com/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (prod, "https://ttd.apps.altinn.noevil.com/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (prod, "https://ttd.apps.altinn.no./ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (prod, "https://evil.com/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (prod, "https://apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (prod, "https://.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (prod, "https://platform.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (prod, "https://www.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (prod, "https://x.ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (prod, "https://t.apps.altinn.no/t/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (prod, "https://tt-d.apps.altinn.no/tt-d/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (prod, "https://TTD.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (prod, "https://ttd.APPS.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (prod, "https://ttd.apps.Altinn.No/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (prod, "https://%74td.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (prod, "https://xn--ttd-0na.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (prod, "https://169.254.169.254/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (prod, "https://127.0.0.1/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (prod, "https://2130706433/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (prod, "https://0x7f000001/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (prod, "https://0177.0.0.1/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (prod, "https://[::1]/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (prod, "https://[::ffff:169.254.169.254]:443/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (prod, "https:///ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (local, "http://localhost:5102/apps/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),
        (local, "http://127.0.0.1:5102.evil.com/apps/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(HostNotAllowed)),

        // ---- query and fragment ----
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd?x=1", Err(QueryOrFragment)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd?", Err(QueryOrFragment)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd#f", Err(QueryOrFragment)),
        (prod, "https://ttd.apps.altinn.no?/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(QueryOrFragment)),
        (local, "http://127.0.0.1:5102/apps/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd#x", Err(QueryOrFragment)),

        // ---- path shape ----
        (prod, "https://ttd.apps.altinn.no", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd/", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd/extra", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd/data/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no//ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd//apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances//50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/Instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instance/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/../apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/other/../apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/./apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/./428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd/..", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd/%2e%2e", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd%2Fapps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test%2finstances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps%2Dtest/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/%74td/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test;x=1/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/TTD/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/Apps-Test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps_test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
        (local, "http://127.0.0.1:5102/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
        (local, "http://127.0.0.1:5102/apps//ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),

        // ---- party id ----
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/abc/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/-50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/+50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/050660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/0/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/18446744073709551616/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/99999999999999999999999/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/5066.0768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/0x1f/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),

        // ---- instance guid ----
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428A4575-2C04-4400-89A3-1AAADD2579CD", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a45752c04440089a31aaadd2579cd", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/{428a4575-2c04-4400-89a3-1aaadd2579cd}", Err(NotAUrl)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579c", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cdd", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cg", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c0-44400-89a3-1aaadd2579cd", Err(BadPath)),
        (prod, "https://ttd.apps.altinn.no/ttd/apps-test/instances/50660768/urn:uuid:428a4575-2c04-4400-89a3-1aaadd2579cd", Err(BadPath)),

        // ---- org in host vs path, pinned org ----
        (prod, "https://evilttd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(OrgMismatch)),
        (prod, "https://skd.apps.altinn.no/ttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(OrgMismatch)),
        (tt02, "https://ttd.apps.tt02.altinn.no/skd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(OrgMismatch)),
        (prod_pinned, "https://skd.apps.altinn.no/skd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(ForeignOrg)),
        (prod_pinned, "https://evilttd.apps.altinn.no/evilttd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(ForeignOrg)),
        (local, "http://127.0.0.1:5102/apps/skd/apps-test/instances/50660768/428a4575-2c04-4400-89a3-1aaadd2579cd", Err(ForeignOrg)),
    ]
}

#[test]
fn hostile_and_valid_sources_table() {
    let rows = rows();
    assert!(rows.len() > 100, "the table should stay large");
    for (index, (allowlist, source, expected)) in rows.into_iter().enumerate() {
        let allowlist = allowlist();
        let expected = expected.map(|(org, app, party_id)| instance(org, app, party_id));
        assert_eq!(
            allowlist.parse_app_source(source),
            expected,
            "row {index} in {}: {source:?}",
            allowlist.environment().name()
        );
    }
}

#[test]
fn every_accepted_source_is_permitted_as_a_request_target() {
    for (allowlist, source, expected) in rows() {
        if expected.is_ok() {
            let allowlist = allowlist();
            let url = Url::parse(source).unwrap();
            assert!(allowlist.permits(&url), "{source}");
        }
    }
}

#[test]
fn unknown_internal_environment_accepts_nothing() {
    let allowlist = Allowlist::new(AltinnEnvironment::Internal("at99".into()), None);
    let source = format!("https://ttd.apps.at99.altinn.cloud/ttd/a/instances/1/{GUID}");
    assert_eq!(allowlist.parse_app_source(&source), Err(HostNotAllowed));
    let platform = allowlist.environment().platform_url();
    assert_eq!(platform.as_str(), UNROUTABLE_URL);
    assert!(!allowlist.permits(&platform));
    assert!(!allowlist.permits(&Url::parse("https://platform.at99.altinn.cloud/").unwrap()));
}

#[test]
fn parses_every_environment_name() {
    let cases = [
        ("prod", AltinnEnvironment::Prod),
        ("PROD", AltinnEnvironment::Prod),
        (" tt02 ", AltinnEnvironment::Tt02),
        ("at21", AltinnEnvironment::Internal("at21".into())),
        ("at22", AltinnEnvironment::Internal("at22".into())),
        ("At23", AltinnEnvironment::Internal("at23".into())),
        ("at24", AltinnEnvironment::Internal("at24".into())),
        ("yt01", AltinnEnvironment::Internal("yt01".into())),
    ];
    for (name, expected) in cases {
        // Non-local environments ignore the local URLs, even malformed ones.
        assert_eq!(
            AltinnEnvironment::parse(name, Some("::"), None).unwrap(),
            expected
        );
    }
}

#[test]
fn rejects_unknown_environment_names() {
    for name in ["production", "at25", "at2", "tt03", "altinn.no", "local2"] {
        let err = AltinnEnvironment::parse(name, None, None).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    variable: "ALTINN_ENV",
                    ..
                }
            ),
            "{name}"
        );
    }
    assert_eq!(
        AltinnEnvironment::parse("  ", None, None),
        Err(ConfigError::Missing {
            variable: "ALTINN_ENV"
        })
    );
}

#[test]
fn local_requires_both_urls_and_normalises_trailing_slash() {
    assert_eq!(
        AltinnEnvironment::parse("local", None, Some("http://127.0.0.1:1/")),
        Err(ConfigError::Missing {
            variable: "ALTINN_PLATFORM_URL"
        })
    );
    assert_eq!(
        AltinnEnvironment::parse("local", Some("http://127.0.0.1:1/"), Some("")),
        Err(ConfigError::Missing {
            variable: "ALTINN_APPS_URL"
        })
    );
    let env = AltinnEnvironment::parse(
        "LOCAL",
        Some("http://127.0.0.1:5101"),
        Some("https://apps.example.test/base"),
    )
    .unwrap();
    assert_eq!(env.name(), "local");
    assert_eq!(env.platform_url().as_str(), "http://127.0.0.1:5101/");
    assert_eq!(
        env.apps_url("ttd").as_str(),
        "https://apps.example.test/base/"
    );
    assert_eq!(env.default_maskinporten_issuer(), None);
}

#[test]
fn local_urls_must_be_clean_http_urls() {
    let bad = [
        "127.0.0.1:5101",
        "ftp://127.0.0.1/",
        "file:///tmp/x",
        "http://user:pw@127.0.0.1/",
        "http://127.0.0.1/?x=1",
        "http://127.0.0.1/#f",
        "not a url",
    ];
    for value in bad {
        let err =
            AltinnEnvironment::parse("local", Some(value), Some("http://127.0.0.1/")).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    variable: "ALTINN_PLATFORM_URL",
                    ..
                }
            ),
            "{value}: {err:?}"
        );
        assert!(!err.to_string().contains("pw"), "{err}");
    }
}

#[test]
fn base_urls_per_environment() {
    let cases = [
        (
            "prod",
            "https://platform.altinn.no/",
            "https://ttd.apps.altinn.no/",
            "https://maskinporten.no/",
        ),
        (
            "tt02",
            "https://platform.tt02.altinn.no/",
            "https://ttd.apps.tt02.altinn.no/",
            "https://test.maskinporten.no/",
        ),
        (
            "at21",
            "https://platform.at21.altinn.cloud/",
            "https://ttd.apps.at21.altinn.cloud/",
            "https://test.maskinporten.no/",
        ),
        (
            "at24",
            "https://platform.at24.altinn.cloud/",
            "https://ttd.apps.at24.altinn.cloud/",
            "https://test.maskinporten.no/",
        ),
        (
            "yt01",
            "https://platform.yt01.altinn.cloud/",
            "https://ttd.apps.yt01.altinn.cloud/",
            "https://test.maskinporten.no/",
        ),
    ];
    for (name, platform, apps, issuer) in cases {
        let env = AltinnEnvironment::parse(name, None, None).unwrap();
        assert_eq!(env.name(), name);
        assert_eq!(env.platform_url().as_str(), platform);
        assert_eq!(env.apps_url("ttd").as_str(), apps);
        assert_eq!(env.default_maskinporten_issuer().unwrap().as_str(), issuer);
    }
}

#[test]
fn apps_url_refuses_to_build_hosts_from_invalid_org_codes() {
    let env = AltinnEnvironment::Prod;
    for org in ["evil.com/", "TTD", "ttd.x", "", "a", "evil.com#"] {
        let url = env.apps_url(org);
        assert_eq!(url.as_str(), UNROUTABLE_URL, "{org}");
        assert!(!prod().permits(&url));
    }
}

/// One row: which allowlist, the URL, and whether it may carry our token.
type PermitsRow = (fn() -> Allowlist, &'static str, bool);

#[test]
fn permits_table() {
    #[rustfmt::skip]
    let cases: [PermitsRow; 34] = [
        (prod, "https://platform.altinn.no/storage/api/v1/instances/1/x", true),
        (prod, "https://platform.altinn.no/storage/api/v1/instances?org=ttd&size=100", true),
        (prod, "https://PLATFORM.altinn.no/", true),
        (prod, "https://platform.altinn.no:443/", true),
        (prod, "https://ttd.apps.altinn.no/ttd/app/instances/1/x/complete", true),
        (prod, "https://skd.apps.altinn.no/", true),
        (prod_pinned, "https://ttd.apps.altinn.no/", true),
        (prod_pinned, "https://skd.apps.altinn.no/", false),
        (prod_pinned, "https://platform.altinn.no/", true),
        (prod, "http://platform.altinn.no/", false),
        (prod, "https://platform.altinn.no:8443/", false),
        (prod, "https://x@platform.altinn.no/", false),
        (prod, "https://x:y@platform.altinn.no/", false),
        (prod, "https://platform.altinn.no./", false),
        (prod, "https://platform.altinn.no.evil.com/", false),
        (prod, "https://platform.tt02.altinn.no/", false),
        (prod, "https://www.altinn.no/", false),
        (prod, "https://altinn.no/", false),
        (prod, "https://apps.altinn.no/", false),
        (prod, "https://a.b.apps.altinn.no/", false),
        (prod, "https://169.254.169.254/", false),
        (prod, "https://[::1]/", false),
        (prod, "https://maskinporten.no/token", false),
        (tt02, "https://platform.tt02.altinn.no/authentication/api/v1/exchange/maskinporten", true),
        (tt02, "https://ttd.apps.tt02.altinn.no/", true),
        (tt02, "https://platform.altinn.no/", false),
        (tt02, "https://ttd.apps.altinn.no/", false),
        (at23, "https://platform.at23.altinn.cloud/", true),
        (at23, "https://ttd.apps.at23.altinn.cloud/", true),
        (at23, "https://platform.at22.altinn.cloud/", false),
        (local, "http://127.0.0.1:5101/storage/api/v1/instances", true),
        (local, "http://127.0.0.1:5102/apps/ttd/app/instances/1/x", true),
        (local, "http://127.0.0.1:5102/ttd/app/instances/1/x", false),
        (local, "http://127.0.0.1:5103/", false),
    ];
    for (allowlist, url, expected) in cases {
        let url = Url::parse(url).unwrap();
        assert_eq!(allowlist().permits(&url), expected, "{url}");
    }
    let local = local();
    for url in [
        "https://127.0.0.1:5101/",
        "http://localhost:5101/",
        "http://u@127.0.0.1:5101/",
        "https://platform.altinn.no/",
    ] {
        assert!(!local.permits(&Url::parse(url).unwrap()), "{url}");
    }
}

#[test]
fn party_id_and_guid_helpers() {
    assert_eq!(parse_party_id("50660768"), Some(50660768));
    assert_eq!(parse_party_id("18446744073709551615"), Some(u64::MAX));
    for bad in [
        "",
        "0",
        "00",
        "01",
        "-1",
        "+1",
        "1 ",
        "١",
        "18446744073709551616",
    ] {
        assert_eq!(parse_party_id(bad), None, "{bad}");
    }
    assert!(parse_instance_guid(GUID).is_some());
    for bad in [
        "",
        "428A4575-2c04-4400-89a3-1aaadd2579cd",
        "428a4575x2c04-4400-89a3-1aaadd2579cd",
    ] {
        assert_eq!(parse_instance_guid(bad), None, "{bad}");
    }
}

#[test]
fn org_and_app_rules() {
    for ok in ["ttd", "digdir", "ab", "a1", "abcdefghijklmnopqrst"] {
        assert!(is_valid_org_code(ok), "{ok}");
    }
    for bad in [
        "",
        "a",
        "TTD",
        "t-d",
        "t.d",
        "t_d",
        "abcdefghijklmnopqrstu",
        "tæd",
    ] {
        assert!(!is_valid_org_code(bad), "{bad}");
    }
    for ok in ["a", "apps-test", "frontend-test-v2", &"a".repeat(100)] {
        assert!(is_valid_app_name(ok), "{ok}");
    }
    for bad in [
        "",
        "Apps",
        "apps_test",
        "apps.test",
        "apps test",
        &"a".repeat(101),
    ] {
        assert!(!is_valid_app_name(bad), "{bad}");
    }
}
