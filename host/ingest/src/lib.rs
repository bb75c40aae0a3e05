//! Turn security log files into ECS JSON documents, one record at a time.
//!
//! `sc-host ingest` uses this crate: [`open`] a file (its format is detected unless one is
//! given), then iterate the [`Reader`] for [`Record`]s. Memory stays constant: text files
//! are read line by line (or element by element for a JSON array), EVTX files one 64 KiB
//! chunk at a time. A record that cannot be read becomes [`Record::Malformed`] with its
//! 1-based line number and the reader goes on.
//!
//! ```no_run
//! use sc_ingest::{Options, Record};
//! let reader = sc_ingest::open("conn.log".as_ref(), &Options::default())?;
//! for record in reader {
//!     match record {
//!         Record::Event(event) => println!("{} {} {}", event.index, event.id, event.doc),
//!         Record::Malformed { line, reason } => eprintln!("line {line}: {reason}"),
//!     }
//! }
//! # Ok::<(), sc_ingest::IngestError>(())
//! ```
//!
//! # Formats and detection
//!
//! | format | `--format` | detected by |
//! |---|---|---|
//! | Windows event log | `evtx` | a `.evtx` name, or the `ElfFile` magic |
//! | Zeek TSV | `zeek` | first non-empty line starts with `#separator` (or `#fields`) |
//! | Suricata eve.json | `suricata` | first JSON object has `event_type` |
//! | Zeek JSON | `zeek-json` | first JSON object has `id.orig_h`, `_path`, `uid`, or a numeric `ts` |
//! | ECS NDJSON | `ndjson` | first JSON object has `@timestamp` |
//!
//! JSON formats are one object per line; a file whose first character is `[` is read as a
//! JSON array instead, element by element (Suricata's sample files are pretty-printed
//! arrays). Anything else is [`IngestError::UnknownFormat`], which names `--format`.
//!
//! # Index names, kinds and ids
//!
//! | format | [`Event::kind`] | [`Event::index`] | [`Event::id`] hashes |
//! |---|---|---|---|
//! | Zeek TSV/JSON | the log path: `#path`, JSON `_path`, the file name before its first dot (`conn.log.labeled` → `conn`), or a guess from the fields | `logs-zeek-<path>` (`logs-zeek-conn`, `logs-zeek-dns`) | `<path>\n<raw line>` |
//! | Suricata | `event_type` | `logs-suricata-<event_type>` (`flow`, `alert`, `dns`, `http`, `tls`, …) | `<event_type>\n<raw line>` |
//! | EVTX | the channel (`Security`) | `logs-winlog-<channel>`: lowercased, `Microsoft-Windows-` and `/Operational` dropped (`security`, `sysmon`, `application`) | `<channel>\n<computer>\n<EventRecordID>` |
//! | NDJSON | `ndjson` | `<type>-<dataset>-<namespace>` from `data_stream`, else `logs-<event.dataset>`, else `logs-ndjson` | `ndjson\n<raw line>` |
//!
//! An id is the hex of the first 20 bytes of SHA-256 over those parts (40 characters), so
//! ingesting the same file again gives the same ids and overwrites instead of duplicating.
//! Index names are lowercased with anything but `[a-z0-9_.-]` turned into `_`.
//!
//! # ECS mapping
//!
//! Documents are nested JSON (`{"source": {"ip": "1.2.3.4", "port": 80}}`), IPs are strings
//! (IPv4-mapped IPv6 such as `::ffff:10.0.0.1` becomes `10.0.0.1`), ports and counters are
//! integers. `@timestamp` is RFC 3339 UTC with milliseconds. Every source keeps all of its
//! own fields under its namespace: `zeek.<path>.*` (dotted Zeek names nested:
//! `zeek.conn.id.orig_h`), `suricata.eve.*`, `winlog.event_data.*` / `winlog.user_data`.
//! Every document has `event.module`, `event.dataset` (`zeek.conn`, `suricata.alert`,
//! `winlog.security`), `event.kind` and, where known, `event.category` and `event.type`.
//!
//! ## Zeek
//!
//! | Zeek | ECS |
//! |---|---|
//! | `ts` (epoch seconds, or ISO 8601 text) | `@timestamp` |
//! | `id.orig_h` / `id.orig_p` | `source.ip` / `source.port` |
//! | `id.resp_h` / `id.resp_p` | `destination.ip` / `destination.port` |
//! | `proto` | `network.transport` (lowercase) |
//! | `uid`, `community_id` | `zeek.session_id`, `network.community_id` |
//! | conn `service` (first of a list) | `network.protocol` |
//! | conn `duration` | `event.duration` (ns) |
//! | conn `orig_bytes` / `resp_bytes` | `source.bytes` / `destination.bytes`, sum in `network.bytes` |
//! | conn `orig_pkts` / `resp_pkts` | `source.packets` / `destination.packets`, sum in `network.packets` |
//! | conn `conn_state` | `event.outcome`: `failure` for S0, REJ, RSTOS0, RSTRH, SH, SHR; `success` for SF, S1, S2, S3, RSTO, RSTR; else `unknown` |
//! | conn `local_orig` / `local_resp` | `network.direction` (inbound, outbound, internal, external) |
//! | dns `query`, `qtype_name`, `qclass_name`, `rcode_name`, `trans_id` | `dns.question.name`, `.type`, `.class`, `dns.response_code`, `dns.id` |
//! | dns `answers` that are IPs, `AA`/`TC`/`RD`/`RA` | `dns.resolved_ip`, `dns.header_flags` |
//! | http `method`, `uri`, `host`, `status_code`, `user_agent`, `version`, `referrer`, `username` | `http.request.method`, `url.original`, `url.domain`, `http.response.status_code`, `user_agent.original`, `http.version`, `http.request.referrer`, `user.name` |
//! | ssl `server_name`, `version` (`TLSv12`), `cipher`, `subject`, `issuer`, `ja3` | `tls.server.name`, `tls.version` (`1.2`) + `tls.version_protocol` (`tls`), `tls.cipher`, `tls.server.subject`, `tls.server.issuer`, `tls.client.ja3` |
//! | ssh `auth_success`, `direction` | `event.outcome`, `network.direction` |
//! | notice `note`, `msg`, `src`/`dst`/`p` | `rule.name`, `message`, endpoints when there is no `id.*`; `event.kind: alert` |
//! | weird `name` | `rule.name` |
//!
//! TSV values are typed by `#types`: `time`, `interval`, `double` → numbers; `count`,
//! `int`, `port` → integers; `bool` `T`/`F` → booleans; `set[…]`/`vector[…]` → arrays;
//! everything else → text with `\xNN` escapes undone. The unset field (`-`) leaves the
//! field out; the empty field (`(empty)`) is `[]` for containers and `""` for text. A line
//! with the wrong number of columns, or a value that does not parse as its type, is
//! malformed, and the reason names the field. Headers may repeat mid-file.
//!
//! ## Suricata
//!
//! | eve.json | ECS |
//! |---|---|
//! | `timestamp` (an offset-less time is taken as UTC) | `@timestamp` |
//! | `src_ip`/`src_port`, `dest_ip`/`dest_port` | `source.*`, `destination.*` |
//! | `proto`, `app_proto` (unless `failed`) | `network.transport` (lowercase), `network.protocol` |
//! | `flow.bytes_toserver` / `bytes_toclient` | `source.bytes` / `destination.bytes`, sum in `network.bytes` (same for `pkts_*` → `*.packets`) |
//! | `flow.start` / `flow.end` | `event.start` / `event.end`, `event.duration` (ns) |
//! | `host`, `community_id` | `observer.name`, `network.community_id` (`flow_id` stays in `suricata.eve.flow_id`: a flow and its alerts share it) |
//! | `alert.signature`, `signature_id`, `category`, `severity`, `action` | `rule.name` (and `message`), `rule.id`, `rule.category`, `event.severity`, `event.type` allowed/denied; `event.kind: alert` |
//! | `dns.rrname`/`rrtype` (or `dns.queries[0]`), `rcode`, `type`, `answers[].rdata` | `dns.question.name`/`.type`, `dns.response_code`, `dns.type`, `dns.resolved_ip` |
//! | `http.hostname`, `url`, `http_method`, `status`, `http_user_agent`, `protocol`, `length` | `url.domain`, `url.original`, `http.request.method`, `http.response.status_code`, `user_agent.original`, `http.version`, `http.response.body.bytes` |
//! | `tls.sni`, `version`, `subject`, `issuerdn`, `ja3.hash`, `ja3s.hash` | `tls.server.name`, `tls.version`, `tls.server.subject`, `tls.server.issuer`, `tls.client.ja3`, `tls.server.ja3s` |
//! | `fileinfo.filename`, `size` | `file.name`, `file.size` |
//!
//! ## Windows event logs
//!
//! | EVTX | ECS |
//! |---|---|
//! | `System.TimeCreated@SystemTime` | `@timestamp` |
//! | `EventID` | `event.code` and `winlog.event_id` (text) |
//! | `Computer`, `Channel`, `EventRecordID`, `Provider@Name` | `host.name` (and `winlog.computer_name`), `winlog.channel`, `winlog.record_id`, `event.provider` |
//! | `TargetUserName`/`TargetDomainName`/`TargetUserSid`, else `Subject*`, else Sysmon `User` (`DOMAIN\user`) | `user.name`, `user.domain`, `user.id`; the subject also in `user.effective.name` |
//! | `IpAddress`/`IpPort`, `SourceAddress`/`SourcePort`, Sysmon `SourceIp`/`SourcePort` | `source.ip`, `source.port` (`-` and port 0 left out) |
//! | `DestAddress`/`DestPort`, Sysmon `DestinationIp`/`DestinationPort`, `Protocol`, `Direction` | `destination.*`, `network.transport`/`network.iana_number`, `network.direction` |
//! | `WorkstationName` / `Workstation` | `source.domain` |
//! | `NewProcessName`/`Image`/`ProcessName`/`Application`, `NewProcessId`/`ProcessId`, `CommandLine`, parent fields | `process.executable`, `process.name`, `process.pid` (hex `0x…` decoded), `process.command_line`, `process.parent.*` |
//! | `TargetLogonId`/`SubjectLogonId`, `LogonType` | `winlog.logon.id`, `winlog.logon.type` |
//! | unnamed `<Data>` items | `winlog.event_data.param1`, `param2`, … |
//! | SQL Server 18456 `param1`, `[CLIENT: …]`, `Reason:` | `user.name`, `source.ip`, `event.reason` |
//!
//! Event ids with a known meaning get `event.category`, `event.type`, `event.action` and
//! `event.outcome`: 4624, 4648 logon success; 4625, 4771 and SQL Server 18456 logon
//! failure; 4768, 4769, 4776 success when `Status` is `0x0`, else failure; 4634/4647 logoff;
//! 4672 special privileges; 4688/4689 process start/end; 4720–4726, 4738, 4741, 4742, 4781
//! account management; 4698/4699/4702 scheduled tasks; 5140/5145 share access; 5156/5157/5158
//! filtering platform; 1102 log cleared; Sysmon 1, 3, 5, 11, 12–14, 17/18, 22.
//!
//! ## ECS NDJSON
//!
//! Passed through unchanged (apart from labels). Lenient: a line without `@timestamp` is
//! still an event, since the producer knows its data; only a line that is not a JSON
//! object is malformed.
//!
//! # Ground-truth labels
//!
//! Labelled datasets (Stratosphere) carry the answer in `label` and `detailedlabel`
//! (also spelt `Label`, `detailed-label`, `detailed_label`), as top-level fields of Zeek,
//! Suricata and NDJSON records. They are always removed from the source fields so the
//! agent never sees them. With [`Options::keep_labels`] they are kept for scoring as
//! `labels.ground_truth` and `labels.ground_truth_detail` (`(empty)`, `-` and empty values
//! left out). EVTX has no label columns and is left alone.

mod ecs;
mod error;
mod format;
mod lines;
mod ndjson;
mod reader;
mod suricata;
mod winlog;
mod zeek;

pub use error::IngestError;
pub use format::{Format, detect};
pub use reader::{Reader, open};

/// How to read a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// The format, or [`Format::Auto`] to detect it.
    pub format: Format,
    /// Keep ground-truth label columns as `labels.ground_truth*` instead of dropping them.
    pub keep_labels: bool,
}

/// One log record as an ECS document, ready to index.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Event {
    /// A stable document id: the same record always gets the same id.
    pub id: String,
    /// The index the document belongs in by default (`logs-zeek-conn`, …).
    pub index: String,
    /// What kind of record it is within its format: Zeek log path, Suricata `event_type`,
    /// EVTX channel, or `ndjson`.
    pub kind: String,
    /// The ECS document, as nested JSON.
    pub doc: serde_json::Value,
}

/// What the reader yields for each record in a file.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A record turned into an ECS document.
    Event(Event),
    /// A record that could not be read; the reader goes on with the next one.
    Malformed {
        /// The 1-based line where the record starts (for EVTX: the record's position in
        /// the file, counting from 1).
        line: u64,
        /// Why, naming the field or the JSON error.
        reason: String,
    },
}
