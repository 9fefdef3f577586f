//! `hypatia tutor`: an interactive session in the terminal, `tutor reply` (one turn per
//! JSON line) and `tutor progress`.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use hypatia_sandbox::Limits;
use hypatia_solve::{Executor, SandboxExecutor};
use hypatia_tutor::batch::{reply, References, ReplyRequest};
use hypatia_tutor::ladder::Move;
use hypatia_tutor::{Outcome, Session, SqliteStore, Store, Tutor, TutorConfig};

use crate::EngineArgs;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct TutorArgs {
    #[command(subcommand)]
    command: Option<TutorCommand>,
    /// The problem (asked for when missing).
    #[arg(long)]
    problem: Option<String>,
    /// A worked solution with <<expr=value>> annotations and/or a `#### N` line; without
    /// one, Hypatia solves the problem first.
    #[arg(long)]
    solution: Option<String>,
    /// The known answer: the tutor's own solution is checked against it.
    #[arg(long, allow_hyphen_values = true)]
    answer: Option<String>,
    /// Continue a saved session by id.
    #[arg(long)]
    resume: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args, Clone)]
struct CommonArgs {
    /// The student's name (sessions and progress are kept per student).
    #[arg(long, default_value = "student")]
    student: String,
    /// School grade 1-12; replies are kept readable for it.
    #[arg(long, default_value_t = 6)]
    grade: u8,
    /// Answers the student must have tried before "tell me the answer" is honoured.
    #[arg(long, default_value_t = 3)]
    reveal_after: u32,
    /// Let the tutor say intermediate results the student has not reached.
    #[arg(long)]
    no_protect_intermediates: bool,
    /// SQLite file of sessions and progress (default: $HYPATIA_HOME/tutor.db).
    #[arg(long)]
    db: Option<PathBuf>,
    #[command(flatten)]
    engine: EngineArgs,
}

impl CommonArgs {
    fn config(&self) -> TutorConfig {
        TutorConfig {
            grade: self.grade,
            reveal_after: self.reveal_after,
            protect_intermediates: !self.no_protect_intermediates,
            ..TutorConfig::default()
        }
    }

    fn store(&self) -> Result<SqliteStore> {
        open_store(self.db.as_deref())
    }
}

/// The store at `db`, or at `$HYPATIA_HOME/tutor.db`.
fn open_store(db: Option<&std::path::Path>) -> Result<SqliteStore> {
    let default = || hypatia_llm::models::hypatia_home().join("tutor.db");
    let path = db.map(std::path::Path::to_path_buf).unwrap_or_else(default);
    Ok(SqliteStore::open(&path)?)
}

#[derive(Subcommand)]
enum TutorCommand {
    /// One tutor turn per input line (the JSON lines of DESIGN.md).
    Reply {
        #[arg(long = "in")]
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        common: Box<CommonArgs>,
    },
    /// A student's progress per skill.
    Progress {
        #[arg(long, default_value = "student")]
        student: String,
        #[arg(long)]
        db: Option<PathBuf>,
    },
}

pub fn run(args: TutorArgs) -> Result<()> {
    match args.command {
        Some(TutorCommand::Reply { input, out, common }) => batch(&input, &out, &common),
        Some(TutorCommand::Progress { student, db }) => {
            let store = open_store(db.as_deref())?;
            for p in store.progress(&student)? {
                println!("{}", serde_json::to_string(&p)?);
            }
            Ok(())
        }
        None => interactive(args),
    }
}

fn executor() -> Arc<dyn Executor> {
    Arc::new(SandboxExecutor::global(Limits::default()))
}

fn batch(input: &std::path::Path, out: &std::path::Path, common: &CommonArgs) -> Result<()> {
    let text = std::fs::read_to_string(input)
        .with_context(|| format!("cannot read {}", input.display()))?;
    // Parse everything first: a bad line is reported before any model time is spent.
    let mut requests = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let request: ReplyRequest = serde_json::from_str(line).with_context(|| {
            format!("{} line {}: not a tutor reply request", input.display(), n + 1)
        })?;
        requests.push(request);
    }
    let backend = common.engine.backend()?;
    let tutor = Tutor::new(backend.as_ref(), common.config())?.with_checking(executor());
    let mut references = References::new(backend.clone(), executor());
    let file =
        std::fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut writer = std::io::BufWriter::new(file);
    let bar = indicatif::ProgressBar::new(requests.len() as u64);
    let (mut failed, mut blocked) = (0, 0);
    for request in &requests {
        let line = reply(&tutor, &mut references, request);
        failed += usize::from(line.error.is_some());
        blocked += usize::from(line.leak_blocked);
        writeln!(writer, "{}", serde_json::to_string(&line)?)?;
        writer.flush()?;
        bar.inc(1);
        bar.set_message(format!("{blocked} leaks blocked, {failed} failed"));
    }
    bar.finish_and_clear();
    eprintln!("{} turns, {blocked} leaking drafts replaced, {failed} failed", requests.len());
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} lines failed (see their `error` field in {})",
            requests.len(),
            out.display()
        );
    }
    Ok(())
}

fn prompt_line(question: &str) -> Result<Option<String>> {
    eprint!("{question}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line)? == 0 {
        return Ok(None);
    }
    Ok(Some(line.trim().to_string()))
}

fn interactive(args: TutorArgs) -> Result<()> {
    let store = args.common.store()?;
    let backend = args.common.engine.backend()?;
    let tutor = Tutor::new(backend.as_ref(), args.common.config())?.with_checking(executor());
    let mut session = match &args.resume {
        Some(id) => store.load(id)?.with_context(|| format!("no saved session {id}"))?,
        None => {
            let problem = match &args.problem {
                Some(p) => p.clone(),
                None => prompt_line("Problem: ")?
                    .filter(|p| !p.is_empty())
                    .context("no problem given")?,
            };
            let spinner = indicatif::ProgressBar::new_spinner();
            spinner.set_message("Solving it first, so I can check your work…");
            spinner.enable_steady_tick(std::time::Duration::from_millis(120));
            let mut references = References::new(backend.clone(), executor());
            let reference =
                references.get(&problem, args.solution.as_deref(), args.answer.as_deref());
            spinner.finish_and_clear();
            let id = format!("{}-{}", args.common.student, unix_millis());
            Session::new(id, args.common.student.clone(), problem, reference?, args.common.grade)
        }
    };
    println!(
        "Session {} — type your work or answer; an empty line or Ctrl-D ends it.\n",
        session.id
    );
    println!("Problem: {}\n", session.problem);
    match session.turns.last() {
        Some(t) => println!("Hypatia: {}\n", t.tutor),
        None => println!("Hypatia: {}\n", session.greeting()),
    }
    loop {
        // While the student types, compute the part of the next prompt that is already
        // known, so the reply only waits for their message to be read.
        let message = std::thread::scope(|scope| {
            let warm = scope.spawn(|| tutor.prefill(&session));
            let line = prompt_line("You: ");
            if let Ok(Err(e)) = warm.join() {
                tracing::warn!("prefill failed: {e}");
            }
            line
        })?;
        let Some(message) = message else { break };
        if message.is_empty() {
            break;
        }
        let turn = tutor.respond(&mut session, &message)?;
        println!("\nHypatia: {}\n", turn.tutor);
        let explained = turn.action == Move::Explain;
        store.save(&session)?;
        // After the answer is confirmed the student may still ask why; an explanation ends it.
        if explained {
            break;
        }
    }
    store.save(&session)?;
    let outcome = match session.outcome {
        Outcome::Open => "still open (resume with --resume)",
        Outcome::Solved => "solved on your own",
        Outcome::SolvedWithHints => "solved with hints",
        Outcome::Told => "answer explained",
    };
    eprintln!("Session {}: {outcome}, {} turns.", session.id, session.turns.len());
    Ok(())
}

fn unix_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}
