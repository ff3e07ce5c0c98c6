-- Schema 3: the documents' content_hash column always equalled doc_id (the id is the hash of the
-- stored text); DocumentInfo.content_hash, part of the JSON contract, is read from doc_id.
ALTER TABLE documents DROP COLUMN content_hash;
