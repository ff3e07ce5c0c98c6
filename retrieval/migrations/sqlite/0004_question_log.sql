-- Schema 4: the question log behind /stats (issue 13). One row per question the bot answered or
-- abstained on (its text as asked, and normalized so that rewordings of case and punctuation
-- count together), one row per document an answer cited (for "most cited"), and the optional
-- note a member gives with a 👎.
CREATE TABLE IF NOT EXISTS questions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, namespace TEXT NOT NULL, asked_at REAL NOT NULL,
    question TEXT NOT NULL, normalized TEXT NOT NULL, answered INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS questions_by_time ON questions (namespace, asked_at);
CREATE TABLE IF NOT EXISTS question_citations (
    question_id INTEGER NOT NULL, namespace TEXT NOT NULL, asked_at REAL NOT NULL, doc_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS question_citations_by_time ON question_citations (namespace, asked_at);
ALTER TABLE feedback ADD COLUMN note TEXT;
CREATE INDEX IF NOT EXISTS feedback_by_time ON feedback (namespace, created_at);
