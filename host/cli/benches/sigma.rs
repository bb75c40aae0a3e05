//! Sigma benchmark (`just bench`): one `sigma_detector` run over 200,000
//! Windows Security events in the embedded store with 100 rules compiled
//! (the project's own and generated SigmaHQ-style process-creation and
//! Security rules in the rules folder). Reports the events per second the
//! engine matches inside the component (goal ≥ 50,000/s on two cores, the
//! store's reading not counted), the rule set's compile time, and the whole
//! run. Needs `just skills` and the optimized binary cargo builds for
//! benches.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use sc_core::clock::ManualClock;
use sc_core::config::Config;
use sc_core::run::{RunRequest, Trigger};
use sc_runtime::SkillHost;
use sc_testkit::bench::install;

/// Programs and command-line fragments of the generated rules (the kind
/// SigmaHQ's process-creation rules look for).
const LOLBINS: [(&str, &str); 28] = [
    ("certutil.exe", "-urlcache"),
    ("certutil.exe", "-decode"),
    ("bitsadmin.exe", "/transfer"),
    ("mshta.exe", "javascript:"),
    ("mshta.exe", "vbscript:"),
    ("regsvr32.exe", "/i:http"),
    ("rundll32.exe", "javascript:"),
    ("rundll32.exe", "comsvcs.dll"),
    ("wmic.exe", "shadowcopy delete"),
    ("vssadmin.exe", "delete shadows"),
    ("bcdedit.exe", "recoveryenabled no"),
    ("wevtutil.exe", " cl "),
    ("schtasks.exe", "/create"),
    ("sc.exe", "binpath="),
    ("reg.exe", "save hklm\\sam"),
    (
        "reg.exe",
        "add hklm\\software\\microsoft\\windows\\currentversion\\run",
    ),
    ("powershell.exe", "-encodedcommand"),
    ("powershell.exe", "downloadstring("),
    ("powershell.exe", "invoke-mimikatz"),
    ("powershell.exe", "-windowstyle hidden"),
    ("cmd.exe", "/c echo"),
    ("net.exe", "group \"domain admins\""),
    ("net.exe", "user /add"),
    ("nltest.exe", "/domain_trusts"),
    ("whoami.exe", "/priv"),
    ("msiexec.exe", "/q http"),
    ("installutil.exe", "/logfile="),
    ("cscript.exe", ".vbs"),
];

/// Event data of the generated Security rules: event id, field, value.
const SECURITY: [(u32, &str, &str); 28] = [
    (4624, "LogonProcessName", "Kerberos-bench"),
    (4625, "Status", "0xc000006a"),
    (4625, "SubStatus", "0xc0000064"),
    (4648, "TargetServerName", "dc-bench"),
    (4672, "PrivilegeList", "SeDebugPrivilege"),
    (4688, "TokenElevationType", "%%1937"),
    (4697, "ServiceFileName", "\\temp\\"),
    (4698, "TaskContent", "powershell"),
    (4699, "TaskName", "\\Microsoft\\Windows\\bench"),
    (4702, "TaskContent", "cmd.exe"),
    (4719, "AuditPolicyChanges", "%%8448"),
    (4720, "TargetUserName", "bench$"),
    (4722, "TargetUserName", "guest"),
    (4724, "TargetUserName", "krbtgt"),
    (4728, "TargetUserName", "Domain Admins"),
    (4732, "TargetUserName", "Administrators"),
    (4738, "UserAccountControl", "%%2089"),
    (4740, "TargetUserName", "administrator"),
    (4768, "TicketEncryptionType", "0x17"),
    (4769, "TicketEncryptionType", "0x17"),
    (4771, "Status", "0x12"),
    (4776, "Status", "0xc0000234"),
    (4794, "Status", "0x0"),
    (5136, "AttributeLDAPDisplayName", "msDS-KeyCredentialLink"),
    (5140, "ShareName", "\\\\*\\C$"),
    (5145, "RelativeTargetName", "svcctl"),
    (5156, "DestPort", "4444"),
    (5157, "DestPort", "4444"),
];

/// The generated rules, one file each, SigmaHQ-style.
fn generated_rules(folder: &Path, count: usize) {
    std::fs::create_dir_all(folder).expect("rules folder");
    let mut written = 0;
    for (i, (image, fragment)) in LOLBINS.iter().enumerate() {
        if written == count {
            return;
        }
        let text = format!(
            "title: Bench Suspicious {image} Use {i}\nid: 00000000-0000-4000-8000-{i:012}\nauthor: SecurityClaw bench\nlogsource:\n  category: process_creation\n  product: windows\ndetection:\n  selection_img:\n    - Image|endswith: '\\{image}'\n    - OriginalFileName: '{image}'\n  selection_cli:\n    CommandLine|contains: '{fragment}'\n  condition: all of selection_*\nlevel: high\ntags: [attack.execution, attack.t1059]\n"
        );
        std::fs::write(folder.join(format!("proc_{i:02}.yml")), text).expect("rule");
        written += 1;
    }
    for (i, (code, field, value)) in SECURITY.iter().enumerate() {
        if written == count {
            return;
        }
        let text = format!(
            "title: Bench Security Event {code} {i}\nid: 00000000-0000-4000-9000-{i:012}\nauthor: SecurityClaw bench\nlogsource:\n  product: windows\n  service: security\ndetection:\n  selection:\n    EventID: {code}\n    {field}|contains: '{}'\n  filter:\n    SubjectUserName|endswith: '$'\n  condition: selection and not filter\nlevel: medium\n",
            value.replace('\'', "''")
        );
        std::fs::write(folder.join(format!("security_{i:02}.yml")), text).expect("rule");
        written += 1;
    }
}

/// `n` Security-log events as ingest stores them: logons, failures,
/// process starts with command lines, share access, firewall connections.
fn synthetic(start: DateTime<Utc>, n: usize) -> Vec<(Option<String>, Value)> {
    let programs = [
        (
            "C:\\Windows\\System32\\svchost.exe",
            "svchost.exe -k netsvcs -p -s Schedule",
        ),
        (
            "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
            "chrome.exe --type=renderer --lang=en-US",
        ),
        ("C:\\Windows\\System32\\cmd.exe", "cmd.exe /c dir C:\\Users"),
        (
            "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "powershell.exe -NoProfile -File C:\\scripts\\inventory.ps1",
        ),
        (
            "C:\\Windows\\System32\\conhost.exe",
            "\\??\\C:\\Windows\\system32\\conhost.exe 0xffffffff -ForceV1",
        ),
    ];
    (0..n)
        .map(|i| {
            let at = start + Duration::milliseconds(i as i64 * 400);
            let host = format!("WS{:03}.corp.example", i % 200);
            let user = format!("user{:03}", i % 500);
            let ip = format!("10.1.{}.{}", (i / 250) % 250, i % 250);
            let (code, data, extra) = match i % 20 {
                0..=7 => (4624, json!({"TargetUserName": user, "LogonType": if i % 3 == 0 { 3 } else { 2 }, "IpAddress": ip, "AuthenticationPackageName": "Kerberos", "LogonProcessName": "Kerberos", "SubjectUserName": "-"}), json!({})),
                8 | 9 => (4625, json!({"TargetUserName": user, "LogonType": 3, "IpAddress": ip, "Status": "0xc000006d", "SubjectUserName": "-"}), json!({})),
                10..=15 => {
                    let (exe, cmd) = programs[i % programs.len()];
                    (4688, json!({"NewProcessName": exe, "CommandLine": cmd, "SubjectUserName": user, "ParentProcessName": "C:\\Windows\\explorer.exe"}),
                        json!({"process": {"executable": exe, "command_line": cmd, "parent": {"executable": "C:\\Windows\\explorer.exe"}}, "event": {"action": "created-process"}}))
                }
                16 | 17 => (5145, json!({"ShareName": "\\\\*\\IPC$", "RelativeTargetName": "srvsvc", "IpAddress": ip, "SubjectUserName": user, "AccessMask": "0x12019f"}), json!({})),
                18 => (4672, json!({"SubjectUserName": user, "PrivilegeList": "SeSecurityPrivilege"}), json!({})),
                _ => (5156, json!({"SourceAddress": ip, "DestAddress": "10.0.0.10", "DestPort": "443", "Application": "\\device\\harddiskvolume1\\windows\\system32\\svchost.exe"}), json!({})),
            };
            let mut doc = json!({
                "@timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "event": {"code": code.to_string(), "module": "winlog"},
                "host": {"name": host},
                "winlog": {"channel": "Security", "event_id": code.to_string(), "computer_name": host, "event_data": data},
            });
            if let (Value::Object(doc), Value::Object(extra)) = (&mut doc, extra) {
                for (k, v) in extra {
                    match (doc.get_mut(&k), v) {
                        (Some(Value::Object(have)), Value::Object(more)) => have.extend(more),
                        (_, v) => {
                            doc.insert(k, v);
                        }
                    }
                }
            }
            (Some(format!("w{i}")), doc)
        })
        .collect()
}

fn main() {
    // `cargo test --all-targets` runs benches too: then a small smoke run.
    let full = std::env::args().any(|arg| arg == "--bench");
    let events = if full { 200_000 } else { 5_000 };
    let dir = tempfile::tempdir().expect("tempdir");
    install(&dir.path().join("skills"), &["sigma_detector"]);
    let mut config = Config {
        skills_dir: dir.path().join("skills"),
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    config.memory.path = config.data_dir.join("runtime_memory.db");
    config.db.embedded.path = config.data_dir.join("store");
    config.limits.timeout_ms = 600_000;
    config.limits.memory_mb = 2048;
    // The project's 44 rules and 56 generated ones: 100.
    generated_rules(&config.data_dir.join("sigma/bench"), 56);
    let start: DateTime<Utc> = "2026-11-30T00:00:00Z".parse().expect("time");
    let end = start + Duration::days(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        {
            let load = sc_backends::open_telemetry(&config).expect("store").load;
            for chunk in synthetic(start, events).chunks(50_000) {
                load.stage("logs-winlog-security", chunk.to_vec())
                    .await
                    .expect("stage");
            }
            load.finish().await.expect("commit");
        }
        let clock = Arc::new(ManualClock::new(end));
        let host = SkillHost::new(
            Arc::new(config.clone()),
            sc_backends::open(&config).expect("backends"),
            clock,
        )
        .expect("host");
        let loading = host.clone();
        tokio::task::spawn_blocking(move || loading.load_all())
            .await
            .expect("load");
        let mut request = RunRequest::new(
            "sigma_detector",
            Trigger::Schedule,
            json!({"initial_lookback_hours": 0, "max_events": events}),
        );
        request.now = Some(end);
        let started = Instant::now();
        let report = host.run(request).await.expect("run");
        let seconds = started.elapsed().as_secs_f64();
        let timing = &report.result["timing"];
        let rules = report.result["rules"]["compiled"].as_u64().unwrap_or(0);
        println!(
            "{:<48} {:>8.3} s  {:?}: {}",
            "sigma_detector run",
            seconds,
            report.status,
            report.summary.chars().take(100).collect::<String>()
        );
        println!(
            "{:<48} {:>8.0} events/s ({} events, {:.1} ms in the engine; goal ≥ 50,000/s)",
            format!("sigma_detector matching, {rules} rules"),
            timing["events_per_second"].as_f64().unwrap_or(0.0),
            timing["events_matched"],
            timing["match_ms"].as_f64().unwrap_or(0.0),
        );
        println!(
            "{:<48} {:>8.1} ms",
            format!("sigma_detector compile, {rules} rules"),
            timing["compile_ms"].as_f64().unwrap_or(0.0)
        );
        assert_eq!(rules, 100, "{}", report.result["problems"]);
    });
}
