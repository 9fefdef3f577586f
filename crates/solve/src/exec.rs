//! The seam between strategies and the code they run.
//!
//! Strategies never call the sandbox directly: they hold an [`Executor`]. In production it
//! is a [`SandboxExecutor`]; in unit tests a [`FnExecutor`] answers instantly and
//! deterministically, so a test of retry or tool-loop logic needs no Python at all.

use hypatia_sandbox::{Limits, Outcome, Sandbox, SandboxError, Session, Status};

/// Runs programs, one at a time or as the cells of a notebook-like session.
pub trait Executor: Send + Sync {
    /// Runs one self-contained program.
    fn run(&self, code: &str) -> Result<Outcome, SandboxError>;

    /// Opens a session whose cells share their globals.
    fn session(&self) -> Result<Box<dyn CellRunner + '_>, SandboxError>;
}

/// The cells of an open session.
pub trait CellRunner {
    fn run_cell(&mut self, code: &str) -> Result<Outcome, SandboxError>;
}

/// Runs code in a [`Sandbox`]: a given one, or the process-wide [`Sandbox::global`],
/// opened at the first program rather than at construction.
#[derive(Debug, Clone)]
pub struct SandboxExecutor {
    sandbox: Option<Sandbox>,
    limits: Limits,
}

impl SandboxExecutor {
    /// Uses [`Sandbox::global`] when the first program runs.
    pub fn global(limits: Limits) -> Self {
        Self { sandbox: None, limits }
    }

    pub fn new(sandbox: Sandbox, limits: Limits) -> Self {
        Self { sandbox: Some(sandbox), limits }
    }

    fn sandbox(&self) -> Result<&Sandbox, SandboxError> {
        match &self.sandbox {
            Some(s) => Ok(s),
            None => Sandbox::global(),
        }
    }
}

impl Executor for SandboxExecutor {
    fn run(&self, code: &str) -> Result<Outcome, SandboxError> {
        self.sandbox()?.run(code, &self.limits).map(clean_traceback)
    }

    fn session(&self) -> Result<Box<dyn CellRunner + '_>, SandboxError> {
        Ok(Box::new(NotebookCells(self.sandbox()?.session(&self.limits)?)))
    }
}

/// Session cells with a notebook's habit: a final bare expression is printed, since models
/// writing tool calls often end a cell with `x` instead of `print(x)`.
struct NotebookCells(Session);

impl CellRunner for NotebookCells {
    fn run_cell(&mut self, code: &str) -> Result<Outcome, SandboxError> {
        self.0.run_cell(&notebook_cell(code)).map(clean_traceback)
    }
}

/// Python that runs `code` (parsed with `ast`, so nothing is guessed from its text) and
/// prints the value of its last statement when that is an expression other than `None`.
fn notebook_cell(code: &str) -> String {
    // A JSON string literal is also a valid Python string literal.
    let literal = serde_json::to_string(code).unwrap_or_else(|_| "\"\"".into());
    format!(
        "import ast as _hy_ast\n\
         _hy_tree = _hy_ast.parse({literal}, '<cell>')\n\
         _hy_last = _hy_tree.body.pop() if _hy_tree.body and isinstance(_hy_tree.body[-1], _hy_ast.Expr) else None\n\
         exec(compile(_hy_tree, '<cell>', 'exec'), globals())\n\
         if _hy_last is not None:\n    \
             _hy_value = eval(compile(_hy_ast.Expression(_hy_last.value), '<cell>', 'eval'), globals())\n    \
             if _hy_value is not None:\n        \
                 print(_hy_value)\n"
    )
}

/// Drops the traceback frames of the wrapper code, which would only confuse the model.
fn clean_traceback(mut outcome: Outcome) -> Outcome {
    if outcome.stderr.contains("File \"<program>\"") && outcome.stderr.contains("<cell>") {
        outcome.stderr = outcome
            .stderr
            .lines()
            .filter(|l| !l.trim_start().starts_with("File \"<program>\""))
            .map(|l| format!("{l}\n"))
            .collect();
    }
    outcome
}

type RunFn = Box<dyn Fn(&str) -> Outcome + Send + Sync>;

/// An executor that answers with a function of the code: for tests, and for callers that
/// run code somewhere else. Session cells are answered by the same function, one by one.
pub struct FnExecutor(RunFn);

impl FnExecutor {
    pub fn new(f: impl Fn(&str) -> Outcome + Send + Sync + 'static) -> Self {
        Self(Box::new(f))
    }

    /// A successful run that printed `stdout`.
    pub fn ok(stdout: &str) -> Outcome {
        Outcome { status: Status::Ok, stdout: stdout.into(), stderr: String::new(), seconds: 0.0 }
    }

    /// A run that raised, with `stderr` as its traceback.
    pub fn error(stderr: &str) -> Outcome {
        Outcome {
            status: Status::Error,
            stdout: String::new(),
            stderr: stderr.into(),
            seconds: 0.0,
        }
    }
}

impl std::fmt::Debug for FnExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FnExecutor")
    }
}

impl Executor for FnExecutor {
    fn run(&self, code: &str) -> Result<Outcome, SandboxError> {
        Ok((self.0)(code))
    }

    fn session(&self) -> Result<Box<dyn CellRunner + '_>, SandboxError> {
        Ok(Box::new(FnCells(self)))
    }
}

struct FnCells<'a>(&'a FnExecutor);

impl CellRunner for FnCells<'_> {
    fn run_cell(&mut self, code: &str) -> Result<Outcome, SandboxError> {
        Ok((self.0 .0)(code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapper_frames_are_dropped_from_tracebacks() {
        let o = FnExecutor::error(
            "Traceback (most recent call last):\n  File \"<program>\", line 4, in <module>\n  \
             File \"<cell>\", line 2, in <module>\nZeroDivisionError: division by zero\n",
        );
        let cleaned = clean_traceback(o);
        assert!(!cleaned.stderr.contains("<program>"));
        assert!(cleaned.stderr.contains("<cell>\", line 2"));
        assert!(cleaned.stderr.ends_with("division by zero\n"));
    }

    #[test]
    fn notebook_cell_embeds_the_code_as_one_literal() {
        let cell = notebook_cell("s = \"a\\nb\"\ns");
        assert!(cell.contains(r#""s = \"a\\nb\"\ns""#), "{cell}");
    }
}
