//! Retrieval on one machine: documents in SQLite with their embeddings,
//! exact cosine search over the requested categories, and BM25 (FTS5) when
//! no embedding model is available. Exact search reads every vector of the
//! categories asked for: fine to ~100k vectors (tens of milliseconds), past
//! that use a cluster backend with an HNSW index.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};

use sc_core::CapabilityError;
use sc_core::llm::LlmBackend;
use sc_core::rag::{
    Document, RagBackend, Retrieval, check_documents, document_id, embed_or_none, now_utc,
    valid_until_utc,
};
use sc_core::rag::{Hit, RetrievalPath};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS rag_docs (
    id TEXT PRIMARY KEY,
    category TEXT NOT NULL,
    entity TEXT NOT NULL,
    window TEXT,
    text TEXT NOT NULL,
    source TEXT NOT NULL,
    metadata TEXT NOT NULL,
    skill_id TEXT NOT NULL,
    stored_at TEXT NOT NULL,
    valid_until TEXT,
    dims INTEGER,
    embedding BLOB
);
CREATE INDEX IF NOT EXISTS rag_by_category ON rag_docs (category);
CREATE VIRTUAL TABLE IF NOT EXISTS rag_fts USING fts5(id UNINDEXED, category UNINDEXED, text);
";

fn to_blob(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn from_blob(blob: &[u8]) -> Vec<f32> {
    blob.chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    dot / (na.sqrt() * nb.sqrt())
}

/// FTS5 query of the words in `text`, any of them matching.
fn fts_query(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric() && c != '.' && c != '-' && c != '_')
        .filter(|w| !w.is_empty())
        .take(32)
        .map(|w| format!("\"{}\"", w.replace('"', "")))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// A hit from the first six columns `id, category, entity, text, source,
/// metadata` of a row.
fn read_hit(row: &rusqlite::Row<'_>, score: f32) -> rusqlite::Result<Hit> {
    Ok(Hit {
        id: row.get(0)?,
        category: row.get(1)?,
        entity: row.get(2)?,
        text: row.get(3)?,
        source: row.get(4)?,
        metadata: row.get(5)?,
        score,
    })
}

/// The SQLite retrieval store. Every query runs on a blocking thread: an
/// exact scan of many vectors takes tens to hundreds of milliseconds, and
/// SQLite may wait on another process's lock.
pub struct SqliteRag {
    conn: Arc<Mutex<Connection>>,
    embedder: Option<Arc<dyn LlmBackend>>,
    threshold: f32,
}

fn backend_error(err: rusqlite::Error) -> CapabilityError {
    tracing::error!(error = %err, "retrieval store error");
    CapabilityError::Backend("the retrieval store failed; see the host log".to_owned())
}

impl SqliteRag {
    /// Opens the store at `path`; `embedder` embeds documents and queries
    /// (none: lexical search only); hits below `threshold` cosine are dropped.
    pub fn open(
        path: &Path,
        embedder: Option<Arc<dyn LlmBackend>>,
        threshold: f32,
    ) -> rusqlite::Result<Self> {
        let conn = sc_state::sqlite::open(path, SCHEMA)?;
        // Version 1: full-text rows share their document's rowid. Stores
        // written before then are re-indexed once.
        let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        if version < 1 {
            conn.execute_batch(
                "BEGIN;
                 DELETE FROM rag_fts;
                 INSERT INTO rag_fts (rowid, id, category, text) SELECT rowid, id, category, text FROM rag_docs;
                 PRAGMA user_version = 1;
                 COMMIT;",
            )?;
        }
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            embedder,
            threshold,
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        lock(&self.conn)
    }

    /// Runs `work` on the connection on a blocking thread.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, CapabilityError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || work(&mut lock(&conn)))
            .await
            .map_err(|err| {
                tracing::error!(error = %err, "retrieval store task failed");
                CapabilityError::Backend(
                    "the retrieval store task failed; see the host log".to_owned(),
                )
            })?
            .map_err(backend_error)
    }
}

fn lock(conn: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    conn.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn vector_search(
    conn: &Connection,
    query: &[f32],
    k: u32,
    categories: &[String],
    now: &str,
    threshold: f32,
) -> rusqlite::Result<Vec<Hit>> {
    let mut stmt = conn.prepare(
        "SELECT id, category, entity, text, source, metadata, embedding FROM rag_docs
             WHERE category = ?1 AND dims = ?2 AND (valid_until IS NULL OR valid_until > ?3)",
    )?;
    let mut hits = Vec::new();
    for category in categories {
        let rows = stmt.query_map(params![category, query.len() as i64, now], |row| {
            let blob: Vec<u8> = row.get(6)?;
            Ok((read_hit(row, 0.0)?, blob))
        })?;
        for row in rows {
            let (mut hit, blob) = row?;
            hit.score = cosine(query, &from_blob(&blob));
            if hit.score >= threshold {
                hits.push(hit);
            }
        }
    }
    hits.sort_by(|a, b| b.score.total_cmp(&a.score));
    hits.truncate(k as usize);
    Ok(hits)
}

fn lexical_search(
    conn: &Connection,
    query: &str,
    k: u32,
    categories: &[String],
    now: &str,
) -> rusqlite::Result<Vec<Hit>> {
    let terms = fts_query(query);
    if terms.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders = (0..categories.len())
        .map(|i| format!("?{}", i + 4))
        .collect::<Vec<_>>()
        .join(",");
    let sql = format!(
        "SELECT d.id, d.category, d.entity, d.text, d.source, d.metadata, bm25(rag_fts) AS rank
             FROM rag_fts JOIN rag_docs d ON d.id = rag_fts.id
             WHERE rag_fts MATCH ?1 AND (d.valid_until IS NULL OR d.valid_until > ?2)
               AND d.category IN ({placeholders})
             ORDER BY rank LIMIT ?3"
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut values: Vec<rusqlite::types::Value> =
        vec![terms.into(), now.to_owned().into(), i64::from(k).into()];
    values.extend(
        categories
            .iter()
            .map(|c| rusqlite::types::Value::from(c.clone())),
    );
    let rows = stmt.query_map(rusqlite::params_from_iter(values), |row| {
        let rank: f64 = row.get(6)?;
        // FTS5's bm25() is lower-is-better; report higher-is-better.
        read_hit(row, -rank as f32)
    })?;
    rows.collect()
}

impl SqliteRag {
    /// How many documents are stored.
    pub fn len(&self) -> Result<u64, CapabilityError> {
        let n: i64 = self
            .conn()
            .query_row("SELECT COUNT(*) FROM rag_docs", [], |row| row.get(0))
            .map_err(backend_error)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> Result<bool, CapabilityError> {
        Ok(self.len()? == 0)
    }
}

#[async_trait::async_trait]
impl RagBackend for SqliteRag {
    async fn store(
        &self,
        skill_id: &str,
        documents: Vec<Document>,
    ) -> Result<Vec<String>, CapabilityError> {
        check_documents(&documents)?;
        let vectors = embed_or_none(
            self.embedder.as_ref(),
            documents.iter().map(|d| d.text.clone()).collect(),
        )
        .await?;
        let stored_at = now_utc();
        let skill_id = skill_id.to_owned();
        self.blocking(move |conn| {
            store_in(conn, &skill_id, &documents, vectors.as_deref(), &stored_at)
        })
        .await
    }

    async fn categories(&self) -> Result<Vec<String>, CapabilityError> {
        self.blocking(|conn| {
            let mut stmt =
                conn.prepare("SELECT DISTINCT category FROM rag_docs ORDER BY category")?;
            let rows = stmt.query_map([], |row| row.get(0))?;
            rows.collect::<rusqlite::Result<Vec<String>>>()
        })
        .await
    }

    async fn retrieve_as_of(
        &self,
        query: &str,
        k: u32,
        categories: &[String],
        as_of: &str,
    ) -> Result<Retrieval, CapabilityError> {
        let now = as_of.to_owned();
        let categories = categories.to_vec();
        if let Some(mut vectors) =
            embed_or_none(self.embedder.as_ref(), vec![query.to_owned()]).await?
            && !vectors.is_empty()
        {
            let vector = vectors.swap_remove(0);
            let threshold = self.threshold;
            let hits = self
                .blocking(move |conn| vector_search(conn, &vector, k, &categories, &now, threshold))
                .await?;
            return Ok(Retrieval {
                path: RetrievalPath::Vector,
                hits,
            });
        }
        let query = query.to_owned();
        let hits = self
            .blocking(move |conn| lexical_search(conn, &query, k, &categories, &now))
            .await?;
        Ok(Retrieval {
            path: RetrievalPath::Lexical,
            hits,
        })
    }
}

/// Stores documents (with their vectors, when a model embedded them) in one
/// transaction.
fn store_in(
    conn: &mut Connection,
    skill_id: &str,
    documents: &[Document],
    vectors: Option<&[Vec<f32>]>,
    stored_at: &str,
) -> rusqlite::Result<Vec<String>> {
    let tx = conn.transaction()?;
    let mut ids = Vec::with_capacity(documents.len());
    for (i, doc) in documents.iter().enumerate() {
        let id = document_id(&doc.category, &doc.entity, doc.window.as_deref());
        let vector = vectors.and_then(|v| v.get(i));
        // The full-text row shares the document's rowid, so replacing a
        // document deletes its old text by key instead of scanning.
        let old_rowid: Option<i64> = tx
            .query_row("SELECT rowid FROM rag_docs WHERE id = ?1", [&id], |row| {
                row.get(0)
            })
            .optional()?;
        if let Some(old_rowid) = old_rowid {
            tx.execute("DELETE FROM rag_fts WHERE rowid = ?1", [old_rowid])?;
        }
        tx.execute(
                "INSERT OR REPLACE INTO rag_docs
                 (id, category, entity, window, text, source, metadata, skill_id, stored_at, valid_until, dims, embedding)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    id,
                    doc.category,
                    doc.entity,
                    doc.window,
                    doc.text,
                    doc.source,
                    doc.metadata,
                    skill_id,
                    stored_at,
                    // Stored in one form (UTC, seconds) so text comparison orders it.
                    valid_until_utc(doc.valid_until.as_deref()),
                    vector.map(|v| v.len() as i64),
                    vector.map(|v| to_blob(v)),
                ],
            )
            ?;
        let rowid = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO rag_fts (rowid, id, category, text) VALUES (?1, ?2, ?3, ?4)",
            params![rowid, id, doc.category, doc.text],
        )?;
        ids.push(id);
    }
    tx.commit()?;
    Ok(ids)
}

/// Looks up a stored document by id (for tools and tests).
pub fn get_text(rag: &SqliteRag, id: &str) -> Result<Option<String>, CapabilityError> {
    rag.conn()
        .query_row("SELECT text FROM rag_docs WHERE id = ?1", [id], |row| {
            row.get(0)
        })
        .optional()
        .map_err(backend_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(category: &str, entity: &str, window: Option<&str>, text: &str) -> Document {
        Document {
            category: category.into(),
            entity: entity.into(),
            window: window.map(str::to_owned),
            text: text.into(),
            source: "test".into(),
            metadata: "{\"query\":\"conn\"}".into(),
            valid_until: None,
        }
    }

    fn block_on<T>(future: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(future)
    }

    #[test]
    fn ids_are_stable_per_category_entity_and_window() {
        assert_eq!(
            document_id("b", "10.0.0.5", Some("d1")),
            document_id("b", "10.0.0.5", Some("d1"))
        );
        assert_ne!(
            document_id("b", "10.0.0.5", Some("d1")),
            document_id("b", "10.0.0.5", Some("d2"))
        );
        assert_ne!(
            document_id("b", "10.0.0.5", None),
            document_id("b", "10.0.0.", Some("5"))
        );
    }

    #[test]
    fn without_embeddings_retrieval_is_lexical_and_filtered_by_category() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rag = SqliteRag::open(&dir.path().join("rag.db"), None, 0.3).expect("open");
        block_on(async {
            let docs = vec![
                doc(
                    "network_baseline",
                    "10.0.0.5",
                    Some("d1"),
                    "10.0.0.5 talks to dns servers on port 53 every minute",
                ),
                doc(
                    "network_baseline",
                    "10.0.0.9",
                    Some("d1"),
                    "10.0.0.9 serves https on port 443",
                ),
                doc("verdicts", "10.0.0.5", None, "port 53 beacon judged benign"),
            ];
            let ids = rag.store("baseliner", docs).await.expect("store");
            assert_eq!(ids.len(), 3);
            let found = rag
                .retrieve("dns port 53", 5, &["network_baseline".to_owned()])
                .await
                .expect("retrieve");
            assert_eq!(found.path, RetrievalPath::Lexical);
            assert_eq!(found.hits[0].entity, "10.0.0.5");
            assert!(found.hits.iter().all(|h| h.category == "network_baseline"));

            // A refreshed baseline replaces the old one.
            let refreshed = doc(
                "network_baseline",
                "10.0.0.5",
                Some("d1"),
                "10.0.0.5 now quiet",
            );
            let again = rag
                .store("baseliner", vec![refreshed])
                .await
                .expect("store");
            assert_eq!(again[0], ids[0]);
            assert_eq!(rag.len().expect("len"), 3);
            assert_eq!(
                get_text(&rag, &ids[0]).expect("get").as_deref(),
                Some("10.0.0.5 now quiet")
            );
            let stale = rag
                .retrieve("dns", 5, &["network_baseline".to_owned()])
                .await
                .expect("retrieve");
            assert!(stale.hits.is_empty(), "the old text is gone from the index");
        });
    }

    #[test]
    fn expired_documents_are_not_returned() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rag = SqliteRag::open(&dir.path().join("rag.db"), None, 0.3).expect("open");
        block_on(async {
            let mut old = doc("baseline", "h1", None, "ssh logins from the vpn range");
            old.valid_until = Some("2000-01-01T00:00:00Z".into());
            rag.store("s", vec![old]).await.expect("store");
            let found = rag
                .retrieve("ssh logins", 5, &["baseline".to_owned()])
                .await
                .expect("retrieve");
            assert!(found.hits.is_empty());
            // A replay of 1999 still sees it: it was valid then.
            let replayed = rag
                .retrieve_as_of(
                    "ssh logins",
                    5,
                    &["baseline".to_owned()],
                    "1999-12-31T00:00:00Z",
                )
                .await
                .expect("retrieve");
            assert_eq!(replayed.hits.len(), 1);
        });
    }

    #[test]
    fn cosine_of_vectors() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-6);
        assert_eq!(from_blob(&to_blob(&[0.5, -2.0])), vec![0.5, -2.0]);
    }
}
