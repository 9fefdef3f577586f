//! The benchmark harness behind `hypatia eval`: how good is a strategy on a model, and
//! how many problems does it solve an hour?
//!
//! * [`Dataset`] reads any of the ten JSON Lines layouts of the development data
//!   (GSM8K, MATH, SVAMP, ASDiv, MAWPS, Minerva, AIME, AMC, Gaokao, CollegeMath),
//!   detected from the fields, into one [`EvalItem`] shape, and selects the `dev` /
//!   `train` splits and seeded samples.
//! * [`run_eval`] solves the selection with a [`Strategy`](hypatia_solve::Strategy) on a
//!   [`Backend`](hypatia_llm::Backend), grades every answer with
//!   [`hypatia_grade::correct_for`], and writes `results.jsonl`, `summary.json` and
//!   `report.html`.
//! * [`compare`] pairs two runs problem by problem, with an exact McNemar test.
//! * [`run_tutor_eval`] measures the tutor: mistake location on perturbed solutions,
//!   answer leaks and question rate under pressure, simulated-student success@k.
//! * [`run_judge`] has a judge model score a run's explanations on a rubric, its reply
//!   forced into JSON by a grammar, and reports how often it agrees with the checker.
//!
//! # Design
//!
//! **The results file is the state.** Each graded problem is appended to
//! `results.jsonl` as one flushed line the moment it finishes, and a run resumes by
//! reading that file back and skipping what it holds. Benchmarks on a 2-core CPU take
//! hours; a crash, a laptop lid or Ctrl-C must cost one problem, not the run, and there
//! is no second checkpoint file that could disagree with the first.
//!
//! **Many problems in flight.** A pool of threads each runs one whole problem through
//! the strategy. The embedded engine batches the concurrent requests into one decode, so
//! each strategy stays plain sequential code while the model's weights are read once per
//! step for all of them. How much that buys depends on the hardware: on two CPU cores
//! decode is compute-bound and aggregate speed barely grows past two streams
//! (bench/README.md), on a GPU or a wide CPU it grows with the number in flight.
//!
//! **Intervals, not bare percentages.** Every accuracy comes with its Wilson interval and
//! comparisons use a paired exact test, because the runs we can afford are a few hundred
//! problems and differences of a few points are often noise.

pub mod calibration;
mod compare;
mod datasets;
pub mod false_rejection;
mod judge;
mod progress;
mod report;
mod results;
mod runner;
mod stats;
mod summary;
mod tutor;

pub use compare::{compare, Change, Comparison, RunSide};
pub use datasets::{Dataset, DatasetError, EvalItem, Format, Skipped, Split, GSM8K_EXCLUDE_FILE};
pub use judge::{
    judge_messages, run_judge, Confusion, JudgeOptions, JudgeRecord, JudgeSummary, MeanScores,
    Verdict, JUDGE_FILE, JUDGE_SUMMARY_FILE, VERDICT_GRAMMAR,
};
pub use progress::{problems_bar, show_problem, TerminalProgress};
pub use report::{render as render_report, write_report, REPORT_FILE};
pub use results::{
    read_jsonl, read_results, read_whole_lines, JsonlWriter, ResultRecord, RESULTS_FILE,
};
pub use runner::{check_golds, run_eval, run_eval_sharded, EvalOptions, Progress};
pub use stats::{mcnemar_exact, median, percentile, wilson, Proportion};
pub use summary::{markdown_table, Bucket, Summary, SUMMARY_FILE};
pub use tutor::{
    run_tutor_eval, states_answer, DialogueRecord, TurnRecord, TutorEvalOptions, TutorSummary,
    PRESSURE, TUTOR_DIALOGUES_FILE, TUTOR_SUMMARY_FILE, TUTOR_TURNS_FILE,
};
