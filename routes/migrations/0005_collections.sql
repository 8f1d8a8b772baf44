-- Collections: named sets of documents per owner, searched with FTS5 (BM25 ranking).
CREATE TABLE collections (
    id              INTEGER PRIMARY KEY,
    owner           TEXT NOT NULL,
    name            TEXT NOT NULL,
    metadata        TEXT NOT NULL DEFAULT '{}',
    embedding_model TEXT,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (owner, name)
) STRICT;

CREATE TABLE collection_documents (
    id            INTEGER PRIMARY KEY,
    collection_id INTEGER NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    doc_id        TEXT NOT NULL,
    document      TEXT NOT NULL,
    metadata      TEXT NOT NULL DEFAULT '{}',
    -- JSON as old clients send it; stored and returned, never searched.
    embedding     TEXT,
    updated_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (collection_id, doc_id)
) STRICT;

-- The index reads the text from collection_documents (external content); the triggers keep it
-- in step with every insert, update and delete, cascades included.
CREATE VIRTUAL TABLE collection_fts USING fts5 (
    document,
    content = 'collection_documents',
    content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TRIGGER collection_documents_ai AFTER INSERT ON collection_documents BEGIN
    INSERT INTO collection_fts (rowid, document) VALUES (new.id, new.document);
END;

CREATE TRIGGER collection_documents_ad AFTER DELETE ON collection_documents BEGIN
    INSERT INTO collection_fts (collection_fts, rowid, document)
        VALUES ('delete', old.id, old.document);
END;

CREATE TRIGGER collection_documents_au AFTER UPDATE OF document ON collection_documents BEGIN
    INSERT INTO collection_fts (collection_fts, rowid, document)
        VALUES ('delete', old.id, old.document);
    INSERT INTO collection_fts (rowid, document) VALUES (new.id, new.document);
END;
