//! A real Active Directory domain controller (Samba 4 AD DC) for the one AD test, run only
//! with `SEALROOM_TEST_AD=1` (it takes about 13 s and 370 MB, and AD's ports are fixed: 389
//! and 636 on 127.0.0.1 must be free). Provisioned in a temporary directory with a
//! certificate from a CA made here; people alice (in group staff) and carol (disabled).
//! Stopped when dropped.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use tempfile::TempDir;

use super::TestCa;

pub const USERS: &str = "CN=Users,DC=sealroom,DC=test";
pub const ADMIN_DN: &str = "CN=Administrator,CN=Users,DC=sealroom,DC=test";
pub const ADMIN_PASSWORD: &str = "Adm1n!Passw0rd-sealroom";
pub const LDAPS_URL: &str = "ldaps://127.0.0.1:636";
pub const LDAP_URL: &str = "ldap://127.0.0.1:389";

/// A person's password in the test domain (AD's complexity rules: three kinds of
/// characters, and not the account's name).
pub fn password_of(name: &str) -> String {
    let word = match name {
        "alice" => "Wonderland",
        _ => "Christmas",
    };
    format!("{word}-AD-Passw0rd!")
}

/// Whether the AD test is asked for (`SEALROOM_TEST_AD=1`); says why not otherwise.
pub fn wanted() -> bool {
    if std::env::var("SEALROOM_TEST_AD").as_deref() == Ok("1") {
        assert!(
            Path::new("/usr/sbin/samba").is_file(),
            "SEALROOM_TEST_AD=1 but Samba is missing: apt-get install samba-ad-dc samba-ad-provision"
        );
        return true;
    }
    eprintln!("SKIPPED: the Active Directory test runs only with SEALROOM_TEST_AD=1 (Samba AD DC)");
    false
}

/// A running Samba AD DC, stopped when dropped.
pub struct SambaAd {
    child: Child,
    pub ca: TestCa,
    _dir: TempDir,
}

impl Drop for SambaAd {
    fn drop(&mut self) {
        // SIGTERM lets samba stop the children it forked; SIGKILL if it does not.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(args: &[&str]) {
    let output = Command::new("samba-tool")
        .args(args)
        .output()
        .expect("samba-tool runs");
    assert!(
        output.status.success(),
        "samba-tool {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

impl SambaAd {
    /// Provisions the domain, adds the people, starts samba and waits until LDAPS answers.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let ca = TestCa::new(dir.path(), "ad");
        let (cert, key) = ca.server_cert();
        std::fs::write(dir.path().join("cert.pem"), cert).unwrap();
        std::fs::write(dir.path().join("key.pem"), key).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let private = std::fs::Permissions::from_mode(0o600);
        std::fs::set_permissions(dir.path().join("key.pem"), private).unwrap();
        let started = Instant::now();
        let target = format!("--targetdir={d}");
        let admin = format!("--adminpass={ADMIN_PASSWORD}");
        let options = [
            format!("--option=log file = {d}/log.%m"),
            format!("--option=tls keyfile = {d}/key.pem"),
            format!("--option=tls certfile = {d}/cert.pem"),
            format!("--option=tls cafile = {}", ca.cert_file.display()),
        ];
        let mut provision = vec![
            "domain",
            "provision",
            &target,
            "--realm=SEALROOM.TEST",
            "--domain=SEALROOM",
            "--server-role=dc",
            "--dns-backend=NONE",
            "--use-rfc2307",
            &admin,
            "--host-ip=127.0.0.1",
            "--option=interfaces = lo",
            "--option=bind interfaces only = yes",
        ];
        provision.extend(options.iter().map(String::as_str));
        run(&provision);
        let conf = format!("{d}/etc/smb.conf");
        for name in ["alice", "carol"] {
            run(&["user", "create", name, &password_of(name), "-s", &conf]);
        }
        run(&["user", "disable", "carol", "-s", &conf]);
        run(&["group", "add", "staff", "-s", &conf]);
        run(&["group", "addmembers", "staff", "alice", "-s", &conf]);
        let child = Command::new("samba")
            .args(["-i", "-s", &conf])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("samba runs");
        let ad = Self {
            child,
            ca,
            _dir: dir,
        };
        ad.wait_until_answering().await;
        eprintln!("Samba AD DC ready after {:?}", started.elapsed());
        ad
    }

    /// Until a search over LDAPS as the administrator succeeds.
    async fn wait_until_answering(&self) {
        let started = Instant::now();
        loop {
            let searched = Command::new("ldapsearch")
                .args([
                    "-x",
                    "-H",
                    LDAPS_URL,
                    "-D",
                    ADMIN_DN,
                    "-w",
                    ADMIN_PASSWORD,
                    "-b",
                    USERS,
                ])
                .args(["-s", "base"])
                .env("LDAPTLS_CACERT", &self.ca.cert_file)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("ldapsearch runs");
            if searched.success() {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "samba did not answer over LDAPS"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}
