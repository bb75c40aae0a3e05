//! Zeek logs, tab-separated (header-driven, typed by `#types`) or JSON, mapped to ECS.

use std::path::Path;

use serde_json::{Map, Value, json};

use crate::Event;
use crate::ecs::{
    Doc, Labels, as_f64, as_text, as_u64, clean_ip, duration_nanos, epoch_seconds,
    format_timestamp, index_part, parse_time_text, put, put_namespace, put_some, stable_id,
    sum_counts,
};

mod tsv;

pub(crate) use tsv::{TsvLine, ZeekTsv};

/// Zeek log names that a file name is trusted to mean (`conn.log`, `dns.log.labeled`, …).
const KNOWN_LOGS: &[&str] = &[
    "conn",
    "dns",
    "http",
    "ssl",
    "ssh",
    "notice",
    "weird",
    "files",
    "x509",
    "dhcp",
    "smtp",
    "ftp",
    "smb_files",
    "smb_mapping",
    "dce_rpc",
    "kerberos",
    "ntlm",
    "rdp",
    "sip",
    "snmp",
    "software",
    "tunnel",
    "pe",
    "ocsp",
    "known_hosts",
    "known_services",
    "known_certs",
    "intel",
    "irc",
    "mysql",
    "radius",
    "socks",
    "syslog",
    "dpd",
    "signatures",
    "quic",
    "websocket",
    "capture_loss",
    "stats",
    "reporter",
];

/// The log name a file name suggests: what comes before the first dot, lowercased
/// (`conn.log.labeled` → `conn`).
pub(crate) fn log_name_from_file(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let stem = name.split('.').next()?.trim().to_ascii_lowercase();
    (!stem.is_empty()).then_some(stem)
}

/// The log a Zeek JSON object belongs to: its `_path` if Zeek wrote one, else the file's
/// name when that is a known log, else a guess from the fields, else the file's name.
pub(crate) fn json_log_name(object: &Map<String, Value>, file_hint: Option<&str>) -> String {
    if let Some(Value::String(path)) = object.get("_path")
        && !path.is_empty()
    {
        return path.clone();
    }
    if let Some(hint) = file_hint
        && KNOWN_LOGS.contains(&hint)
    {
        return hint.to_owned();
    }
    let has = |k: &str| object.contains_key(k);
    let guess = if has("conn_state") {
        Some("conn")
    } else if has("query") && (has("qtype") || has("trans_id")) {
        Some("dns")
    } else if has("method") || (has("uri") && has("status_code")) {
        Some("http")
    } else if has("server_name") || (has("version") && has("cipher")) {
        Some("ssl")
    } else if has("auth_attempts") || has("auth_success") {
        Some("ssh")
    } else if has("note") {
        Some("notice")
    } else if has("name") && has("notice") {
        Some("weird")
    } else {
        None
    };
    guess
        .map(str::to_owned)
        .or_else(|| file_hint.map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// `event.outcome` from a Zeek `conn_state`: no answer, rejected or half-open is a failure.
fn conn_outcome(state: &str) -> &'static str {
    match state {
        "S0" | "REJ" | "RSTOS0" | "RSTRH" | "SH" | "SHR" => "failure",
        "SF" | "S1" | "S2" | "S3" | "RSTO" | "RSTR" => "success",
        _ => "unknown",
    }
}

/// The text of a field, if it is a non-empty string.
fn text<'a>(fields: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    fields
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn number(fields: &Map<String, Value>, key: &str) -> Option<u64> {
    fields.get(key).and_then(as_u64)
}

/// Map one Zeek record (TSV or JSON, same field names) to an ECS event.
///
/// `raw` is the line as read, for the id. Errors name the problem, for a malformed record.
pub(crate) fn to_event(
    path: &str,
    mut fields: Map<String, Value>,
    raw: &[u8],
    keep_labels: bool,
) -> Result<Event, String> {
    let labels = Labels::take(&mut fields);
    let ts = fields.get("ts").ok_or("missing field `ts`")?;
    let time = match ts {
        Value::Number(n) => n.as_f64().and_then(epoch_seconds),
        Value::String(s) => parse_time_text(s).or_else(|| s.parse().ok().and_then(epoch_seconds)),
        _ => None,
    }
    .ok_or_else(|| format!("field `ts`: `{ts}` is not a time"))?;

    let part = index_part(path);
    let dataset = format!("zeek.{}", part.replace('.', "_"));
    let mut doc = Doc::new();
    put(&mut doc, "@timestamp", json!(format_timestamp(time)));
    put(&mut doc, "event.module", json!("zeek"));
    put(&mut doc, "event.dataset", json!(dataset));

    // Every Zeek log with a connection id carries the same endpoints.
    let ip = |key| text(&fields, key).and_then(clean_ip).map(Value::String);
    put_some(&mut doc, "source.ip", ip("id.orig_h"));
    put_some(
        &mut doc,
        "source.port",
        number(&fields, "id.orig_p").map(Value::from),
    );
    put_some(&mut doc, "destination.ip", ip("id.resp_h"));
    put_some(
        &mut doc,
        "destination.port",
        number(&fields, "id.resp_p").map(Value::from),
    );
    put_some(
        &mut doc,
        "network.transport",
        text(&fields, "proto").map(|p| json!(p.to_ascii_lowercase())),
    );
    put_some(
        &mut doc,
        "network.community_id",
        fields.get("community_id").cloned(),
    );
    // One key to join a connection's conn, dns, http and ssl records.
    put_some(&mut doc, "zeek.session_id", fields.get("uid").cloned());

    let mut kind = "event";
    let (category, event_type): (&[&str], &[&str]) = match path {
        "conn" => {
            conn(&mut doc, &fields);
            (&["network"], &["connection"])
        }
        "dns" => {
            dns(&mut doc, &fields);
            (&["network"], &["protocol"])
        }
        "http" => {
            http(&mut doc, &fields);
            (&["network", "web"], &["protocol"])
        }
        "ssl" => {
            ssl(&mut doc, &fields);
            (&["network"], &["protocol"])
        }
        "ssh" => {
            ssh(&mut doc, &fields);
            (&["authentication", "network"], &["info"])
        }
        "notice" => {
            kind = "alert";
            notice(&mut doc, &fields);
            (&["intrusion_detection", "network"], &["info"])
        }
        "weird" => {
            put_some(&mut doc, "rule.name", fields.get("name").cloned());
            (&["network"], &["info"])
        }
        _ => (&["network"], &["info"]),
    };
    put(&mut doc, "event.kind", json!(kind));
    put(&mut doc, "event.category", json!(category));
    put(&mut doc, "event.type", json!(event_type));

    put_namespace(&mut doc, &dataset, fields);
    if keep_labels {
        labels.apply(&mut doc);
    }
    Ok(Event {
        id: stable_id(&[path.as_bytes(), raw]),
        index: format!("logs-zeek-{part}"),
        kind: path.to_owned(),
        doc: Value::Object(doc),
    })
}

fn conn(doc: &mut Doc, f: &Map<String, Value>) {
    let service = text(f, "service").and_then(|s| s.split(',').next());
    put_some(
        doc,
        "network.protocol",
        service.map(|s| json!(s.to_ascii_lowercase())),
    );
    put_some(
        doc,
        "event.duration",
        f.get("duration").and_then(as_f64).and_then(duration_nanos),
    );
    let (ob, rb) = (number(f, "orig_bytes"), number(f, "resp_bytes"));
    put_some(doc, "source.bytes", ob.map(Value::from));
    put_some(doc, "destination.bytes", rb.map(Value::from));
    put_some(doc, "network.bytes", sum_counts(ob, rb));
    let (op, rp) = (number(f, "orig_pkts"), number(f, "resp_pkts"));
    put_some(doc, "source.packets", op.map(Value::from));
    put_some(doc, "destination.packets", rp.map(Value::from));
    put_some(doc, "network.packets", sum_counts(op, rp));
    if let Some(state) = text(f, "conn_state") {
        put(doc, "event.outcome", json!(conn_outcome(state)));
    }
    let local = |k| f.get(k).and_then(Value::as_bool);
    let direction = match (local("local_orig"), local("local_resp")) {
        (Some(true), Some(true)) => Some("internal"),
        (Some(true), Some(false)) => Some("outbound"),
        (Some(false), Some(true)) => Some("inbound"),
        (Some(false), Some(false)) => Some("external"),
        _ => None,
    };
    put_some(doc, "network.direction", direction.map(|d| json!(d)));
}

fn dns(doc: &mut Doc, f: &Map<String, Value>) {
    put(doc, "network.protocol", json!("dns"));
    put_some(doc, "dns.question.name", f.get("query").cloned());
    put_some(doc, "dns.question.type", f.get("qtype_name").cloned());
    put_some(doc, "dns.question.class", f.get("qclass_name").cloned());
    put_some(doc, "dns.response_code", f.get("rcode_name").cloned());
    put_some(
        doc,
        "dns.id",
        f.get("trans_id").and_then(as_text).map(Value::String),
    );
    let answered = f.contains_key("rcode") || f.contains_key("rcode_name");
    put(
        doc,
        "dns.type",
        json!(if answered { "answer" } else { "query" }),
    );
    let flags: Vec<&str> = ["AA", "TC", "RD", "RA"]
        .into_iter()
        .filter(|flag| f.get(*flag).and_then(Value::as_bool) == Some(true))
        .collect();
    if !flags.is_empty() {
        put(doc, "dns.header_flags", json!(flags));
    }
    if let Some(Value::Array(answers)) = f.get("answers") {
        let ips: Vec<String> = answers
            .iter()
            .filter_map(Value::as_str)
            .filter_map(clean_ip)
            .collect();
        if !ips.is_empty() {
            put(doc, "dns.resolved_ip", json!(ips));
        }
    }
}

fn http(doc: &mut Doc, f: &Map<String, Value>) {
    put(doc, "network.protocol", json!("http"));
    put_some(doc, "http.request.method", f.get("method").cloned());
    put_some(doc, "url.original", f.get("uri").cloned());
    put_some(doc, "url.domain", f.get("host").cloned());
    put_some(doc, "http.version", f.get("version").cloned());
    put_some(doc, "http.request.referrer", f.get("referrer").cloned());
    put_some(
        doc,
        "http.request.body.bytes",
        number(f, "request_body_len").map(Value::from),
    );
    put_some(
        doc,
        "http.response.body.bytes",
        number(f, "response_body_len").map(Value::from),
    );
    put_some(
        doc,
        "http.response.status_code",
        number(f, "status_code").map(Value::from),
    );
    put_some(doc, "user_agent.original", f.get("user_agent").cloned());
    put_some(doc, "user.name", f.get("username").cloned());
}

/// Zeek's `TLSv12` as ECS `tls.version_protocol` `tls` and `tls.version` `1.2`.
pub(crate) fn split_tls_version(version: &str) -> Option<(String, String)> {
    let lower = version.to_ascii_lowercase().replace(' ', "");
    let (protocol, digits) = ["dtlsv", "tlsv", "sslv", "dtls", "tls", "ssl"]
        .into_iter()
        .find_map(|p| {
            lower
                .strip_prefix(p)
                .map(|rest| (p.trim_end_matches('v'), rest))
        })?;
    let number = match digits {
        d if d.contains('.') => d.to_owned(),
        d if d.len() == 2 => format!("{}.{}", &d[..1], &d[1..]),
        d if d.len() == 1 => format!("{d}.0"),
        _ => return None,
    };
    Some((protocol.to_owned(), number))
}

/// `tls.version_protocol` and `tls.version` from a version as Zeek and
/// Suricata write it; one not understood is kept whole in `tls.version`.
pub(crate) fn put_tls_version(doc: &mut Doc, version: &str) {
    match split_tls_version(version) {
        Some((protocol, number)) => {
            put(doc, "tls.version_protocol", json!(protocol));
            put(doc, "tls.version", json!(number));
        }
        None => put(doc, "tls.version", json!(version)),
    }
}

fn ssl(doc: &mut Doc, f: &Map<String, Value>) {
    put(doc, "network.protocol", json!("tls"));
    put_some(doc, "tls.server.name", f.get("server_name").cloned());
    if let Some(version) = text(f, "version") {
        put_tls_version(doc, version);
    }
    put_some(doc, "tls.cipher", f.get("cipher").cloned());
    put_some(doc, "tls.curve", f.get("curve").cloned());
    put_some(doc, "tls.resumed", f.get("resumed").cloned());
    put_some(doc, "tls.established", f.get("established").cloned());
    put_some(doc, "tls.next_protocol", f.get("next_protocol").cloned());
    put_some(doc, "tls.server.subject", f.get("subject").cloned());
    put_some(doc, "tls.server.issuer", f.get("issuer").cloned());
    put_some(doc, "tls.client.ja3", f.get("ja3").cloned());
    put_some(doc, "tls.server.ja3s", f.get("ja3s").cloned());
}

fn ssh(doc: &mut Doc, f: &Map<String, Value>) {
    put(doc, "network.protocol", json!("ssh"));
    if let Some(success) = f.get("auth_success").and_then(Value::as_bool) {
        put(
            doc,
            "event.outcome",
            json!(if success { "success" } else { "failure" }),
        );
    }
    put_some(
        doc,
        "network.direction",
        text(f, "direction").map(|d| json!(d.to_ascii_lowercase())),
    );
}

fn notice(doc: &mut Doc, f: &Map<String, Value>) {
    put_some(doc, "rule.name", f.get("note").cloned());
    put_some(doc, "message", f.get("msg").cloned());
    // Notices without a connection name the endpoints in `src`, `dst` and `p`.
    if f.get("id.orig_h").is_none() {
        put_some(
            doc,
            "source.ip",
            text(f, "src").and_then(clean_ip).map(Value::String),
        );
    }
    if f.get("id.resp_h").is_none() {
        put_some(
            doc,
            "destination.ip",
            text(f, "dst").and_then(clean_ip).map(Value::String),
        );
        put_some(doc, "destination.port", number(f, "p").map(Value::from));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\ttunnel_parents\tlabel\tdetailedlabel\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tset[string]\tstring\tstring";

    fn reader() -> ZeekTsv {
        let mut z = ZeekTsv::new(Some("conn".into()));
        for line in HEADER.lines() {
            assert!(matches!(z.line(line), TsvLine::Header));
        }
        z
    }

    fn data(z: &mut ZeekTsv, line: &str) -> Result<Event, String> {
        match z.line(line) {
            TsvLine::Data { path, fields } => to_event(&path, fields, line.as_bytes(), false),
            TsvLine::Malformed(reason) => Err(reason),
            TsvLine::Header => Err("header".into()),
        }
    }

    #[test]
    fn tsv_conn_maps_to_ecs() {
        let mut z = reader();
        let line = "1655071209.953394\tCvIOrb4ekWKPrnpqsf\t167.94.138.99\t7789\t147.32.83.165\t445\ttcp\t-\t0.000002\t0\t10\tS0\tF\tT\t(empty)\tMalicious\tExternal-Attack-to-Device";
        let event = data(&mut z, line).unwrap();
        assert_eq!(event.index, "logs-zeek-conn");
        assert_eq!(event.kind, "conn");
        let doc = &event.doc;
        assert_eq!(doc["@timestamp"], "2022-06-12T22:00:09.953Z");
        assert_eq!(
            doc["source"],
            json!({"ip": "167.94.138.99", "port": 7789, "bytes": 0})
        );
        assert_eq!(doc["destination"]["port"], 445);
        assert_eq!(doc["destination"]["bytes"], 10);
        assert_eq!(doc["network"]["bytes"], 10);
        assert_eq!(doc["network"]["transport"], "tcp");
        assert_eq!(doc["network"]["direction"], "inbound");
        assert_eq!(doc["event"]["outcome"], "failure");
        assert_eq!(doc["event"]["duration"], 2000);
        assert_eq!(doc["event"]["category"], json!(["network"]));
        assert_eq!(doc["event"]["dataset"], "zeek.conn");
        assert_eq!(doc["zeek"]["conn"]["conn_state"], "S0");
        assert_eq!(doc["zeek"]["conn"]["id"]["orig_h"], "167.94.138.99");
        assert_eq!(doc["zeek"]["conn"]["tunnel_parents"], json!([]));
        assert_eq!(doc["zeek"]["session_id"], "CvIOrb4ekWKPrnpqsf");
        // Unset service is absent, not "-"; the labels are gone.
        assert!(doc["zeek"]["conn"].get("service").is_none());
        assert!(doc.get("network").unwrap().get("protocol").is_none());
        assert!(doc["zeek"]["conn"].get("label").is_none());
        assert!(doc.get("labels").is_none());
    }

    #[test]
    fn labels_are_kept_on_request() {
        let mut z = reader();
        let line = "1.5\tC1\t10.0.0.1\t1\t10.0.0.2\t80\ttcp\thttp\t1.0\t5\t6\tSF\tT\tT\ta,b\tMalicious\tC&C";
        let TsvLine::Data { path, fields } = z.line(line) else {
            panic!("not data")
        };
        let event = to_event(&path, fields, line.as_bytes(), true).unwrap();
        assert_eq!(
            event.doc["labels"],
            json!({"ground_truth": "Malicious", "ground_truth_detail": "C&C"})
        );
        assert_eq!(
            event.doc["zeek"]["conn"]["tunnel_parents"],
            json!(["a", "b"])
        );
        assert_eq!(event.doc["network"]["protocol"], "http");
        assert_eq!(event.doc["event"]["outcome"], "success");
        assert_eq!(event.doc["@timestamp"], "1970-01-01T00:00:01.500Z");
    }

    #[test]
    fn bad_lines_are_malformed_and_name_the_field() {
        let mut z = reader();
        let short = "1.0\tC1\t10.0.0.1";
        assert!(
            data(&mut z, short)
                .unwrap_err()
                .contains("expected 17 columns")
        );
        let bad_count =
            "1.0\tC1\t10.0.0.1\t1\t10.0.0.2\t80\ttcp\t-\t-\tmany\t0\tS0\tF\tT\t(empty)\t-\t-";
        let err = data(&mut z, bad_count).unwrap_err();
        assert!(
            err.contains("`orig_bytes`") && err.contains("a count"),
            "{err}"
        );
        let bad_bool =
            "1.0\tC1\t10.0.0.1\t1\t10.0.0.2\t80\ttcp\t-\t-\t0\t0\tS0\tX\tT\t(empty)\t-\t-";
        assert!(data(&mut z, bad_bool).unwrap_err().contains("`local_orig`"));
        let bad_port =
            "1.0\tC1\t10.0.0.1\t99999\t10.0.0.2\t80\ttcp\t-\t-\t0\t0\tS0\tF\tT\t(empty)\t-\t-";
        assert!(data(&mut z, bad_port).unwrap_err().contains("`id.orig_p`"));
        // The reader is not poisoned by a bad line.
        let good = "2.0\tC2\t10.0.0.1\t1\t10.0.0.2\t80\tudp\tdns\t-\t-\t-\tSF\t-\t-\t(empty)\t-\t-";
        let event = data(&mut z, good).unwrap();
        assert_eq!(event.doc["network"]["transport"], "udp");
        assert!(event.doc["network"].get("bytes").is_none());
    }

    #[test]
    fn data_before_header_is_malformed() {
        let mut z = ZeekTsv::new(None);
        assert!(matches!(z.line("1.0\tC1"), TsvLine::Malformed(r) if r.contains("#fields")));
    }

    #[test]
    fn escapes_and_vectors_are_decoded() {
        let mut z = ZeekTsv::new(Some("dns".into()));
        for h in [
            "#separator \\x09",
            "#set_separator\t,",
            "#fields\tts\tquery\tanswers\tTTLs\tAA",
            "#types\ttime\tstring\tvector[string]\tvector[interval]\tbool",
        ] {
            z.line(h);
        }
        let line = "3.0\ta\\x09b.example\t1.2.3.4,-\t60.0,30.5\tT";
        let event = data(&mut z, line).unwrap();
        let dns = &event.doc["zeek"]["dns"];
        assert_eq!(dns["query"], "a\tb.example");
        assert_eq!(dns["answers"], json!(["1.2.3.4", null]));
        assert_eq!(dns["TTLs"], json!([60.0, 30.5]));
        assert_eq!(event.doc["dns"]["resolved_ip"], json!(["1.2.3.4"]));
        assert_eq!(event.doc["dns"]["header_flags"], json!(["AA"]));
        assert_eq!(event.index, "logs-zeek-dns");
    }

    #[test]
    fn json_log_names() {
        let obj: Map<String, Value> =
            serde_json::from_str(r#"{"ts":1.0,"uid":"C","auth_success":false}"#).unwrap();
        assert_eq!(json_log_name(&obj, Some("ssh")), "ssh");
        assert_eq!(json_log_name(&obj, Some("honeypot")), "ssh");
        let with_path: Map<String, Value> =
            serde_json::from_str(r#"{"_path":"dns","ts":1.0}"#).unwrap();
        assert_eq!(json_log_name(&with_path, Some("conn")), "dns");
        let event = to_event("ssh", obj, b"raw", false).unwrap();
        assert_eq!(event.doc["event"]["outcome"], "failure");
        assert_eq!(
            event.doc["event"]["category"],
            json!(["authentication", "network"])
        );
    }

    #[test]
    fn tls_versions_split() {
        assert_eq!(
            split_tls_version("TLSv12"),
            Some(("tls".into(), "1.2".into()))
        );
        assert_eq!(
            split_tls_version("TLSv13"),
            Some(("tls".into(), "1.3".into()))
        );
        assert_eq!(
            split_tls_version("SSLv3"),
            Some(("ssl".into(), "3.0".into()))
        );
        assert_eq!(
            split_tls_version("TLS 1.1"),
            Some(("tls".into(), "1.1".into()))
        );
        assert_eq!(
            split_tls_version("DTLSv12"),
            Some(("dtls".into(), "1.2".into()))
        );
        assert_eq!(split_tls_version("unknown"), None);
    }

    #[test]
    fn file_names_give_log_names() {
        assert_eq!(
            log_name_from_file(Path::new("/x/conn.log.labeled")).as_deref(),
            Some("conn")
        );
        assert_eq!(
            log_name_from_file(Path::new("DNS.log")).as_deref(),
            Some("dns")
        );
    }
}
