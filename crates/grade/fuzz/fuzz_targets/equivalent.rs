//! Feeds arbitrary bytes to extraction and to the checker, both ways round. Any panic,
//! abort, timeout or memory blow-up is a bug.
#![no_main]

use hypatia_grade::{equivalent, extract_answer, extract_program_answer, ExtractOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    // The first NUL (if any) splits the input into gold and prediction.
    let (gold, pred) = s.split_once('\0').unwrap_or((s, s));
    let _ = equivalent(gold, pred);
    let _ = equivalent(pred, gold);
    let _ = extract_answer(s, &ExtractOptions::default());
    let _ = extract_program_answer(s);
});
