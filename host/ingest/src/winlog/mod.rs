//! Windows event logs (`.evtx`): read chunk by chunk with the `evtx` crate and mapped to
//! ECS (`winlog.*`, `event.code`, `user.*`, `source.*`, `process.*`).

use serde_json::{Map, Value, json};

use crate::Event;
use crate::ecs::{
    Doc, as_text, as_u64, clean_ip, format_timestamp, index_part, parse_time_text, put,
    put_namespace, put_some, stable_id,
};

mod reader;

pub(crate) use reader::EvtxReader;

/// The index suffix for a channel: `Security` → `security`,
/// `Microsoft-Windows-Sysmon/Operational` → `sysmon`.
pub(crate) fn channel_index_part(channel: &str) -> String {
    let lower = channel.to_ascii_lowercase();
    let short = lower.strip_prefix("microsoft-windows-").unwrap_or(&lower);
    let short = short.strip_suffix("/operational").unwrap_or(short);
    index_part(short)
}

/// A field under `Event.System`, looking through `{"#attributes": …, "#text": …}` wrappers.
fn system<'a>(sys: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    let value = sys.get(key)?;
    match value {
        Value::Object(o) if o.contains_key("#text") => o.get("#text"),
        other => Some(other),
    }
}

fn attribute<'a>(sys: &'a Map<String, Value>, key: &str, attr: &str) -> Option<&'a Value> {
    sys.get(key)?.get("#attributes")?.get(attr)
}

/// `EventData` as a flat name → value map. Named `<Data Name="…">` items come out of the
/// evtx crate as keys; unnamed ones as a `Data` array, kept as `param1`, `param2`, … like
/// Winlogbeat does.
fn event_data(event_data: Option<Value>) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(Value::Object(data)) = event_data else {
        return out;
    };
    for (key, value) in data {
        if key == "#attributes" {
            continue;
        }
        if key == "Data" {
            let value = match value {
                Value::Object(mut data) if data.contains_key("#text") => {
                    data.remove("#text").unwrap_or(Value::Null)
                }
                other => other,
            };
            let items = match value {
                Value::Array(items) => items,
                Value::Null => Vec::new(),
                single => vec![single],
            };
            for (i, item) in items.into_iter().enumerate() {
                out.insert(format!("param{}", i + 1), item);
            }
            continue;
        }
        out.insert(key, value);
    }
    out
}

/// Text from event data, ignoring Windows' `-` placeholder.
fn data_text<'a>(data: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    data.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "-")
}

/// A process id written as `0x1f4` (Security log) or as a number (Sysmon). Windows writes
/// `0x0` when there is no process (network logons), which is left out.
fn pid(value: &Value) -> Option<u64> {
    let pid = match value {
        Value::String(s) => match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => s.parse().ok(),
        },
        other => as_u64(other),
    };
    pid.filter(|&p| p != 0)
}

/// What an event id means in ECS: category, type, outcome and action.
struct Meaning {
    category: &'static [&'static str],
    kind: &'static [&'static str],
    outcome: Option<&'static str>,
    action: Option<&'static str>,
}

fn meaning(channel: &str, provider: &str, code: u64, data: &Map<String, Value>) -> Option<Meaning> {
    let m = |category, kind, outcome, action| {
        Some(Meaning {
            category,
            kind,
            outcome,
            action,
        })
    };
    // Kerberos and NTLM results: Status 0x0 is success, anything else a failure.
    let status_outcome = || match data_text(data, "Status") {
        Some("0x0") | Some("0") => Some("success"),
        Some(_) => Some("failure"),
        None => None,
    };
    let auth: &'static [&'static str] = &["authentication"];
    let iam: &'static [&'static str] = &["iam"];
    if channel.eq_ignore_ascii_case("Microsoft-Windows-Sysmon/Operational") {
        return match code {
            1 => m(&["process"], &["start"], None, Some("process-created")),
            3 => m(
                &["network"],
                &["connection", "start"],
                None,
                Some("network-connection"),
            ),
            5 => m(&["process"], &["end"], None, Some("process-terminated")),
            11 => m(&["file"], &["creation"], None, Some("file-created")),
            12..=14 => m(&["registry"], &["change"], None, Some("registry-event")),
            17 | 18 => m(&["file"], &["access"], None, Some("pipe-event")),
            22 => m(&["network"], &["protocol"], None, Some("dns-query")),
            _ => None,
        };
    }
    if provider.eq_ignore_ascii_case("MSSQLSERVER") || provider.starts_with("MSSQL$") {
        return match code {
            18453..=18455 => m(auth, &["start"], Some("success"), Some("logged-in")),
            18456 => m(auth, &["start"], Some("failure"), Some("logon-failed")),
            _ => None,
        };
    }
    match code {
        4624 => m(auth, &["start"], Some("success"), Some("logged-in")),
        4625 => m(auth, &["start"], Some("failure"), Some("logon-failed")),
        4626 => m(auth, &["info"], Some("success"), Some("logon-claims")),
        4627 => m(auth, &["info"], Some("success"), Some("group-membership")),
        4634 | 4647 => m(auth, &["end"], Some("success"), Some("logged-out")),
        4648 => m(
            auth,
            &["start"],
            Some("success"),
            Some("logged-in-explicit"),
        ),
        4672 => m(iam, &["admin"], Some("success"), Some("logged-in-special")),
        4768 => m(
            auth,
            &["start"],
            status_outcome(),
            Some("kerberos-authentication-ticket-requested"),
        ),
        4769 => m(
            auth,
            &["start"],
            status_outcome(),
            Some("kerberos-service-ticket-requested"),
        ),
        4771 => m(
            auth,
            &["start"],
            Some("failure"),
            Some("kerberos-preauth-failed"),
        ),
        4776 => m(
            auth,
            &["start"],
            status_outcome(),
            Some("credential-validated"),
        ),
        4688 => m(
            &["process"],
            &["start"],
            Some("success"),
            Some("created-process"),
        ),
        4689 => m(
            &["process"],
            &["end"],
            Some("success"),
            Some("exited-process"),
        ),
        4720 => m(
            iam,
            &["user", "creation"],
            Some("success"),
            Some("added-user-account"),
        ),
        4722 => m(
            iam,
            &["user", "change"],
            Some("success"),
            Some("enabled-user-account"),
        ),
        4723 | 4724 => m(
            iam,
            &["user", "change"],
            Some("success"),
            Some("reset-password"),
        ),
        4725 => m(
            iam,
            &["user", "change"],
            Some("success"),
            Some("disabled-user-account"),
        ),
        4726 => m(
            iam,
            &["user", "deletion"],
            Some("success"),
            Some("deleted-user-account"),
        ),
        4738 => m(
            iam,
            &["user", "change"],
            Some("success"),
            Some("modified-user-account"),
        ),
        4741 => m(
            iam,
            &["creation"],
            Some("success"),
            Some("added-computer-account"),
        ),
        4742 => m(
            iam,
            &["change"],
            Some("success"),
            Some("changed-computer-account"),
        ),
        4781 => m(
            iam,
            &["user", "change"],
            Some("success"),
            Some("renamed-user-account"),
        ),
        4661 | 4662 => m(&["iam"], &["access"], None, Some("object-access")),
        5136 => m(
            iam,
            &["change"],
            Some("success"),
            Some("directory-object-modified"),
        ),
        4698 => m(
            &["configuration"],
            &["creation"],
            Some("success"),
            Some("scheduled-task-created"),
        ),
        4699 => m(
            &["configuration"],
            &["deletion"],
            Some("success"),
            Some("scheduled-task-deleted"),
        ),
        4702 => m(
            &["configuration"],
            &["change"],
            Some("success"),
            Some("scheduled-task-updated"),
        ),
        5140 | 5145 => m(
            &["network", "file"],
            &["access"],
            Some("success"),
            Some("network-share-access"),
        ),
        5156 => m(
            &["network"],
            &["connection", "allowed"],
            Some("success"),
            Some("connection-allowed"),
        ),
        5157 => m(
            &["network"],
            &["connection", "denied"],
            Some("failure"),
            Some("connection-blocked"),
        ),
        5158 => m(
            &["network"],
            &["allowed"],
            Some("success"),
            Some("bind-allowed"),
        ),
        1102 => m(
            &["configuration"],
            &["deletion"],
            Some("success"),
            Some("audit-log-cleared"),
        ),
        _ => None,
    }
}

/// Map one rendered EVTX record (the evtx crate's JSON) to an ECS event.
///
/// `header_record_id` is the id in the record's binary header, used only when the XML has
/// no `EventRecordID`: the two differ in exported logs (the SQL Server sample numbers its
/// headers 1–10 but its events 13026…), and the XML one is what Windows tools show.
pub(crate) fn to_event(mut record: Value, header_record_id: u64) -> Result<Event, String> {
    let mut event = match record.get_mut("Event").map(Value::take) {
        Some(Value::Object(event)) => event,
        _ => return Err("EVTX record without an Event element".into()),
    };
    let sys = match event.remove("System") {
        Some(Value::Object(sys)) => sys,
        _ => return Err("EVTX record without a System element".into()),
    };
    let channel = system(&sys, "Channel")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_owned();
    let computer = system(&sys, "Computer")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let record_id = system(&sys, "EventRecordID")
        .and_then(as_u64)
        .unwrap_or(header_record_id);
    let code = system(&sys, "EventID")
        .and_then(as_u64)
        .ok_or("EVTX record without an EventID")?;
    let provider = attribute(&sys, "Provider", "Name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let when = attribute(&sys, "TimeCreated", "SystemTime")
        .and_then(Value::as_str)
        .and_then(parse_time_text)
        .ok_or("EVTX record without a readable TimeCreated")?;
    let data = event_data(event.remove("EventData"));

    let slug = channel_index_part(&channel);
    let mut doc = Doc::new();
    put(&mut doc, "@timestamp", json!(format_timestamp(when)));
    put(&mut doc, "event.module", json!("winlog"));
    put(&mut doc, "event.dataset", json!(format!("winlog.{slug}")));
    put(&mut doc, "event.kind", json!("event"));
    put(&mut doc, "event.code", json!(code.to_string()));
    put_some(&mut doc, "event.provider", Some(json!(provider)));
    put_some(&mut doc, "host.name", Some(json!(computer)));
    put(&mut doc, "winlog.channel", json!(channel));
    put(&mut doc, "winlog.record_id", json!(record_id));
    put(&mut doc, "winlog.event_id", json!(code.to_string()));
    put_some(&mut doc, "winlog.computer_name", Some(json!(computer)));
    put_some(&mut doc, "winlog.provider_name", Some(json!(provider)));
    put_some(
        &mut doc,
        "winlog.provider_guid",
        attribute(&sys, "Provider", "Guid").cloned(),
    );
    put_some(
        &mut doc,
        "winlog.process.pid",
        attribute(&sys, "Execution", "ProcessID").cloned(),
    );
    put_some(
        &mut doc,
        "winlog.process.thread.id",
        attribute(&sys, "Execution", "ThreadID").cloned(),
    );
    put_some(
        &mut doc,
        "winlog.user.identifier",
        attribute(&sys, "Security", "UserID").cloned(),
    );
    put_some(
        &mut doc,
        "winlog.activity_id",
        attribute(&sys, "Correlation", "ActivityID").cloned(),
    );
    for (key, field) in [
        ("Version", "winlog.version"),
        ("Level", "winlog.level"),
        ("Task", "winlog.task"),
        ("Opcode", "winlog.opcode"),
        ("Keywords", "winlog.keywords"),
    ] {
        put_some(&mut doc, field, system(&sys, key).cloned());
    }

    if let Some(meaning) = meaning(&channel, provider, code, &data) {
        put(&mut doc, "event.category", json!(meaning.category));
        put(&mut doc, "event.type", json!(meaning.kind));
        put_some(&mut doc, "event.outcome", meaning.outcome.map(|o| json!(o)));
        put_some(&mut doc, "event.action", meaning.action.map(|a| json!(a)));
    }
    common_fields(&mut doc, &data);
    if provider.eq_ignore_ascii_case("MSSQLSERVER") || provider.starts_with("MSSQL$") {
        mssql(&mut doc, &data);
    }

    // UserData (e.g. 1102 log cleared) has one element named after the event; its fields
    // are what EventData would hold.
    if let Some(Value::Object(user_data)) = event.remove("UserData") {
        let mut user_data = user_data;
        user_data.retain(|k, _| k != "#attributes");
        // `common_fields` reads named fields only: `#attributes` is no matter.
        if let Some((_, Value::Object(inner))) = user_data.iter().next() {
            common_fields(&mut doc, inner);
        }
        put(&mut doc, "winlog.user_data", Value::Object(user_data));
    }
    // No label columns here: Windows events carry no ground truth, and a `Label` data
    // item would be real data.
    if !data.is_empty() {
        put_namespace(&mut doc, "winlog.event_data", data);
    }
    Ok(Event {
        id: stable_id(&[
            channel.as_bytes(),
            computer.as_bytes(),
            record_id.to_string().as_bytes(),
        ]),
        index: format!("logs-winlog-{slug}"),
        kind: channel,
        doc: Value::Object(doc),
    })
}

/// Fields named the same across many Security and Sysmon events.
fn common_fields(doc: &mut Doc, data: &Map<String, Value>) {
    // The account acted upon (logon target) wins over the one acting (subject).
    let user = data_text(data, "TargetUserName")
        .map(|name| {
            (
                name,
                data_text(data, "TargetDomainName"),
                data_text(data, "TargetUserSid").or_else(|| data_text(data, "TargetSid")),
            )
        })
        .or_else(|| {
            data_text(data, "SubjectUserName").map(|name| {
                (
                    name,
                    data_text(data, "SubjectDomainName"),
                    data_text(data, "SubjectUserSid"),
                )
            })
        });
    if let Some((name, domain, sid)) = user {
        put(doc, "user.name", json!(name));
        put_some(doc, "user.domain", domain.map(|d| json!(d)));
        put_some(doc, "user.id", sid.map(|s| json!(s)));
    } else if let Some(sysmon_user) = data_text(data, "User") {
        // Sysmon writes `DOMAIN\user`.
        match sysmon_user.split_once('\\') {
            Some((domain, name)) => {
                put(doc, "user.name", json!(name));
                put(doc, "user.domain", json!(domain));
            }
            None => put(doc, "user.name", json!(sysmon_user)),
        }
    }
    if let Some(subject) = data_text(data, "SubjectUserName")
        && data_text(data, "TargetUserName").is_some()
    {
        put(doc, "user.effective.name", json!(subject));
    }

    let ip = |key| data_text(data, key).and_then(clean_ip).map(Value::String);
    let port = |key| {
        data_text(data, key)
            .and_then(|p| p.parse::<u16>().ok())
            .filter(|p| *p != 0)
            .map(Value::from)
            .or_else(|| {
                data.get(key)
                    .and_then(as_u64)
                    .filter(|p| *p != 0)
                    .map(Value::from)
            })
    };
    put_some(
        doc,
        "source.ip",
        ip("IpAddress")
            .or_else(|| ip("SourceAddress"))
            .or_else(|| ip("SourceIp")),
    );
    put_some(
        doc,
        "source.port",
        port("IpPort").or_else(|| port("SourcePort")),
    );
    put_some(
        doc,
        "source.domain",
        data_text(data, "WorkstationName")
            .or_else(|| data_text(data, "Workstation"))
            .map(|w| json!(w)),
    );
    put_some(
        doc,
        "destination.ip",
        ip("DestAddress").or_else(|| ip("DestinationIp")),
    );
    put_some(
        doc,
        "destination.port",
        port("DestPort").or_else(|| port("DestinationPort")),
    );
    // The Windows Filtering Platform writes the IANA protocol number.
    match data.get("Protocol") {
        Some(Value::Number(n)) => {
            put(doc, "network.iana_number", json!(n.to_string()));
            let transport = match n.as_u64() {
                Some(6) => Some("tcp"),
                Some(17) => Some("udp"),
                Some(1) => Some("icmp"),
                Some(58) => Some("ipv6-icmp"),
                _ => None,
            };
            put_some(doc, "network.transport", transport.map(|t| json!(t)));
        }
        Some(Value::String(s)) if !s.is_empty() => {
            put(doc, "network.transport", json!(s.to_ascii_lowercase()))
        }
        _ => {}
    }
    let direction = match data_text(data, "Direction") {
        Some("%%14592") => Some("inbound"),
        Some("%%14593") => Some("outbound"),
        _ => None,
    };
    put_some(doc, "network.direction", direction.map(|d| json!(d)));

    // Process: 4688 names the new process; Sysmon uses Image/ProcessId; logon events name
    // the process that asked.
    let executable = data_text(data, "NewProcessName")
        .or_else(|| data_text(data, "Image"))
        .or_else(|| data_text(data, "ProcessName"))
        .or_else(|| data_text(data, "Application"));
    put_some(doc, "process.executable", executable.map(|e| json!(e)));
    if let Some(exe) = executable {
        let name = exe.rsplit(['\\', '/']).next().unwrap_or(exe);
        put(doc, "process.name", json!(name));
    }
    let own_pid = data
        .get("NewProcessId")
        .or_else(|| data.get("ProcessId"))
        .or_else(|| data.get("ProcessID"));
    put_some(doc, "process.pid", own_pid.and_then(pid).map(Value::from));
    put_some(
        doc,
        "process.command_line",
        data_text(data, "CommandLine").map(|c| json!(c)),
    );
    if data.contains_key("NewProcessId") {
        put_some(
            doc,
            "process.parent.pid",
            data.get("ProcessId").and_then(pid).map(Value::from),
        );
        put_some(
            doc,
            "process.parent.executable",
            data_text(data, "ParentProcessName").map(|p| json!(p)),
        );
    } else {
        put_some(
            doc,
            "process.parent.pid",
            data.get("ParentProcessId").and_then(pid).map(Value::from),
        );
        put_some(
            doc,
            "process.parent.executable",
            data_text(data, "ParentImage").map(|p| json!(p)),
        );
        put_some(
            doc,
            "process.parent.command_line",
            data_text(data, "ParentCommandLine").map(|p| json!(p)),
        );
    }
    put_some(
        doc,
        "winlog.logon.id",
        data_text(data, "TargetLogonId")
            .or_else(|| data_text(data, "SubjectLogonId"))
            .map(|l| json!(l)),
    );
    put_some(
        doc,
        "winlog.logon.type",
        data.get("LogonType").and_then(as_text).map(Value::String),
    );
}

/// SQL Server's 18456 "Login failed for user" writes its facts as unnamed strings:
/// `["sa", " Reason: …", " [CLIENT: 10.0.2.17]"]`.
fn mssql(doc: &mut Doc, data: &Map<String, Value>) {
    if let Some(user) = data_text(data, "param1") {
        put(doc, "user.name", json!(user));
    }
    for value in data.values().filter_map(Value::as_str) {
        if let Some(rest) = value.trim().strip_prefix("[CLIENT:") {
            let client = rest.trim_end_matches(']').trim();
            put_some(doc, "source.ip", clean_ip(client).map(Value::String));
        }
        if let Some(reason) = value.trim().strip_prefix("Reason:") {
            put(doc, "event.reason", json!(reason.trim()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(system: Value, data: Value) -> Value {
        json!({"Event": {"#attributes": {"xmlns": "x"}, "System": system, "EventData": data}})
    }

    fn security(code: Value, data: Value) -> Value {
        record(
            json!({
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing", "Guid": "G"}},
                "EventID": code, "Version": 0, "Level": 0, "Task": 12544, "Opcode": 0,
                "Keywords": "0x8020000000000000",
                "TimeCreated": {"#attributes": {"SystemTime": "2019-02-13T18:02:04.426662Z"}},
                "EventRecordID": 227701,
                "Execution": {"#attributes": {"ProcessID": 520, "ThreadID": 1920}},
                "Channel": "Security", "Computer": "PC01.example.corp", "Security": null
            }),
            data,
        )
    }

    #[test]
    fn logon_success_maps_user_and_source() {
        let r = security(
            json!(4624),
            json!({"SubjectUserName": "PC01$", "TargetUserName": "user01", "TargetDomainName": "EXAMPLE",
                   "TargetUserSid": "S-1-5-21-1", "LogonType": 3, "IpAddress": "::ffff:10.0.0.5", "IpPort": "4242",
                   "ProcessId": "0x704", "ProcessName": "C:\\Windows\\System32\\winlogon.exe"}),
        );
        let e = to_event(r, 227701).unwrap();
        assert_eq!(e.index, "logs-winlog-security");
        assert_eq!(e.kind, "Security");
        assert_eq!(
            e.id,
            stable_id(&[b"Security", b"PC01.example.corp", b"227701"])
        );
        let d = &e.doc;
        assert_eq!(d["@timestamp"], "2019-02-13T18:02:04.426Z");
        assert_eq!(d["event"]["code"], "4624");
        assert_eq!(d["event"]["outcome"], "success");
        assert_eq!(d["event"]["category"], json!(["authentication"]));
        assert_eq!(d["host"]["name"], "PC01.example.corp");
        assert_eq!(d["user"]["name"], "user01");
        assert_eq!(d["user"]["domain"], "EXAMPLE");
        assert_eq!(d["source"]["ip"], "10.0.0.5");
        assert_eq!(d["source"]["port"], 4242);
        assert_eq!(d["process"]["pid"], 0x704);
        assert_eq!(d["process"]["name"], "winlogon.exe");
        assert_eq!(d["winlog"]["logon"]["type"], "3");
        assert_eq!(d["winlog"]["event_data"]["TargetUserName"], "user01");
        assert_eq!(d["winlog"]["record_id"], 227701);
    }

    #[test]
    fn failures_and_qualified_event_ids() {
        for code in [
            json!(4625),
            json!(4771),
            json!({"#attributes": {"Qualifiers": 0}, "#text": 4625}),
        ] {
            let e = to_event(
                security(
                    code,
                    json!({"TargetUserName": "x", "IpAddress": "-", "IpPort": "-"}),
                ),
                1,
            )
            .unwrap();
            assert_eq!(e.doc["event"]["outcome"], "failure");
            assert!(e.doc.get("source").is_none());
        }
        let ok = to_event(
            security(json!(4776), json!({"TargetUserName": "a", "Status": "0x0"})),
            1,
        )
        .unwrap();
        assert_eq!(ok.doc["event"]["outcome"], "success");
        let bad = to_event(
            security(json!(4768), json!({"TargetUserName": "a", "Status": "0x6"})),
            1,
        )
        .unwrap();
        assert_eq!(bad.doc["event"]["outcome"], "failure");
    }

    #[test]
    fn mssql_unnamed_data() {
        let r = record(
            json!({"Provider": {"#attributes": {"Name": "MSSQLSERVER"}},
                   "EventID": {"#attributes": {"Qualifiers": 49152}, "#text": 18456},
                   "TimeCreated": {"#attributes": {"SystemTime": "2019-11-04T13:46:01.171339Z"}},
                   "EventRecordID": 13026, "Channel": "Application", "Computer": "MSEDGEWIN10"}),
            json!({"Data": {"#text": ["sa", " Reason: Password did not match that for the login provided.", " [CLIENT: 10.0.2.17]"]}, "Binary": "18"}),
        );
        let e = to_event(r, 13026).unwrap();
        assert_eq!(e.index, "logs-winlog-application");
        assert_eq!(e.doc["event"]["code"], "18456");
        assert_eq!(e.doc["event"]["outcome"], "failure");
        assert_eq!(e.doc["user"]["name"], "sa");
        assert_eq!(e.doc["source"]["ip"], "10.0.2.17");
        assert_eq!(e.doc["winlog"]["event_data"]["param1"], "sa");
    }

    #[test]
    fn sysmon_network_connection() {
        let r = record(
            json!({"Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}}, "EventID": 3,
                   "TimeCreated": {"#attributes": {"SystemTime": "2021-04-20T20:33:01.944115Z"}},
                   "EventRecordID": 578500, "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": "MSEDGEWIN10",
                   "Security": {"#attributes": {"UserID": "S-1-5-18"}}}),
            json!({"ProcessId": 2532, "Image": "C:\\Windows\\powershell.exe", "User": "MSEDGEWIN10\\IEUser",
                   "Protocol": "tcp", "SourceIp": "127.0.0.1", "SourcePort": 49925, "DestinationIp": "127.0.0.1", "DestinationPort": 445}),
        );
        let e = to_event(r, 578500).unwrap();
        assert_eq!(e.index, "logs-winlog-sysmon");
        let d = &e.doc;
        assert_eq!(d["event"]["category"], json!(["network"]));
        assert_eq!(d["user"]["name"], "IEUser");
        assert_eq!(d["user"]["domain"], "MSEDGEWIN10");
        assert_eq!(d["source"]["port"], 49925);
        assert_eq!(d["destination"]["port"], 445);
        assert_eq!(d["network"]["transport"], "tcp");
        assert_eq!(d["process"]["pid"], 2532);
    }

    #[test]
    fn channel_slugs() {
        assert_eq!(channel_index_part("Security"), "security");
        assert_eq!(
            channel_index_part("Microsoft-Windows-Sysmon/Operational"),
            "sysmon"
        );
        assert_eq!(
            channel_index_part("Microsoft-Windows-PowerShell/Operational"),
            "powershell"
        );
        assert_eq!(
            channel_index_part("Windows PowerShell"),
            "windows_powershell"
        );
    }

    #[test]
    fn records_without_system_are_errors() {
        assert!(to_event(json!({"Event": {}}), 1).is_err());
        assert!(to_event(json!({}), 1).is_err());
    }
}
