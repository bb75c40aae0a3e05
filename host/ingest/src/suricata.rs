//! Suricata eve.json records mapped to ECS, by `event_type`.

use serde_json::{Map, Value, json};

use crate::Event;
use crate::ecs::{
    Doc, Labels, as_text, as_u64, clean_ip, format_timestamp, get_path, index_part,
    parse_time_text, put, put_namespace, put_some, stable_id, sum_counts,
};
use crate::zeek::put_tls_version;

fn text<'a>(o: &'a Map<String, Value>, dotted: &str) -> Option<&'a str> {
    get_path(o, dotted)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn number(o: &Map<String, Value>, dotted: &str) -> Option<u64> {
    get_path(o, dotted).and_then(as_u64)
}

fn cloned(o: &Map<String, Value>, dotted: &str) -> Option<Value> {
    get_path(o, dotted).cloned()
}

/// Map one eve.json object to an ECS event; `raw` is the record as read, for the id.
pub(crate) fn to_event(
    mut eve: Map<String, Value>,
    raw: &[u8],
    keep_labels: bool,
) -> Result<Event, String> {
    let labels = Labels::take(&mut eve);
    let event_type = text(&eve, "event_type")
        .ok_or("missing field `event_type`")?
        .to_owned();
    let stamp = text(&eve, "timestamp").ok_or("missing field `timestamp`")?;
    let time = parse_time_text(stamp)
        .ok_or_else(|| format!("field `timestamp`: `{stamp}` is not a time"))?;

    let part = index_part(&event_type);
    let mut doc = Doc::new();
    put(&mut doc, "@timestamp", json!(format_timestamp(time)));
    put(&mut doc, "event.module", json!("suricata"));
    put(
        &mut doc,
        "event.dataset",
        json!(format!("suricata.{}", part.replace('.', "_"))),
    );

    let ip = |key| text(&eve, key).and_then(clean_ip).map(Value::String);
    put_some(&mut doc, "source.ip", ip("src_ip"));
    put_some(
        &mut doc,
        "source.port",
        number(&eve, "src_port").map(Value::from),
    );
    put_some(&mut doc, "destination.ip", ip("dest_ip"));
    put_some(
        &mut doc,
        "destination.port",
        number(&eve, "dest_port").map(Value::from),
    );
    put_some(
        &mut doc,
        "network.transport",
        text(&eve, "proto").map(|p| json!(p.to_ascii_lowercase())),
    );
    // Suricata says `failed` when it could not tell the application protocol.
    put_some(
        &mut doc,
        "network.protocol",
        text(&eve, "app_proto")
            .filter(|p| !matches!(*p, "failed" | "unknown"))
            .map(|p| json!(p.to_ascii_lowercase())),
    );
    put_some(
        &mut doc,
        "network.community_id",
        cloned(&eve, "community_id"),
    );
    put_some(&mut doc, "observer.name", cloned(&eve, "host"));
    // `flow_id` is shared by a flow and its alerts, so it is no `event.id`; it stays in
    // `suricata.eve.flow_id` for joining them.

    // Flow counters ride along on flow records and on alerts.
    let (to_server, to_client) = (
        number(&eve, "flow.bytes_toserver"),
        number(&eve, "flow.bytes_toclient"),
    );
    put_some(&mut doc, "source.bytes", to_server.map(Value::from));
    put_some(&mut doc, "destination.bytes", to_client.map(Value::from));
    put_some(&mut doc, "network.bytes", sum_counts(to_server, to_client));
    let (pk_server, pk_client) = (
        number(&eve, "flow.pkts_toserver"),
        number(&eve, "flow.pkts_toclient"),
    );
    put_some(&mut doc, "source.packets", pk_server.map(Value::from));
    put_some(&mut doc, "destination.packets", pk_client.map(Value::from));
    put_some(
        &mut doc,
        "network.packets",
        sum_counts(pk_server, pk_client),
    );
    let start = text(&eve, "flow.start").and_then(parse_time_text);
    let end = text(&eve, "flow.end").and_then(parse_time_text);
    if let Some(start) = start {
        put(&mut doc, "event.start", json!(format_timestamp(start)));
    }
    if let Some(end) = end {
        put(&mut doc, "event.end", json!(format_timestamp(end)));
    }
    if let (Some(start), Some(end)) = (start, end)
        && let Some(nanos) = (end - start).num_nanoseconds()
    {
        put(&mut doc, "event.duration", json!(nanos));
    }

    // The protocol sections can appear on their own records and on alerts and fileinfo.
    dns(&mut doc, &eve);
    http(&mut doc, &eve);
    tls(&mut doc, &eve);
    put_some(&mut doc, "file.name", cloned(&eve, "fileinfo.filename"));
    put_some(
        &mut doc,
        "file.size",
        number(&eve, "fileinfo.size").map(Value::from),
    );

    let mut kind = "event";
    let (category, event_type_ecs): (&[&str], Vec<&str>) = match event_type.as_str() {
        "alert" => {
            kind = "alert";
            alert(&mut doc, &eve);
            let blocked = matches!(text(&eve, "alert.action"), Some("blocked" | "drop"));
            (
                &["network", "intrusion_detection"],
                vec![if blocked { "denied" } else { "allowed" }],
            )
        }
        "flow" | "netflow" => (&["network"], vec!["connection"]),
        "http" => (&["network", "web"], vec!["protocol"]),
        "dns" | "tls" | "ssh" | "smb" | "smtp" | "ftp" | "dhcp" | "krb5" | "rdp" | "quic"
        | "snmp" | "sip" | "mqtt" | "nfs" => (&["network"], vec!["protocol"]),
        "fileinfo" => (&["network", "file"], vec!["info"]),
        _ => (&["network"], vec!["info"]),
    };
    put(&mut doc, "event.kind", json!(kind));
    put(&mut doc, "event.category", json!(category));
    put(&mut doc, "event.type", json!(event_type_ecs));

    put_namespace(&mut doc, "suricata.eve", eve);
    if keep_labels {
        labels.apply(&mut doc);
    }
    Ok(Event {
        id: stable_id(&[event_type.as_bytes(), raw]),
        index: format!("logs-suricata-{part}"),
        kind: event_type,
        doc: Value::Object(doc),
    })
}

fn alert(doc: &mut Doc, eve: &Map<String, Value>) {
    put_some(doc, "rule.name", cloned(eve, "alert.signature"));
    put_some(
        doc,
        "rule.id",
        get_path(eve, "alert.signature_id")
            .and_then(as_text)
            .map(Value::String),
    );
    put_some(doc, "rule.category", cloned(eve, "alert.category"));
    put_some(
        doc,
        "event.severity",
        number(eve, "alert.severity").map(Value::from),
    );
    put_some(doc, "message", cloned(eve, "alert.signature"));
}

fn dns(doc: &mut Doc, eve: &Map<String, Value>) {
    let Some(Value::Object(dns)) = eve.get("dns") else {
        return;
    };
    // eve v1/v2 put the question on the record; eve v3 (Suricata 7+) in `queries`.
    let question = dns
        .get("queries")
        .and_then(Value::as_array)
        .and_then(|q| q.first())
        .and_then(Value::as_object)
        .unwrap_or(dns);
    put_some(doc, "dns.question.name", question.get("rrname").cloned());
    put_some(doc, "dns.question.type", question.get("rrtype").cloned());
    put_some(doc, "dns.response_code", dns.get("rcode").cloned());
    put_some(doc, "dns.type", dns.get("type").cloned());
    put_some(
        doc,
        "dns.id",
        dns.get("id").and_then(as_text).map(Value::String),
    );
    let answers = dns.get("answers").and_then(Value::as_array);
    let ips: Vec<String> = answers
        .into_iter()
        .flatten()
        .filter_map(|a| a.get("rdata").and_then(Value::as_str))
        .filter_map(clean_ip)
        .collect();
    if !ips.is_empty() {
        put(doc, "dns.resolved_ip", json!(ips));
    }
}

fn http(doc: &mut Doc, eve: &Map<String, Value>) {
    if !eve.contains_key("http") {
        return;
    }
    put_some(doc, "url.domain", cloned(eve, "http.hostname"));
    put_some(doc, "url.original", cloned(eve, "http.url"));
    put_some(doc, "http.request.method", cloned(eve, "http.http_method"));
    put_some(doc, "http.request.referrer", cloned(eve, "http.http_refer"));
    put_some(
        doc,
        "http.response.status_code",
        number(eve, "http.status").map(Value::from),
    );
    put_some(
        doc,
        "http.response.body.bytes",
        number(eve, "http.length").map(Value::from),
    );
    put_some(
        doc,
        "http.response.mime_type",
        cloned(eve, "http.http_content_type"),
    );
    put_some(
        doc,
        "user_agent.original",
        cloned(eve, "http.http_user_agent"),
    );
    put_some(
        doc,
        "http.version",
        text(eve, "http.protocol").map(|p| json!(p.trim_start_matches("HTTP/"))),
    );
}

fn tls(doc: &mut Doc, eve: &Map<String, Value>) {
    if !eve.contains_key("tls") {
        return;
    }
    put_some(doc, "tls.server.name", cloned(eve, "tls.sni"));
    if let Some(version) = text(eve, "tls.version") {
        put_tls_version(doc, version);
    }
    put_some(doc, "tls.server.subject", cloned(eve, "tls.subject"));
    put_some(doc, "tls.server.issuer", cloned(eve, "tls.issuerdn"));
    put_some(doc, "tls.client.ja3", cloned(eve, "tls.ja3.hash"));
    put_some(doc, "tls.server.ja3s", cloned(eve, "tls.ja3s.hash"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(line: &str) -> Event {
        let eve = serde_json::from_str(line).unwrap();
        to_event(eve, line.as_bytes(), false).unwrap()
    }

    #[test]
    fn alert_maps_rule_and_flow() {
        let e = event(
            r#"{"timestamp":"2021-06-06T15:59:46.457984+0200","flow_id":1374195536821504,"event_type":"alert","src_ip":"78.36.196.213","src_port":51698,"dest_ip":"192.168.1.129","dest_port":445,"proto":"TCP","alert":{"action":"allowed","signature_id":2403388,"signature":"ET CINS Poor Reputation IP group 89","category":"Misc Attack","severity":2},"flow":{"pkts_toserver":1,"pkts_toclient":0,"bytes_toserver":60,"bytes_toclient":0,"start":"2021-06-06T15:59:46.457984+0200"},"host":"stratosphere.org","label":"Malicious"}"#,
        );
        assert_eq!(e.index, "logs-suricata-alert");
        assert_eq!(e.kind, "alert");
        let d = &e.doc;
        assert_eq!(d["@timestamp"], "2021-06-06T13:59:46.457Z");
        assert_eq!(d["event"]["kind"], "alert");
        assert_eq!(d["event"]["type"], json!(["allowed"]));
        assert_eq!(d["rule"]["name"], "ET CINS Poor Reputation IP group 89");
        assert_eq!(d["rule"]["id"], "2403388");
        assert_eq!(d["rule"]["category"], "Misc Attack");
        assert_eq!(d["event"]["severity"], 2);
        assert_eq!(d["source"]["ip"], "78.36.196.213");
        assert_eq!(d["destination"]["port"], 445);
        assert_eq!(d["network"]["transport"], "tcp");
        assert_eq!(d["network"]["bytes"], 60);
        assert_eq!(d["network"]["packets"], 1);
        assert_eq!(d["suricata"]["eve"]["alert"]["signature_id"], 2403388);
        assert!(d["suricata"]["eve"].get("label").is_none());
        assert!(d.get("labels").is_none());
    }

    #[test]
    fn dns_answer_and_flow_duration() {
        let e = event(
            r#"{"timestamp":"2021-06-06T16:26:27.442512+0200","event_type":"dns","src_ip":"192.168.1.129","src_port":35790,"dest_ip":"192.168.1.1","dest_port":53,"proto":"UDP","dns":{"version":2,"type":"answer","id":2,"rrname":"www.google.com","rrtype":"A","rcode":"NOERROR","answers":[{"rrname":"www.google.com","rrtype":"A","ttl":91,"rdata":"172.217.23.196"}]}}"#,
        );
        assert_eq!(e.index, "logs-suricata-dns");
        let d = &e.doc;
        assert_eq!(d["dns"]["question"]["name"], "www.google.com");
        assert_eq!(d["dns"]["question"]["type"], "A");
        assert_eq!(d["dns"]["response_code"], "NOERROR");
        assert_eq!(d["dns"]["resolved_ip"], json!(["172.217.23.196"]));

        let f = event(
            r#"{"timestamp":"2021-06-06T15:57:37.272281+0200","event_type":"flow","proto":"UDP","app_proto":"failed","flow":{"bytes_toserver":4056,"bytes_toclient":10,"start":"2021-06-06T16:38:55.855844+0200","end":"2021-06-06T16:38:56.963027+0200"}}"#,
        );
        assert_eq!(f.doc["event"]["duration"], 1_107_183_000_i64);
        assert_eq!(f.doc["network"]["bytes"], 4066);
        assert!(f.doc["network"].get("protocol").is_none());
        assert_eq!(f.doc["event"]["type"], json!(["connection"]));
    }

    #[test]
    fn http_and_tls() {
        let h = event(
            r#"{"timestamp":"2021-06-06T15:57:37.272281+0200","event_type":"http","http":{"hostname":"147.32.82.197","url":"/","http_user_agent":"Mozilla/5.0","http_method":"GET","protocol":"HTTP/1.1","status":404,"length":0}}"#,
        );
        assert_eq!(h.doc["http"]["request"]["method"], "GET");
        assert_eq!(h.doc["http"]["response"]["status_code"], 404);
        assert_eq!(h.doc["http"]["version"], "1.1");
        assert_eq!(h.doc["url"]["original"], "/");
        assert_eq!(h.doc["user_agent"]["original"], "Mozilla/5.0");
        let t = event(
            r#"{"timestamp":"2021-06-06T16:54:00.074627+0200","event_type":"tls","tls":{"sni":"www.myedimax.com","version":"TLS 1.1","ja3":{"hash":"b720"}}}"#,
        );
        assert_eq!(t.doc["tls"]["server"]["name"], "www.myedimax.com");
        assert_eq!(t.doc["tls"]["version"], "1.1");
        assert_eq!(t.doc["tls"]["client"]["ja3"], "b720");
    }

    #[test]
    fn missing_event_type_or_time_is_an_error() {
        let no_type: Map<String, Value> =
            serde_json::from_str(r#"{"timestamp":"2021-06-06T15:57:37Z"}"#).unwrap();
        assert!(
            to_event(no_type, b"", false)
                .unwrap_err()
                .contains("event_type")
        );
        let bad_time: Map<String, Value> =
            serde_json::from_str(r#"{"timestamp":"soon","event_type":"flow"}"#).unwrap();
        assert!(
            to_event(bad_time, b"", false)
                .unwrap_err()
                .contains("timestamp")
        );
    }
}
