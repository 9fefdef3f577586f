//! `cargo run --release -p hypatia-sandbox --example exec -- [--timeout SECS] FILE.py`
//!
//! What `hypatia exec` does, without the CLI crate: prints the DESIGN.md JSON object.

use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut timeout = None;
    let mut file = None;
    while let Some(a) = args.next() {
        if a == "--timeout" {
            let secs: f64 = args.next().and_then(|s| s.parse().ok()).expect("--timeout SECS");
            timeout = Some(Duration::from_secs_f64(secs));
        } else {
            file = Some(a);
        }
    }
    let file = file.expect("usage: exec [--timeout SECS] FILE.py");
    match hypatia_sandbox::exec_file(file.as_ref(), timeout) {
        Ok(out) => println!("{}", out.to_json()),
        Err(e) => {
            eprintln!("hypatia exec: {e}");
            std::process::exit(2);
        }
    }
}
