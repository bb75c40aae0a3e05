//! Reading an `.evtx` file chunk by chunk, bounded in memory, and naming a
//! truncated file with the chunk it was cut in.

use std::collections::VecDeque;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use evtx::{EvtxParser, IntoIterChunks, ParserSettings};

use super::to_event;
use crate::{IngestError, Record};

/// The size of an EVTX chunk: progress advances by one per chunk read.
const CHUNK_BYTES: u64 = 64 * 1024;
/// The size of the EVTX file header, before the first chunk.
const HEADER_BYTES: u64 = 4096;

/// Reads an EVTX file one 64 KiB chunk at a time, so memory stays bounded by a chunk's
/// records whatever the file's size.
pub(crate) struct EvtxReader {
    chunks: IntoIterChunks<File>,
    settings: Arc<ParserSettings>,
    pending: VecDeque<Record>,
    records: u64,
    bytes_read: u64,
    total_bytes: u64,
    /// Why the file is shorter than its header says, reported once the
    /// complete chunks have been read.
    truncated: Option<String>,
}

/// Where the EVTX file header keeps its chunk count.
const CHUNK_COUNT_OFFSET: usize = 42;

/// Why a file is not as long as its header says (a copy taken while the
/// log was being written, a download cut short), naming the chunk cut.
fn truncation(header: &[u8], total_bytes: u64) -> Option<String> {
    let count = header
        .get(CHUNK_COUNT_OFFSET..CHUNK_COUNT_OFFSET + 2)
        .map(|b| u64::from(u16::from_le_bytes([b[0], b[1]])))?;
    let expected = HEADER_BYTES + count * CHUNK_BYTES;
    let body = total_bytes.saturating_sub(HEADER_BYTES);
    let whole = body / CHUNK_BYTES;
    let partial = !body.is_multiple_of(CHUNK_BYTES);
    if total_bytes >= expected && !partial {
        return None;
    }
    let cut = whole + 1;
    Some(if partial {
        format!(
            "the file is truncated or corrupt: chunk {cut} of {count} is cut short at byte {total_bytes} \
             (the header lists {count} chunks of 64 KiB, {expected} bytes); the {whole} complete chunk(s) before it were read"
        )
    } else {
        format!(
            "the file is truncated or corrupt: it ends after chunk {whole} at byte {total_bytes}, but the header \
             lists {count} chunks of 64 KiB ({expected} bytes); chunks {cut} to {count} are missing"
        )
    })
}

impl EvtxReader {
    pub(crate) fn open(path: &Path) -> Result<Self, IngestError> {
        let io_err = |source| IngestError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = File::open(path).map_err(io_err)?;
        let total_bytes = file.metadata().map_err(io_err)?.len();
        let mut header = vec![0; 64];
        let read = std::io::Read::read(&mut file, &mut header).map_err(io_err)?;
        header.truncate(read);
        std::io::Seek::rewind(&mut file).map_err(io_err)?;
        let truncated = truncation(&header, total_bytes);
        // Built without the crate's thread pool, so no thread count is set.
        let settings = ParserSettings::new()
            .indent(false)
            .separate_json_attributes(false);
        let parser = EvtxParser::from_read_seek(file)
            .map_err(|err| IngestError::Evtx {
                path: path.to_owned(),
                message: err.to_string(),
            })?
            .with_configuration(settings.clone());
        Ok(EvtxReader {
            chunks: parser.into_chunks(),
            settings: Arc::new(settings),
            pending: VecDeque::new(),
            records: 0,
            bytes_read: HEADER_BYTES,
            total_bytes,
            truncated,
        })
    }

    pub(crate) fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Parse the next chunk into `pending`; false at the end of the file.
    fn fill(&mut self) -> bool {
        let Some(chunk) = self.chunks.next() else {
            // Unused chunks at the end of the file are never visited: the file is done.
            self.bytes_read = self.total_bytes;
            if let Some(reason) = self.truncated.take() {
                self.records += 1;
                self.pending.push_back(Record::Malformed {
                    line: self.records,
                    reason,
                });
                return true;
            }
            return false;
        };
        self.bytes_read += CHUNK_BYTES;
        let mut data = match chunk {
            Ok(data) => data,
            Err(err) => {
                self.records += 1;
                self.pending.push_back(Record::Malformed {
                    line: self.records,
                    reason: format!("unreadable EVTX chunk: {err}"),
                });
                return true;
            }
        };
        let mut chunk = match data.parse(Arc::clone(&self.settings)) {
            Ok(chunk) => chunk,
            Err(err) => {
                self.records += 1;
                self.pending.push_back(Record::Malformed {
                    line: self.records,
                    reason: format!("unparsable EVTX chunk: {err}"),
                });
                return true;
            }
        };
        for record in chunk.iter() {
            self.records += 1;
            let parsed = record
                .and_then(|r| r.into_json_value())
                .map_err(|err| format!("unparsable EVTX record: {err}"))
                .and_then(|r| to_event(r.data, r.event_record_id));
            self.pending.push_back(match parsed {
                Ok(event) => Record::Event(event),
                Err(reason) => Record::Malformed {
                    line: self.records,
                    reason,
                },
            });
        }
        true
    }
}

impl Iterator for EvtxReader {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        loop {
            if let Some(record) = self.pending.pop_front() {
                return Some(record);
            }
            if !self.fill() {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_shorter_than_its_header_says_is_named_truncated_with_the_chunk() {
        let mut header = vec![0u8; 64];
        header[42..44].copy_from_slice(&3u16.to_le_bytes());
        let full = HEADER_BYTES + 3 * CHUNK_BYTES;
        assert_eq!(truncation(&header, full), None);
        let cut = truncation(&header, HEADER_BYTES + CHUNK_BYTES + 100).expect("truncated");
        assert!(cut.contains("chunk 2 of 3 is cut short"), "{cut}");
        let missing = truncation(&header, HEADER_BYTES + CHUNK_BYTES).expect("truncated");
        assert!(missing.contains("chunks 2 to 3 are missing"), "{missing}");
    }
}
