//! `sealroom join --send-file PATH` and `--receive-files DIR`: files shared end-to-end
//! encrypted, each transfer printed when it is over, for people or as a JSON line.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{
    ReportFormat,
    chat::{clock, emit, in_group, printable},
};
use crate::{
    files::{FileTransferError, mb_per_s, receive_file, send_file},
    session::{BlobAccess, FileEntry, RoomClient, unix_millis},
};

/// One line about a file.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Line {
    /// A file a member shared, and what became of it here.
    File {
        from: String,
        name: String,
        size: u64,
        #[serde(flatten)]
        outcome: Outcome,
    },
    /// A file of ours: its name, or its path if it was not sent.
    FileSent {
        name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        size: Option<u64>,
        #[serde(flatten)]
        outcome: Outcome,
    },
}

/// How a transfer ended.
#[derive(Serialize)]
#[serde(untagged)]
enum Outcome {
    Done {
        /// Where a received file was saved.
        #[serde(skip_serializing_if = "Option::is_none")]
        saved_to: Option<String>,
        mb_per_s: f64,
    },
    Failed {
        error: String,
    },
}

impl Line {
    /// For people: names come from other members, so they are printed harmlessly.
    fn text(&self) -> String {
        let now = clock(unix_millis());
        match self {
            Line::File {
                from,
                name,
                size,
                outcome,
            } => {
                let what = match outcome {
                    Outcome::Done {
                        saved_to, mb_per_s, ..
                    } => format!(
                        "saved to {}, SHA-256 checked ({mb_per_s} MB/s)",
                        printable(saved_to.as_deref().unwrap_or_default())
                    ),
                    Outcome::Failed { error } => format!("not saved: {error}"),
                };
                format!(
                    "[{now}] {} sent {} ({}): {what}",
                    printable(from),
                    printable(name),
                    size_text(*size)
                )
            }
            Line::FileSent {
                name,
                size,
                outcome,
            } => match outcome {
                Outcome::Done { mb_per_s, .. } => format!(
                    "[{now}] sent {name} ({}) at {mb_per_s} MB/s",
                    size_text(size.unwrap_or_default())
                ),
                Outcome::Failed { error } => format!("[{now}] not sent: {name}: {error}"),
            },
        }
    }

    fn print(&self, format: ReportFormat) {
        match format {
            ReportFormat::Json => {
                emit(&serde_json::to_string(self).expect("a file line serializes"))
            }
            ReportFormat::Text => emit(&self.text()),
        }
    }
}

/// Throughput to one decimal: enough to compare runs.
fn rounded_mb_per_s(bytes: u64, elapsed: std::time::Duration) -> f64 {
    (mb_per_s(bytes, elapsed) * 10.0).round() / 10.0
}

/// `1.2 MB`, `340 bytes`.
fn size_text(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} bytes"),
        1_000..1_000_000 => format!("{:.1} kB", bytes as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", bytes as f64 / 1e6),
        _ => format!("{:.1} GB", bytes as f64 / 1e9),
    }
}

/// Sends each file, in order, once we are in the encrypted group, printing how each went.
/// Then carries on without: never returns.
pub(super) async fn send_all(client: &RoomClient, paths: &[PathBuf], format: ReportFormat) {
    in_group(client).await;
    for path in paths {
        sent_line(path, send_file(client, path).await).print(format);
    }
    std::future::pending().await
}

fn sent_line(path: &Path, sent: Result<crate::files::SentFile, FileTransferError>) -> Line {
    match sent {
        Ok(sent) => Line::FileSent {
            name: sent.name,
            size: Some(sent.size),
            outcome: Outcome::Done {
                saved_to: None,
                mb_per_s: rounded_mb_per_s(sent.size, sent.elapsed),
            },
        },
        Err(error) => Line::FileSent {
            name: path.display().to_string(),
            size: None,
            outcome: Outcome::Failed {
                error: error.to_string(),
            },
        },
    }
}

/// Downloads every file members share into a directory.
pub(super) struct Receiver {
    access: BlobAccess,
    dir: PathBuf,
    format: ReportFormat,
}

impl Receiver {
    /// Saves files into `dir`, which must be a directory.
    pub(super) fn new(access: BlobAccess, dir: PathBuf, format: ReportFormat) -> Self {
        Self {
            access,
            dir,
            format,
        }
    }

    /// Downloads the file in a task of its own, so the chat goes on meanwhile, and prints how
    /// it went. A download cut short by the end of the session leaves nothing behind.
    pub(super) fn start(&self, entry: FileEntry) {
        let (access, dir, format) = (self.access.clone(), self.dir.clone(), self.format);
        tokio::spawn(async move {
            let outcome = match receive_file(&access, &entry, &dir).await {
                Ok(received) => Outcome::Done {
                    saved_to: Some(received.path.display().to_string()),
                    mb_per_s: rounded_mb_per_s(received.size, received.elapsed),
                },
                Err(error) => Outcome::Failed {
                    error: error.to_string(),
                },
            };
            Line::File {
                from: entry.sender_name,
                name: entry.offer.name,
                size: entry.offer.size,
                outcome,
            }
            .print(format);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_received_file_is_one_json_line_with_where_it_went_or_why_not() {
        let saved = Line::File {
            from: "bob".into(),
            name: "report.pdf".into(),
            size: 1_200_000,
            outcome: Outcome::Done {
                saved_to: Some("in/report.pdf".into()),
                mb_per_s: 85.3,
            },
        };
        assert_eq!(
            serde_json::to_value(&saved).unwrap(),
            serde_json::json!({"type": "file", "from": "bob", "name": "report.pdf",
                "size": 1_200_000, "saved_to": "in/report.pdf", "mb_per_s": 85.3})
        );
        assert!(
            saved
                .text()
                .ends_with("] bob sent report.pdf (1.2 MB): saved to in/report.pdf, SHA-256 checked (85.3 MB/s)"),
            "{}",
            saved.text()
        );
        let failed = Line::File {
            from: "bob\u{1b}[2J".into(),
            name: "x".into(),
            size: 3,
            outcome: Outcome::Failed {
                error: "the file was cut short: it is incomplete".into(),
            },
        };
        assert_eq!(
            serde_json::to_value(&failed).unwrap(),
            serde_json::json!({"type": "file", "from": "bob\u{1b}[2J", "name": "x", "size": 3,
                "error": "the file was cut short: it is incomplete"})
        );
        assert!(
            failed.text().ends_with(
                "] bob\\u{1b}[2J sent x (3 bytes): not saved: the file was cut short: it is incomplete"
            ),
            "{}",
            failed.text()
        );
    }

    #[test]
    fn sizes_read_in_decimal_units() {
        assert_eq!(size_text(999), "999 bytes");
        assert_eq!(size_text(1_250), "1.2 kB");
        assert_eq!(size_text(20_000_000), "20.0 MB");
        assert_eq!(size_text(3_500_000_000), "3.5 GB");
    }
}
