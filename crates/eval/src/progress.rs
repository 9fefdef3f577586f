//! A terminal progress bar for [`run_eval`](crate::run_eval): position, running
//! accuracy and ETA.
//!
//! It is a separate adapter over the runner's plain callback so that the library itself
//! never draws on a terminal; the server or a test passes its own callback instead.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::runner::Progress;

/// Draws one indicatif bar on stderr.
#[derive(Default)]
pub struct TerminalProgress {
    bar: Option<ProgressBar>,
}

impl TerminalProgress {
    pub fn new() -> TerminalProgress {
        TerminalProgress::default()
    }

    /// Feed it every [`Progress`] of a run.
    pub fn update(&mut self, p: &Progress<'_>) {
        let bar = self.bar.get_or_insert_with(|| problems_bar(p.total, p.done));
        let id = p.last.map(|r| r.id.as_str());
        show_problem(bar, p.done, p.total, p.resumed, id, &accuracy_message(p));
    }
}

/// A bar of problems on stderr, starting at `done` (problems resumed from an earlier
/// session), with the ETA counted from this session's pace — resumed problems must not
/// look finished in no time.
pub fn problems_bar(total: usize, done: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30.cyan/blue} {pos}/{len} {msg} [{elapsed_precise} < {eta_precise}]",
        )
        .expect("the template is valid")
        .progress_chars("=> "),
    );
    bar.set_position(done as u64);
    bar.reset_eta();
    bar
}

/// Moves `bar` to `done` with `message`; without a terminal (a log file, CI) it prints one
/// plain line per problem finished in this session instead. Finishes the bar at the end.
pub fn show_problem(
    bar: &ProgressBar,
    done: usize,
    total: usize,
    resumed: usize,
    last_id: Option<&str>,
    message: &str,
) {
    bar.set_position(done as u64);
    bar.set_message(message.to_string());
    if bar.is_hidden() && done > resumed {
        eprintln!("[{done}/{total}] {} — {message}", last_id.unwrap_or("?"));
    }
    if done >= total {
        bar.finish();
    }
}

fn accuracy_message(p: &Progress<'_>) -> String {
    if p.done == 0 {
        return "accuracy –".to_string();
    }
    format!("accuracy {:.1}% ({}/{})", 100.0 * p.correct as f64 / p.done as f64, p.correct, p.done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_shows_running_accuracy() {
        let p = Progress { total: 10, done: 4, correct: 3, resumed: 0, last: None };
        assert_eq!(accuracy_message(&p), "accuracy 75.0% (3/4)");
        let p = Progress { total: 10, done: 0, correct: 0, resumed: 0, last: None };
        assert_eq!(accuracy_message(&p), "accuracy –");
    }
}
