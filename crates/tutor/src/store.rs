//! Where sessions and progress live between runs.
//!
//! [`Store`] is the seam; [`SqliteStore`] the implementation for one machine (a Postgres
//! store can follow behind the same trait for a server that outgrows it). A session is
//! stored whole, as JSON, next to the few columns progress is computed from: progress is
//! a query over the sessions table, never a second set of counters that could drift from
//! it.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::{Outcome, Session, TutorError};

/// A student's record on one skill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkillProgress {
    pub skill: String,
    pub attempted: u32,
    pub solved: u32,
    /// Solved without climbing past the first rung of the hint ladder.
    pub solved_without_hints: u32,
    /// Ended with the answer told.
    pub told: u32,
}

/// Persistence of sessions and per-student progress.
pub trait Store: Send + Sync {
    /// Inserts or replaces the session (by id).
    fn save(&self, session: &Session) -> Result<(), TutorError>;
    fn load(&self, id: &str) -> Result<Option<Session>, TutorError>;
    /// Ids of a student's sessions, most recent first.
    fn sessions_of(&self, student: &str) -> Result<Vec<String>, TutorError>;
    fn progress(&self, student: &str) -> Result<Vec<SkillProgress>, TutorError>;
}

/// A [`Store`] in one SQLite file (or in memory).
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    student TEXT NOT NULL,
    skill TEXT NOT NULL,
    outcome TEXT NOT NULL,
    turns INTEGER NOT NULL,
    updated REAL NOT NULL,
    state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_student ON sessions (student, updated);
";

fn db_err(e: impl std::fmt::Display) -> TutorError {
    TutorError::Store(e.to_string())
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<Self, TutorError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| db_err(format!("{}: {e}", dir.display())))?;
        }
        let conn =
            Connection::open(path).map_err(|e| db_err(format!("{}: {e}", path.display())))?;
        Self::with(conn)
    }

    pub fn in_memory() -> Result<Self, TutorError> {
        Self::with(Connection::open_in_memory().map_err(db_err)?)
    }

    fn with(conn: Connection) -> Result<Self, TutorError> {
        // WAL lets a server read progress while a session is being written.
        conn.pragma_update(None, "journal_mode", "WAL").map_err(db_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(db_err)?;
        conn.execute_batch(SCHEMA).map_err(db_err)?;
        Ok(Self { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Open => "open",
        Outcome::Solved => "solved",
        Outcome::SolvedWithHints => "solved_with_hints",
        Outcome::Told => "told",
    }
}

impl Store for SqliteStore {
    fn save(&self, session: &Session) -> Result<(), TutorError> {
        let state = serde_json::to_string(session).map_err(db_err)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        self.conn()
            .execute(
                "INSERT INTO sessions (id, student, skill, outcome, turns, updated, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(id) DO UPDATE SET student = ?2, skill = ?3, outcome = ?4,
                     turns = ?5, updated = ?6, state = ?7",
                params![
                    session.id,
                    session.student,
                    skill_of(session),
                    outcome_name(session.outcome),
                    session.turns.len() as i64,
                    now,
                    state
                ],
            )
            .map_err(db_err)?;
        Ok(())
    }

    fn load(&self, id: &str) -> Result<Option<Session>, TutorError> {
        let state: Option<String> = self
            .conn()
            .query_row("SELECT state FROM sessions WHERE id = ?1", [id], |row| row.get(0))
            .optional()
            .map_err(db_err)?;
        state
            .map(|s| {
                serde_json::from_str(&s)
                    .map_err(|e| db_err(format!("session {id} is unreadable: {e}")))
            })
            .transpose()
    }

    fn sessions_of(&self, student: &str) -> Result<Vec<String>, TutorError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT id FROM sessions WHERE student = ?1 ORDER BY updated DESC, id")
            .map_err(db_err)?;
        let ids = stmt.query_map([student], |row| row.get(0)).map_err(db_err)?;
        ids.collect::<Result<Vec<String>, _>>().map_err(db_err)
    }

    fn progress(&self, student: &str) -> Result<Vec<SkillProgress>, TutorError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT skill, COUNT(*),
                        SUM(outcome IN ('solved', 'solved_with_hints')),
                        SUM(outcome = 'solved'),
                        SUM(outcome = 'told')
                 FROM sessions WHERE student = ?1 AND turns > 0 GROUP BY skill ORDER BY skill",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map([student], |row| {
                Ok(SkillProgress {
                    skill: row.get(0)?,
                    attempted: row.get(1)?,
                    solved: row.get(2)?,
                    solved_without_hints: row.get(3)?,
                    told: row.get(4)?,
                })
            })
            .map_err(db_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(db_err)
    }
}

/// The skill a problem exercises, from its text and its solution's quantities: a coarse
/// label, enough for "fractions: 3 of 4 solved".
///
/// ```
/// use hypatia_tutor::{store::skill_of_problem, Reference};
/// let r = Reference::from_worked("<<20*0.15=3>>3\n#### 3", None).unwrap();
/// assert_eq!(skill_of_problem("What is 15% of 20?", &r), "percentages");
/// ```
pub fn skill_of_problem(problem: &str, reference: &crate::Reference) -> &'static str {
    let lower = problem.to_lowercase();
    let fractional = reference.quantities.iter().filter_map(|q| q.exact()).any(|v| !v.is_integer());
    if lower.contains('%') || lower.contains("percent") {
        "percentages"
    } else if lower.contains('\\')
        || lower.contains('^')
        || lower.contains('$') && lower.contains('=')
    {
        "algebra and beyond"
    } else if fractional
        || ["half", "third", "quarter", "fraction"].iter().any(|w| lower.contains(w))
    {
        "fractions"
    } else if reference.quantities.len() >= 3 {
        "multi-step arithmetic"
    } else {
        "one- and two-step arithmetic"
    }
}

fn skill_of(session: &Session) -> &'static str {
    skill_of_problem(&session.problem, &session.reference)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reference;

    fn session(id: &str, outcome: Outcome) -> Session {
        let r = Reference::from_worked("<<48/2=24>>24 <<48+24=72>>72\n#### 72", None).unwrap();
        let mut s = Session::new(id, "ada", "48 clips, half as many in May", r, 5);
        s.outcome = outcome;
        s.turns.push(crate::Turn {
            student: "hi".into(),
            notes: String::new(),
            tutor: "hello?".into(),
            action: crate::ladder::Move::Confirm,
            diagnosis: None,
            leak_blocked: false,
            drafts: 1,
            seconds: 0.1,
            stats: Default::default(),
            student_answer: None,
        });
        s
    }

    #[test]
    fn sessions_survive_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/tutor.db");
        {
            let store = SqliteStore::open(&path).unwrap();
            store.save(&session("a", Outcome::Open)).unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let loaded = store.load("a").unwrap().unwrap();
        assert_eq!(loaded, session("a", Outcome::Open));
        assert!(store.load("missing").unwrap().is_none());
    }

    #[test]
    fn progress_counts_outcomes_per_skill() {
        let store = SqliteStore::in_memory().unwrap();
        store.save(&session("a", Outcome::Solved)).unwrap();
        store.save(&session("b", Outcome::SolvedWithHints)).unwrap();
        store.save(&session("c", Outcome::Told)).unwrap();
        store.save(&session("c", Outcome::Told)).unwrap(); // saving again replaces
        let p = store.progress("ada").unwrap();
        assert_eq!(
            p,
            [SkillProgress {
                skill: "fractions".into(),
                attempted: 3,
                solved: 2,
                solved_without_hints: 1,
                told: 1
            }]
        );
        assert_eq!(store.sessions_of("ada").unwrap().len(), 3);
        assert!(store.progress("nobody").unwrap().is_empty());
    }
}
