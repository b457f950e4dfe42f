//! `sealroom record` through a real server: a recorder joins two native participants sending
//! synthetic media, everyone sees it in the roster and its recording notice, and the owner's
//! key opens a WebM that ffprobe reads as 2 VP8 and 2 Opus streams of the recorded length; a
//! stranger's key does not, and the encrypted file holds none of the media in the clear.
//!
//! Needs ffprobe (Debian's `ffmpeg`, which `scripts/setup` installs).

mod support;

use std::{path::Path, process::Command, time::Duration};

use support::{JoinProcess, SETTLE, TestServer, lines_of, room_link};

/// Seconds the recorder records.
const RECORDED_S: f64 = 8.0;

fn sealroom() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sealroom"))
}

fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
}

/// `sealroom recording keygen`: the public key it prints.
fn keygen(path: &Path) -> String {
    let out = sealroom()
        .args(["recording", "keygen", "--out", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("public key: "))
        .expect("keygen prints the public key")
        .to_owned()
}

fn ffprobe(path: &Path) -> std::process::Output {
    Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,codec_type:format=duration",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!("ffprobe is missing ({e}): run `bash scripts/setup`, which installs ffmpeg")
        })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorder_writes_the_meeting_encrypted_to_its_owner_and_stores_it() {
    // Fail at once, and clearly, without ffprobe.
    let _ = ffprobe(Path::new("/dev/null"));
    let server = TestServer::start().await;
    let link = format!("{}/rec-room#k={}", server.url(), room_link("rec-room"));
    let args = ["--synthetic", "--chat", "--report", "json"];
    let mut alice = JoinProcess::start(&link, "alice", &args);
    let mut bob = JoinProcess::start(&link, "bob", &args);
    alice
        .expect("alice and bob in the group", |l| {
            l.contains(r#""type":"members""#) && l.contains(r#""name":"bob""#)
        })
        .await;

    let keys = tempfile::tempdir().unwrap();
    let owner = keygen(&keys.path().join("owner.key"));
    let _stranger = keygen(&keys.path().join("stranger.key"));
    let out = tempfile::tempdir().unwrap();
    let mut recorder = sealroom()
        .args([
            "record",
            "--owner",
            &owner,
            "--report",
            "json",
            "--duration",
        ])
        .arg(RECORDED_S.to_string())
        .arg("--out")
        .arg(out.path())
        .env("SEALROOM_ROOM_LINK", &link)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = lines_of(recorder.stdout.take().unwrap());
    let mut errors = lines_of(recorder.stderr.take().unwrap());
    let mut next_line = async || match tokio::time::timeout(SETTLE, lines.recv()).await {
        Ok(Some(line)) => json(&line),
        _ => {
            let mut said = Vec::new();
            while let Ok(line) = errors.try_recv() {
                said.push(line);
            }
            panic!("the recorder stopped printing; it said {said:#?}")
        }
    };
    let started = next_line().await;
    assert_eq!(started["type"], "recording_started", "{started}");
    let id = started["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32, "{started}");
    assert!(
        id.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );

    // Both participants see the recorder join the group and its notice.
    for who in [&mut alice, &mut bob] {
        who.expect("the recorder in the roster", |l| {
            l.contains(r#""type":"members""#) && l.contains(r#""name":"Recorder""#)
        })
        .await;
        let notice = json(
            &who.expect("the recording notice", |l| {
                l.contains(r#""type":"recordings""#) && l.contains(&id)
            })
            .await,
        );
        let recording = &notice["recordings"][0];
        assert_eq!(recording["recorder_name"], "Recorder", "{notice}");
        assert_eq!(recording["owners"], started["owners"], "{notice}");
    }

    let written = next_line().await;
    assert_eq!(written["type"], "recording_written", "{written}");
    let status = tokio::task::spawn_blocking(move || recorder.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
    for who in [&mut alice, &mut bob] {
        who.expect("the recording's end", |l| {
            l == r#"{"recordings":[],"type":"recordings"}"#
                || l == r#"{"type":"recordings","recordings":[]}"#
        })
        .await;
    }
    let srr = out.path().join(format!("{id}.srr"));
    assert_eq!(written["path"], srr.to_str().unwrap(), "{written}");
    let names: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, [format!("{id}.srr")], "no temporary file is left");
    let stored = server
        .data
        .path()
        .join("recordings")
        .join(format!("{id}.srr"));
    let stored = std::fs::read(&stored).expect("the recording in the server's store");
    assert_eq!(
        stored,
        std::fs::read(&srr).unwrap(),
        "the store holds what was written"
    );
    let tracks = written["tracks"].as_array().unwrap();
    let mut described: Vec<(String, String)> = tracks
        .iter()
        .map(|t| {
            (
                t["participant"].as_str().unwrap().to_owned(),
                t["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    described.sort();
    assert_eq!(
        described,
        [
            ("alice".into(), "audio".into()),
            ("alice".into(), "video".into()),
            ("bob".into(), "audio".into()),
            ("bob".into(), "video".into())
        ],
        "{written}"
    );
    let recorded_s = written["duration_ms"].as_f64().unwrap() / 1000.0;
    assert!(
        (recorded_s - RECORDED_S).abs() < 1.0,
        "recorded {recorded_s} s: {written}"
    );

    // The owner's key opens it; ffprobe reads 2 VP8 and 2 Opus streams of the recorded length.
    let webm = out.path().join("meeting.webm");
    let decrypted = sealroom()
        .args(["recording", "decrypt", "--key"])
        .arg(keys.path().join("owner.key"))
        .arg("--out")
        .arg(&webm)
        .arg(&srr)
        .output()
        .unwrap();
    assert!(decrypted.status.success(), "{decrypted:?}");
    let probe = ffprobe(&webm);
    assert!(probe.status.success(), "{probe:?}");
    let probed = json(std::str::from_utf8(&probe.stdout).unwrap());
    let mut streams: Vec<(String, String)> = probed["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["codec_type"].as_str().unwrap().to_owned(),
                s["codec_name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    streams.sort();
    assert_eq!(
        streams,
        [
            ("audio".into(), "opus".into()),
            ("audio".into(), "opus".into()),
            ("video".into(), "vp8".into()),
            ("video".into(), "vp8".into())
        ],
        "{probed}"
    );
    let duration: f64 = probed["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (duration - recorded_s).abs() <= 2.5,
        "the WebM lasts {duration} s, the recording {recorded_s} s"
    );

    // A stranger's key does not open it, and leaves no file.
    let refused_out = out.path().join("stranger.webm");
    let refused = sealroom()
        .args(["recording", "decrypt", "--key"])
        .arg(keys.path().join("stranger.key"))
        .arg("--out")
        .arg(&refused_out)
        .arg(&srr)
        .output()
        .unwrap();
    assert!(!refused.status.success(), "{refused:?}");
    assert!(!refused_out.exists());

    // The .srr is SRR1 and holds none of the WebM's bytes in the clear: ffprobe cannot read it,
    // and no 64-byte run of the media (windows across the file) shows in it.
    let sealed = std::fs::read(&srr).unwrap();
    assert_eq!(&sealed[..4], b"SRR1");
    assert!(!ffprobe(&srr).status.success(), "ffprobe reads the .srr");
    let clear = std::fs::read(&webm).unwrap();
    assert!(clear.len() > 500_000, "{} bytes of WebM", clear.len());
    for at in (4_096..clear.len() - 64).step_by(clear.len() / 50) {
        assert!(
            !contains(&sealed, &clear[at..at + 64]),
            "the .srr holds the WebM's bytes at {at} in the clear"
        );
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
}
