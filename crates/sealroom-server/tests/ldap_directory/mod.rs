//! A real OpenLDAP `slapd` for the LDAP sign-in tests: its own instance in a temporary
//! directory, on free loopback ports, serving `ldap://` (StartTLS) and `ldaps://` under a
//! certificate from a CA made here, seeded with people and groups (`seed.ldif`; the
//! `memberof` overlay fills their `memberOf`). Stopped when dropped.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use tempfile::TempDir;

pub const SLAPD: &str = "/usr/sbin/slapd";
pub const SUFFIX: &str = "dc=sealroom,dc=test";
const ROOT_DN: &str = "cn=admin,dc=sealroom,dc=test";
const ROOT_PASSWORD: &str = "root-password-of-the-test-directory";
/// The service account the server searches as (a plain entry, not the root DN).
pub const SERVICE_DN: &str = "cn=sealroom,ou=services,dc=sealroom,dc=test";
pub const SERVICE_PASSWORD: &str = "service-password";
/// Every seeded person's password is `{uid}-directory-password`.
pub fn password_of(uid: &str) -> String {
    format!("{uid}-directory-password")
}

/// Whether the LDAP tests can run here: slapd is installed. Without it they are skipped,
/// loudly, unless `CI` is set, where a missing slapd fails them.
pub fn slapd_available() -> bool {
    if Path::new(SLAPD).is_file() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{SLAPD} is missing and CI is set: run scripts/setup (slapd, ldap-utils)"
    );
    eprintln!("SKIPPED: {SLAPD} is missing (run scripts/setup); these LDAP tests did not run");
    false
}

/// A CA: its certificate file, and what signs with it.
pub struct TestCa {
    pub cert_file: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    /// A new CA, its certificate written to `dir/{name}-ca.pem`.
    pub fn new(dir: &Path, name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} test CA"));
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let cert_file = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&cert_file, cert.pem()).unwrap();
        Self {
            cert_file,
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for 127.0.0.1 and localhost: (certificate PEM, key PEM).
    pub fn server_cert(&self) -> (String, String) {
        let params = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// A running slapd, stopped (and its files removed) when dropped.
pub struct Slapd {
    child: Child,
    /// `ldap://127.0.0.1:port` (StartTLS is offered there).
    pub ldap_url: String,
    /// `ldaps://127.0.0.1:port`.
    pub ldaps_url: String,
    /// The CA its certificate is signed by.
    pub ca: TestCa,
    /// Another CA, which signed nothing here: trusting it alone must fail.
    pub other_ca: TestCa,
    dir: TempDir,
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port free a moment ago.
pub fn free_port() -> u16 {
    port_of(&bind_free())
}

fn bind_free() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

fn port_of(listener: &TcpListener) -> u16 {
    listener.local_addr().unwrap().port()
}

impl Slapd {
    /// Starts slapd, waits until it answers, and seeds it.
    pub async fn start() -> Self {
        let started = Instant::now();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("db")).unwrap();
        let ca = TestCa::new(dir.path(), "directory");
        let other_ca = TestCa::new(dir.path(), "other");
        let (cert, key) = ca.server_cert();
        std::fs::write(dir.path().join("cert.pem"), cert).unwrap();
        std::fs::write(dir.path().join("key.pem"), key).unwrap();
        let conf = dir.path().join("slapd.conf");
        std::fs::write(&conf, slapd_conf(dir.path())).unwrap();
        // Both bound at once, so the two are different.
        let (a, b) = (bind_free(), bind_free());
        let (ldap_port, ldaps_port) = (port_of(&a), port_of(&b));
        drop((a, b));
        let ldap_url = format!("ldap://127.0.0.1:{ldap_port}");
        let ldaps_url = format!("ldaps://127.0.0.1:{ldaps_port}");
        // `-d 0`: stay in the foreground, so this process owns it and can stop it.
        let child = Command::new(SLAPD)
            .arg("-f")
            .arg(&conf)
            .arg("-h")
            .arg(format!("{ldap_url}/ {ldaps_url}/"))
            .args(["-d", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("slapd runs");
        let slapd = Self {
            child,
            ldap_url,
            ldaps_url,
            ca,
            other_ca,
            dir,
        };
        slapd.wait_until_listening(ldap_port).await;
        slapd.wait_until_listening(ldaps_port).await;
        slapd.seed();
        eprintln!("slapd ready and seeded after {:?}", started.elapsed());
        slapd
    }

    async fn wait_until_listening(&self, port: u16) {
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "slapd did not listen on {port}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Adds the people and groups with `ldapadd` as the root DN (groups after their members,
    /// so the memberof overlay sees them).
    fn seed(&self) {
        let ldif = self.dir.path().join("seed.ldif");
        std::fs::write(&ldif, seed_ldif()).unwrap();
        let output = Command::new("ldapadd")
            .args([
                "-x",
                "-H",
                &self.ldap_url,
                "-D",
                ROOT_DN,
                "-w",
                ROOT_PASSWORD,
                "-f",
            ])
            .arg(&ldif)
            .output()
            .expect("ldapadd runs (ldap-utils: scripts/setup)");
        assert!(
            output.status.success(),
            "seeding failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

fn slapd_conf(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
TLSCertificateFile {d}/cert.pem
TLSCertificateKeyFile {d}/key.pem
database mdb
maxsize 104857600
suffix \"{SUFFIX}\"
rootdn \"{ROOT_DN}\"
rootpw {ROOT_PASSWORD}
directory {d}/db
overlay memberof
access to attrs=userPassword by self write by anonymous auth by * none
access to * by users read by * none
"
    )
}

fn person(uid: &str, ou: &str) -> String {
    format!(
        "dn: uid={uid},ou={ou},{SUFFIX}
objectClass: inetOrgPerson
uid: {uid}
cn: {uid}
sn: Test
mail: {uid}@sealroom.test
userPassword: {}
",
        password_of(uid)
    )
}

fn group(cn: &str, members: &[&str]) -> String {
    let members: String = members
        .iter()
        .map(|uid| format!("member: uid={uid},ou=people,{SUFFIX}\n"))
        .collect();
    format!("dn: cn={cn},ou=groups,{SUFFIX}\nobjectClass: groupOfNames\ncn: {cn}\n{members}")
}

/// alice (admins, staff), bob (staff), mallory (no group), and two people named `twin`.
fn seed_ldif() -> String {
    let mut entries = vec![
        format!(
            "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Sealroom test\ndc: sealroom\n"
        ),
        format!("dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people\n"),
        format!("dn: ou=contractors,{SUFFIX}\nobjectClass: organizationalUnit\nou: contractors\n"),
        format!("dn: ou=groups,{SUFFIX}\nobjectClass: organizationalUnit\nou: groups\n"),
        format!("dn: ou=services,{SUFFIX}\nobjectClass: organizationalUnit\nou: services\n"),
        format!(
            "dn: {SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: sealroom\nuserPassword: {SERVICE_PASSWORD}\n"
        ),
    ];
    for uid in ["alice", "bob", "mallory", "twin"] {
        entries.push(person(uid, "people"));
    }
    entries.push(person("twin", "contractors"));
    entries.push(group("admins", &["alice"]));
    entries.push(group("staff", &["alice", "bob"]));
    entries.join("\n")
}

pub mod samba_ad;
