//! Reads `{"gold":…,"pred":…}` JSON Lines on stdin and prints one `{"equal":bool}` per
//! line: the same contract as `hypatia grade --pairs`, for scripts and the math-verify
//! cross-check (`bench/grade/`). With arguments `GOLD PRED`, prints `equal`/`different`.

use std::io::{self, BufWriter};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [gold, pred] = args.as_slice() {
        let v = hypatia_grade::equivalent(gold, pred);
        println!("{}", if v { "equal" } else { "different" });
        return Ok(());
    }
    let stdin = io::stdin().lock();
    let stdout = BufWriter::new(io::stdout().lock());
    hypatia_grade::grade_pairs_jsonl(stdin, stdout)?;
    Ok(())
}
