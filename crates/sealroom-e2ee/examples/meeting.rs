//! A three-person meeting in one process, with nothing but the e2ee core: what `scripts/run`
//! shows until the server exists. The "server" here is just this loop handing bytes around,
//! which is all the real one will be able to do with them too.

use std::time::Duration;

use sealroom_e2ee::{
    Device, DeviceIdentity, GroupSession,
    sframe::{CipherSuite, MediaKeyring},
};

const SUITE: CipherSuite = CipherSuite::AesGcm128Sha256;

struct Participant {
    name: &'static str,
    session: GroupSession,
    keyring: MediaKeyring,
}

impl Participant {
    fn rekey(&mut self, now: Duration) -> anyhow::Result<()> {
        let secret = self.session.sframe_epoch_secret(SUITE)?;
        let own = self.session.own_leaf_index();
        self.keyring
            .install_epoch(now, self.session.epoch(), &secret, own)?;
        Ok(())
    }

    fn show_code(&self) -> anyhow::Result<()> {
        let code = self.session.security_code()?;
        println!(
            "  {:<6} epoch {}  code {}  ({})",
            self.name,
            self.session.epoch(),
            code.digits(),
            code.words().join(" ")
        );
        Ok(())
    }
}

fn main() -> anyhow::Result<()> {
    let devices: Vec<(&'static str, Device)> = ["alice", "bob", "carol"]
        .into_iter()
        .map(|name| Ok((name, Device::new(DeviceIdentity::generate(name)?))))
        .collect::<anyhow::Result<_>>()?;

    println!("alice creates the room and adds bob and carol (one MLS commit):");
    let mut alice_session = devices[0].1.create_group(&[])?;
    let key_packages = devices[1..]
        .iter()
        .map(|(_, d)| d.key_package())
        .collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&[u8]> = key_packages.iter().map(Vec::as_slice).collect();
    let add = alice_session.commit(&refs, &[])?;
    alice_session.merge_pending_commit()?;
    let welcome = add.welcome.expect("adding members yields a Welcome");

    let mut people = vec![Participant {
        name: "alice",
        keyring: MediaKeyring::new(SUITE),
        session: alice_session,
    }];
    for (name, device) in &devices[1..] {
        let session = device.join_group(&welcome)?;
        people.push(Participant {
            name,
            keyring: MediaKeyring::new(SUITE),
            session,
        });
    }
    let mut now = Duration::ZERO;
    for p in &mut people {
        p.rekey(now)?;
        p.show_code()?;
    }
    for m in people[0].session.roster() {
        println!(
            "  roster: leaf {} {:<6} fingerprint {}",
            m.leaf_index, m.credential_name, m.fingerprint
        );
    }

    println!("\nalice sends a 1,200-byte video frame (VP8: 3 clear bytes for the packetiser):");
    let frame: Vec<u8> = (0..1200u32).map(|i| (i % 251) as u8).collect();
    let wire = people[0].keyring.protect(3, &frame)?;
    println!(
        "  on the wire: {} bytes (frame {} + SFrame overhead)",
        wire.len(),
        frame.len()
    );
    for p in &mut people[1..] {
        let got = p.keyring.unprotect(now, &wire)?;
        println!(
            "  {:<6} decrypts it from leaf {}: intact = {}",
            p.name,
            got.sender_index,
            got.payload == frame
        );
    }

    println!("\ncarol leaves (alice commits her removal); the others rekey:");
    let removal = people[0].session.commit(&[], &[2])?;
    people[0].session.merge_pending_commit()?;
    people[1].session.process(&removal.commit)?;
    now += Duration::from_millis(20);
    for p in &mut people[..2] {
        p.rekey(now)?;
        p.show_code()?;
    }

    let wire = people[0].keyring.protect(3, &frame)?;
    let carol = &mut people[2];
    match carol.keyring.unprotect(now, &wire) {
        Ok(_) => anyhow::bail!("carol decrypted a frame sent after she left"),
        Err(e) => println!("  carol cannot decrypt alice's next frame: {e}"),
    }
    let bob = &mut people[1];
    println!(
        "  bob decrypts it: intact = {}",
        bob.keyring.unprotect(now, &wire)?.payload == frame
    );
    Ok(())
}
