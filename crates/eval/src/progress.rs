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
        let bar = self.bar.get_or_insert_with(|| {
            let bar =
                ProgressBar::with_draw_target(Some(p.total as u64), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30.cyan/blue} {pos}/{len} {msg} [{elapsed_precise} < {eta_precise}]",
                )
                .expect("the template is valid")
                .progress_chars("=> "),
            );
            bar.set_position(p.done as u64);
            // The ETA must come from this session's pace, not count resumed problems as
            // solved in no time.
            bar.reset_eta();
            bar
        });
        bar.set_position(p.done as u64);
        bar.set_message(accuracy_message(p));
        if bar.is_hidden() && p.done > p.resumed {
            // No terminal (a log file, CI): one plain line per finished problem instead.
            let id = p.last.map(|r| r.id.as_str()).unwrap_or("?");
            eprintln!("[{}/{}] {id} — {}", p.done, p.total, accuracy_message(p));
        }
        if p.done >= p.total {
            bar.finish();
        }
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
