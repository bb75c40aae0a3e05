//! Retrieval on every store with the real MiniLM embedding model: the
//! embedded SQLite store and Elasticsearch (noida-db, or a real cluster at
//! `SC_TEST_ELASTICSEARCH_URL`) run the same assertions. osmem-server has no
//! k-NN, so OpenSearch's requests are checked against canned answers in
//! `tests/fixtures/opensearch-knn/`, and the same assertions run live when
//! `SC_TEST_OPENSEARCH_URL` points at a cluster with the k-NN plugin.

use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use serde_json::{Value, json};

use sc_backends::open_llm;
use sc_backends::rag_cluster::{ClusterRag, VectorFlavor};
use sc_backends::rag_sqlite::SqliteRag;
use sc_backends::store_cluster::ClusterDb;
use sc_core::CapabilityError;
use sc_core::llm::{ChatOptions, ChatResponse, LlmBackend, Message};
use sc_core::rag::RetrievalPath;
use sc_core::rag::{Document, RagBackend, document_id};

use sc_testkit::{cluster_config, cluster_url, embedded_models, repo_root};

const THRESHOLD: f32 = 0.3;

/// MiniLM (384 dimensions), loaded once per test process.
fn minilm() -> Arc<dyn LlmBackend> {
    static MODEL: OnceLock<Arc<dyn LlmBackend>> = OnceLock::new();
    MODEL
        .get_or_init(|| open_llm(&embedded_models()).expect("embedded models").0)
        .clone()
}

/// An embedding model of another size: MiniLM's first `dims` components,
/// as when a deployment switches embedding models.
struct Resized(Arc<dyn LlmBackend>, usize);

#[async_trait::async_trait]
impl LlmBackend for Resized {
    async fn chat(
        &self,
        messages: Vec<Message>,
        options: ChatOptions,
    ) -> Result<ChatResponse, CapabilityError> {
        self.0.chat(messages, options).await
    }

    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, CapabilityError> {
        let mut vectors = self.0.embed(texts).await?;
        for v in &mut vectors {
            v.truncate(self.1);
        }
        Ok(vectors)
    }
}

const BASELINE: &str = "network_baseline";
const VERDICTS: &str = "verdicts";

fn doc(category: &str, entity: &str, text: &str) -> Document {
    Document {
        category: category.into(),
        entity: entity.into(),
        window: Some("2026-11-26".into()),
        text: text.into(),
        source: "zeek conn".into(),
        metadata: json!({"index": "logs-zeek-conn", "skill": "network_baseliner"}).to_string(),
        valid_until: None,
    }
}

fn documents() -> Vec<Document> {
    let mut expired = doc(
        BASELINE,
        "10.0.0.66",
        "Host 10.0.0.66 sends DNS queries to the resolver every minute",
    );
    expired.valid_until = Some("2001-01-01T00:00:00Z".into());
    vec![
        doc(
            BASELINE,
            "10.0.0.5",
            "Host 10.0.0.5 sends DNS queries to the internal resolver every minute",
        ),
        doc(
            BASELINE,
            "10.0.0.9",
            "Web server 10.0.0.9 answers HTTPS requests from office workstations during business hours",
        ),
        doc(
            BASELINE,
            "10.0.0.7",
            "Printer 10.0.0.7 stays idle all night and prints a few jobs in the morning",
        ),
        doc(
            VERDICTS,
            "203.0.113.4",
            "Hundreds of failed SSH logins from 203.0.113.4 were judged a brute-force attempt",
        ),
        expired,
    ]
}

fn categories(names: &[&str]) -> Vec<String> {
    names.iter().map(|c| (*c).to_owned()).collect()
}

/// What every store must do: store with stable ids, vector retrieval
/// ranked by meaning with the threshold, category filter, expiry, a
/// refreshed document replacing the old one, and BM25 through `lexical`
/// (the same store without an embedding model). Answers the top cosine of a
/// fixed query, for comparing stores.
async fn retrieval_contract(rag: &dyn RagBackend, lexical: &dyn RagBackend, store: &str) -> f32 {
    let docs = documents();
    let ids = rag.store("network_baseliner", docs).await.expect("store");
    assert_eq!(ids.len(), 5);
    assert_eq!(
        ids[0],
        document_id(BASELINE, "10.0.0.5", Some("2026-11-26")),
        "{store}: ids are stable per (category, entity, window)"
    );

    let found = rag
        .retrieve(
            "which machine keeps doing DNS lookups all the time",
            3,
            &categories(&[BASELINE]),
        )
        .await
        .expect("retrieve");
    assert_eq!(found.path, RetrievalPath::Vector, "{store}");
    assert!(!found.hits.is_empty(), "{store}: nothing found");
    assert_eq!(
        found.hits[0].entity, "10.0.0.5",
        "{store}: {:?}",
        found.hits
    );
    assert_eq!(found.hits[0].source, "zeek conn");
    let metadata: Value = serde_json::from_str(&found.hits[0].metadata).expect("metadata JSON");
    assert_eq!(metadata["index"], "logs-zeek-conn", "{store}: provenance");
    assert!(
        found.hits.iter().all(|h| h.category == BASELINE),
        "{store}: category filter"
    );
    assert!(
        found.hits.iter().all(|h| h.entity != "10.0.0.66"),
        "{store}: an expired document came back"
    );
    assert!(
        found.hits.windows(2).all(|w| w[0].score >= w[1].score),
        "{store}: ranked by similarity"
    );
    assert!(
        found.hits.iter().all(|h| h.score >= THRESHOLD),
        "{store}: {:?}",
        found.hits
    );
    let top_score = found.hits[0].score;

    let unrelated = rag
        .retrieve(
            "the quarterly budget meeting moved to Thursday",
            5,
            &categories(&[BASELINE, VERDICTS]),
        )
        .await
        .expect("retrieve");
    assert!(
        unrelated.hits.is_empty(),
        "{store}: hits under the similarity threshold came back: {:?}",
        unrelated.hits
    );

    let verdict = rag
        .retrieve(
            "SSH brute force login failures",
            5,
            &categories(&[VERDICTS]),
        )
        .await
        .expect("retrieve");
    assert_eq!(verdict.hits.len(), 1, "{store}: {:?}", verdict.hits);
    assert_eq!(verdict.hits[0].entity, "203.0.113.4");

    // A refreshed baseline replaces the old one under the same id.
    let refreshed = doc(
        BASELINE,
        "10.0.0.5",
        "Host 10.0.0.5 went quiet after the resolver moved to another subnet",
    );
    let again = rag
        .store("network_baseliner", vec![refreshed])
        .await
        .expect("store");
    assert_eq!(again[0], ids[0], "{store}");
    let after = rag
        .retrieve(
            "host went quiet after the resolver moved",
            5,
            &categories(&[BASELINE]),
        )
        .await
        .expect("retrieve");
    let copies: Vec<_> = after
        .hits
        .iter()
        .filter(|h| h.entity == "10.0.0.5")
        .collect();
    assert_eq!(copies.len(), 1, "{store}: {:?}", after.hits);
    assert!(copies[0].text.contains("went quiet"), "{store}");

    // Without an embedding model, BM25 answers and says so.
    let words = lexical
        .retrieve("printer idle night", 3, &categories(&[BASELINE]))
        .await
        .expect("retrieve");
    assert_eq!(words.path, RetrievalPath::Lexical, "{store}");
    assert_eq!(
        words.hits.first().map(|h| h.entity.as_str()),
        Some("10.0.0.7"),
        "{store}: {:?}",
        words.hits
    );
    assert!(words.hits.iter().all(|h| h.category == BASELINE), "{store}");
    top_score
}

fn elasticsearch(base: &str, embedder: Option<Arc<dyn LlmBackend>>) -> Option<ClusterRag> {
    let url = cluster_url("SC_TEST_ELASTICSEARCH_URL")?;
    let cluster = ClusterDb::new("db.elasticsearch", &cluster_config(&url)).expect("client");
    Some(ClusterRag::new(
        cluster,
        VectorFlavor::Elasticsearch,
        base,
        embedder,
        THRESHOLD,
    ))
}

/// Index names unique to this process, so runs against one cluster never
/// collide; removed again at the end (by exact name).
fn index_base(name: &str) -> String {
    format!("sct{}-{name}", std::process::id())
}

async fn delete_indices(url_var: &str, names: &[String]) {
    let Ok(url) = std::env::var(url_var) else {
        return;
    };
    let client = reqwest::Client::new();
    for name in names {
        let _ = client.delete(format!("{url}/{name}")).send().await;
    }
}

async fn mapping_dims(url: &str, index: &str) -> Option<u64> {
    let body: Value = reqwest::get(format!("{url}/{index}/_mapping"))
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let field = &body[index]["mappings"]["properties"]["embedding"];
    field["dims"]
        .as_u64()
        .or_else(|| field["dimension"].as_u64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrieval_answers_alike_on_the_embedded_store_and_elasticsearch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rag.db");
    let embedded = SqliteRag::open(&path, Some(minilm()), THRESHOLD).expect("open");
    let embedded_lexical = SqliteRag::open(&path, None, THRESHOLD).expect("open");
    let exact = retrieval_contract(&embedded, &embedded_lexical, "embedded").await;

    let base = index_base("rag");
    let (Some(es), Some(es_lexical)) = (
        elasticsearch(&base, Some(minilm())),
        elasticsearch(&base, None),
    ) else {
        return;
    };
    let approximate = retrieval_contract(&es, &es_lexical, "elasticsearch").await;
    // The cluster's score is (1 + cos) / 2 over quantized HNSW vectors; read
    // back as a cosine it must agree with the exact one.
    assert!(
        (exact - approximate).abs() < 0.03,
        "exact cosine {exact}, elasticsearch {approximate}"
    );
    let mut names = es.categories().await.expect("categories");
    names.sort();
    assert_eq!(names, categories(&[BASELINE, VERDICTS]));
    delete_indices("SC_TEST_ELASTICSEARCH_URL", &[base]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_embedding_size_gets_a_new_index_version_and_the_old_one_is_kept() {
    let base = index_base("ragver");
    let (Some(first), Some(second)) = (
        elasticsearch(&base, Some(minilm())),
        elasticsearch(&base, Some(Arc::new(Resized(minilm(), 64)))),
    ) else {
        return;
    };
    let url = std::env::var("SC_TEST_ELASTICSEARCH_URL").expect("url");
    first
        .store("network_baseliner", documents()[..2].to_vec())
        .await
        .expect("store with 384 dimensions");
    second
        .store("network_baseliner", documents()[2..4].to_vec())
        .await
        .expect("store with 64 dimensions");
    let v2 = format!("{base}-v2");
    assert_eq!(mapping_dims(&url, &base).await, Some(384));
    assert_eq!(mapping_dims(&url, &v2).await, Some(64));

    // Each model searches the index its vectors fit; nothing was deleted.
    let all = categories(&[BASELINE, VERDICTS]);
    let old = first
        .retrieve("DNS queries to the resolver", 5, &all)
        .await
        .expect("retrieve");
    assert_eq!(
        old.hits.first().map(|h| h.entity.as_str()),
        Some("10.0.0.5")
    );
    let new = second
        .retrieve("failed SSH logins brute force", 5, &all)
        .await
        .expect("retrieve");
    assert_eq!(
        new.hits.first().map(|h| h.entity.as_str()),
        Some("203.0.113.4")
    );
    assert!(new.hits.iter().all(|h| h.entity != "10.0.0.5"));
    // By words, documents of every version are found.
    let lexical = elasticsearch(&base, None).expect("cluster");
    let words = lexical
        .retrieve("resolver printer", 5, &all)
        .await
        .expect("retrieve");
    let mut entities: Vec<&str> = words.hits.iter().map(|h| h.entity.as_str()).collect();
    entities.sort_unstable();
    assert_eq!(entities, ["10.0.0.5", "10.0.0.7"], "{:?}", words.hits);
    let mut names = lexical.categories().await.expect("categories");
    names.sort();
    assert_eq!(names, categories(&[BASELINE, VERDICTS]));
    // Refreshed under the new model, the old copy no longer answers, even
    // for words only it holds.
    let refreshed = doc(BASELINE, "10.0.0.5", "Host 10.0.0.5 went quiet");
    second
        .store("network_baseliner", vec![refreshed])
        .await
        .expect("store");
    let stale = lexical
        .retrieve("internal resolver every minute", 5, &all)
        .await
        .expect("retrieve");
    assert!(
        stale.hits.iter().all(|h| h.entity != "10.0.0.5"),
        "{:?}",
        stale.hits
    );
    let fresh = lexical
        .retrieve("went quiet", 5, &all)
        .await
        .expect("retrieve");
    assert_eq!(
        fresh.hits.iter().filter(|h| h.entity == "10.0.0.5").count(),
        1,
        "{:?}",
        fresh.hits
    );
    delete_indices("SC_TEST_ELASTICSEARCH_URL", &[base, v2]).await;
}

/// One request the canned OpenSearch saw.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    body: Vec<Value>,
}

#[derive(Clone)]
struct Canned {
    seen: Arc<Mutex<Vec<Seen>>>,
    mapping: &'static str,
}

fn fixture(name: &str) -> Value {
    let path = repo_root().join("tests/fixtures/opensearch-knn").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("fixture JSON")
}

async fn canned_answer(
    State(canned): State<Canned>,
    method: Method,
    uri: Uri,
    body: String,
) -> (StatusCode, axum::Json<Value>) {
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), ToString::to_string);
    let lines = body
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("JSON body"))
        .collect();
    canned.seen.lock().expect("seen").push(Seen {
        method: method.clone(),
        path: path.clone(),
        body: lines,
    });
    let answer = match (method.as_str(), uri.path()) {
        ("GET", p) if p.ends_with("/_mapping") => fixture(canned.mapping),
        ("PUT", p) if p.ends_with("/_mapping") => json!({"acknowledged": true}),
        ("PUT", _) => fixture("create-index.json"),
        ("POST", "/_bulk") => fixture("bulk.json"),
        ("POST", p) if p.ends_with("/_search") => fixture("knn-search.json"),
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": {"type": "unexpected", "reason": path}})),
            );
        }
    };
    (StatusCode::OK, axum::Json(answer))
}

async fn canned_opensearch(mapping: &'static str) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new().fallback(canned_answer).with_state(Canned {
        seen: seen.clone(),
        mapping,
    });
    let url = sc_testkit::serve(app).await;
    (url, seen)
}

fn opensearch(url: &str, embedder: Arc<dyn LlmBackend>) -> ClusterRag {
    let cluster = ClusterDb::new("db.opensearch", &cluster_config(url)).expect("client");
    ClusterRag::new(
        cluster,
        VectorFlavor::OpenSearch,
        "securityclaw-rag",
        Some(embedder),
        THRESHOLD,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opensearch_gets_a_knn_vector_index_and_knn_queries_with_the_filter_inside() {
    let (url, seen) = canned_opensearch("mapping-none.json").await;
    let rag = opensearch(&url, minilm());
    let docs = documents()[..2].to_vec();
    rag.store("network_baseliner", docs).await.expect("store");
    let found = rag
        .retrieve("DNS lookups", 2, &categories(&[BASELINE]))
        .await
        .expect("retrieve");

    let seen = seen.lock().expect("seen").clone();
    let calls: Vec<String> = seen
        .iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    assert_eq!(
        calls,
        [
            "GET /securityclaw-rag*/_mapping",
            "PUT /securityclaw-rag",
            "POST /_bulk?refresh=wait_for",
            "POST /securityclaw-rag/_search",
        ]
    );
    let create = &seen[1].body[0];
    assert_eq!(create["settings"]["index"]["knn"], true);
    let vector = &create["mappings"]["properties"]["embedding"];
    assert_eq!(vector["type"], "knn_vector");
    assert_eq!(vector["dimension"], 384);
    assert_eq!(vector["method"]["name"], "hnsw");
    assert_eq!(vector["method"]["space_type"], "cosinesimil");
    assert_eq!(
        create["mappings"]["properties"]["category"]["type"],
        "keyword"
    );

    let bulk = &seen[2].body;
    assert_eq!(bulk.len(), 4, "an action and a document per document");
    assert_eq!(bulk[0]["index"]["_index"], "securityclaw-rag");
    assert_eq!(
        bulk[0]["index"]["_id"],
        document_id(BASELINE, "10.0.0.5", Some("2026-11-26")).as_str()
    );
    assert_eq!(bulk[1]["embedding"].as_array().map(Vec::len), Some(384));
    assert_eq!(bulk[1]["skill_id"], "network_baseliner");
    assert_eq!(bulk[1]["category"], BASELINE);

    let search = &seen[3].body[0];
    let knn = &search["query"]["knn"]["embedding"];
    assert_eq!(knn["vector"].as_array().map(Vec::len), Some(384));
    assert_eq!(knn["k"], 2);
    assert_eq!(
        knn["filter"]["bool"]["filter"][0]["terms"]["category"],
        json!([BASELINE])
    );
    assert_eq!(search["_source"]["excludes"], json!(["embedding"]));

    // Scores 0.95 and 0.6 are cosines 0.9 and 0.2: the second falls under
    // the threshold.
    assert_eq!(found.path, RetrievalPath::Vector);
    assert_eq!(found.hits.len(), 1, "{:?}", found.hits);
    assert_eq!(found.hits[0].entity, "10.0.0.5");
    assert!((found.hits[0].score - 0.9).abs() < 1e-5);
    assert_eq!(found.hits[0].metadata, r#"{"index":"logs-zeek-dns"}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opensearch_index_of_another_vector_size_is_kept_and_a_new_version_made() {
    let (url, seen) = canned_opensearch("mapping-v1-768.json").await;
    let rag = opensearch(&url, minilm());
    rag.store("network_baseliner", documents()[..2].to_vec())
        .await
        .expect("store");
    let seen = seen.lock().expect("seen").clone();
    assert!(
        seen.iter().all(|s| s.method != Method::DELETE),
        "nothing is deleted"
    );
    let created: Vec<&Seen> = seen.iter().filter(|s| s.method == Method::PUT).collect();
    assert_eq!(created.len(), 1, "{seen:?}");
    assert_eq!(created[0].path, "/securityclaw-rag-v2");
    assert_eq!(
        created[0].body[0]["mappings"]["properties"]["embedding"]["dimension"],
        384
    );
    let bulk = seen
        .iter()
        .find(|s| s.path.starts_with("/_bulk"))
        .expect("bulk");
    assert_eq!(bulk.body[0]["index"]["_index"], "securityclaw-rag-v2");
}

/// The same assertions on a real OpenSearch with the k-NN plugin. The
/// test servers `just test` starts have no k-NN, so this runs only when
/// asked for, against a cluster that has it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs an OpenSearch cluster with the opensearch-knn plugin (osmem-server has none): \
            SC_TEST_OPENSEARCH_URL=<cluster> cargo test -p sc-backends -- --ignored live_opensearch_knn"]
async fn live_opensearch_knn_when_the_cluster_has_the_plugin() {
    let url = std::env::var("SC_TEST_OPENSEARCH_URL")
        .expect("SC_TEST_OPENSEARCH_URL names the cluster with the k-NN plugin");
    let plugins: Value = reqwest::get(format!("{url}/_cat/plugins?format=json"))
        .await
        .expect("reach the cluster")
        .json()
        .await
        .unwrap_or_default();
    let has_knn = plugins
        .as_array()
        .into_iter()
        .flatten()
        .any(|p| p["component"] == "opensearch-knn");
    assert!(
        has_knn,
        "the cluster at {url} has no opensearch-knn plugin; point SC_TEST_OPENSEARCH_URL at one that has"
    );
    let base = index_base("rag");
    let cluster = || ClusterDb::new("db.opensearch", &cluster_config(&url)).expect("client");
    let rag = ClusterRag::new(
        cluster(),
        VectorFlavor::OpenSearch,
        &base,
        Some(minilm()),
        THRESHOLD,
    );
    let lexical = ClusterRag::new(cluster(), VectorFlavor::OpenSearch, &base, None, THRESHOLD);
    retrieval_contract(&rag, &lexical, "opensearch").await;
    delete_indices("SC_TEST_OPENSEARCH_URL", &[base]).await;
}
