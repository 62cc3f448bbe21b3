//! The journal of created cases: a seed run resumes where it stopped.

use std::path::PathBuf;

use anyhow::Context as _;

use crate::load::manifest::{CaseRecord, Manifest};

/// The journal of created cases next to the manifest.
pub fn journal_path(manifest: &std::path::Path) -> PathBuf {
    manifest.with_extension("cases.jsonl")
}

/// Created cases, one JSON line each (`[index, record]`), flushed per case.
pub(super) struct Journal {
    file: std::io::BufWriter<std::fs::File>,
}

impl Journal {
    /// Adds the journalled cases beyond the manifest's checkpoint to `manifest`, then opens for appending.
    pub(super) fn open(path: &std::path::Path, manifest: &mut Manifest) -> anyhow::Result<Self> {
        if let Ok(text) = std::fs::read_to_string(path) {
            for line in text.lines() {
                let Ok((index, record)) = serde_json::from_str::<(usize, CaseRecord)>(line) else { continue };
                if index == manifest.cases.len() {
                    manifest.cases.push(record);
                }
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Self { file: std::io::BufWriter::new(file) })
    }

    pub(super) fn append(&mut self, index: usize, record: &CaseRecord) -> anyhow::Result<()> {
        use std::io::Write as _;
        serde_json::to_writer(&mut self.file, &(index, record))?;
        self.file.write_all(b"\n")?;
        self.file.flush()?;
        Ok(())
    }
}
