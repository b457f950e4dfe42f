//! The audit log written out, oldest record first, as JSON lines or CSV: one encoder for
//! `sealroom audit export` and the administration API's download.

use crate::storage::{
    AuditExportFilter, AuditPageStart, ExportedAuditRecord, Storage, StorageError,
};

/// How the records are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditFormat {
    /// One JSON object a line.
    Jsonl,
    /// A header line, then RFC 4180 quoted rows.
    Csv,
}

impl AuditFormat {
    /// The media type of a download.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jsonl => "application/jsonl",
            Self::Csv => "text/csv; charset=utf-8",
        }
    }

    /// The file name's extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jsonl => "jsonl",
            Self::Csv => "csv",
        }
    }

    /// What comes before the records: the CSV header, written even when no record is.
    fn header(self) -> Result<Vec<u8>, ExportError> {
        match self {
            Self::Jsonl => Ok(Vec::new()),
            Self::Csv => csv_bytes(|csv| csv.write_record(ExportedAuditRecord::COLUMNS)),
        }
    }

    fn encode(self, records: &[ExportedAuditRecord]) -> Result<Vec<u8>, ExportError> {
        match self {
            Self::Jsonl => {
                let mut out = Vec::new();
                for record in records {
                    serde_json::to_writer(&mut out, record)?;
                    out.push(b'\n');
                }
                Ok(out)
            }
            Self::Csv => csv_bytes(|csv| records.iter().try_for_each(|r| csv.serialize(r))),
        }
    }
}

fn csv_bytes(
    write: impl FnOnce(&mut csv::Writer<Vec<u8>>) -> csv::Result<()>,
) -> Result<Vec<u8>, ExportError> {
    let mut csv = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    write(&mut csv)?;
    csv.into_inner()
        .map_err(|error| ExportError::Csv(error.into_error().into()))
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// An RFC 3339 time, checked strictly (SQLite alone would take "now" or a day number).
pub fn rfc3339(value: &str) -> Result<String, String> {
    let well_known = time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(value, &well_known)
        .map(|_| value.to_ascii_uppercase())
        .map_err(|error| format!("not an RFC 3339 time ({error}), e.g. 2026-01-31T00:00:00Z"))
}

impl AuditExportFilter {
    /// The filter with its times checked: an API caller's filter is not parsed by clap.
    pub fn checked(mut self) -> Result<Self, String> {
        self.since = self.since.as_deref().map(rfc3339).transpose()?;
        self.until = self.until.as_deref().map(rfc3339).transpose()?;
        Ok(self)
    }

    /// The filter's set fields as `key="value"` pairs, for the record of an export.
    pub fn describe(&self) -> String {
        let fields = [
            ("since", &self.since),
            ("until", &self.until),
            ("room", &self.room),
            ("action", &self.action),
            ("participant", &self.participant),
            ("contains", &self.contains),
        ];
        fields
            .iter()
            .filter_map(|(key, value)| value.as_ref().map(|value| format!(" {key}={value:?}")))
            .collect()
    }
}

/// An export under way: hands out the encoded log a page at a time, so a long log is never
/// held in memory whole.
pub struct AuditExport {
    storage: Storage,
    filter: AuditExportFilter,
    format: AuditFormat,
    after: Option<i64>,
}

impl AuditExport {
    pub fn new(storage: Storage, filter: AuditExportFilter, format: AuditFormat) -> Self {
        Self {
            storage,
            filter,
            format,
            after: None,
        }
    }

    /// The next piece of the file, or `None` once every record is out.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, ExportError> {
        let Some(after) = self.after else {
            self.after = Some(0);
            return Ok(Some(self.format.header()?));
        };
        let page = self
            .storage
            .audit_page(&self.filter, AuditPageStart::After(after))
            .await?;
        let Some(last) = page.last() else {
            return Ok(None);
        };
        self.after = Some(last.seq);
        self.format.encode(&page).map(Some)
    }
}
