//! seawall saving a service from a failing dependency, live.
//!
//! A real axum "upstream" on 127.0.0.1 follows a script of five equal phases,
//! played by the chaos layer and by stopping its listener: healthy, 30%
//! errors, hard down (connection refused), slow (answers after the timeout),
//! recovering. A number of callers call it with a real reqwest client through
//! the full seawall stack (fallback -> retry -> breaker -> bulkhead ->
//! timeout); a status line, cut to the terminal's width, shows what they see
//! and what the breaker does, and state transitions print as they happen.
//! Then the same script runs again with the bare client. Each run ends with
//! its final counters, and a side-by-side summary shows the difference;
//! `--plot FILE.svg` draws both runs on one timeline.
//!
//! ```sh
//! cargo run --example demo                      # about 30 s
//! cargo run --example demo -- --plot demo.svg   # and a picture of it
//! cargo run --example demo -- --help
//! ```

mod args;
mod plot;
mod report;
mod run;
mod screen;
mod script;
mod tally;

use std::process::ExitCode;
use std::sync::Arc;

use crate::screen::Screen;

#[tokio::main]
async fn main() -> ExitCode {
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("demo: {err}\n\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    // Find out now, not after a minute of running, that the picture cannot
    // be written.
    if let Some(path) = &args.plot {
        if let Err(err) = plot::write(path, "") {
            eprintln!("demo: {err}");
            return ExitCode::from(2);
        }
    }
    let screen = Arc::new(Screen::new());
    let script = script::Script::new(args.duration);
    println!(
        "seawall demo: {} callers, {} s per run, seed {}",
        args.concurrency,
        args.duration.as_secs(),
        args.seed
    );
    println!("stack: fallback -> retry (3 attempts, budget) -> breaker -> bulkhead -> timeout");
    println!(
        "       the breaker trips at 50% failures of 20 calls and stays open {:.1} s;",
        script.open_wait().as_secs_f64()
    );
    println!(
        "       each attempt times out after {} ms",
        run::ATTEMPT_TIMEOUT.as_millis()
    );
    println!("status: real = the upstream's own answers, fb = fallbacks, err = errors,");
    println!("        sent = requests sent to the upstream, ref = refused by the breaker\n");
    let mut outcomes = Vec::new();
    for with_seawall in [true, false] {
        if !with_seawall {
            println!(
                "now the same script with a bare reqwest client (timeout {} ms, no retries):\n",
                run::BARE_TIMEOUT.as_millis()
            );
        }
        match run::run(&args, with_seawall, screen.clone()).await {
            Ok(outcome) => {
                for line in report::final_counters(&outcome) {
                    println!("{line}");
                }
                println!();
                outcomes.push(outcome);
            }
            Err(err) => {
                eprintln!("demo: cannot serve the upstream on 127.0.0.1: {err}");
                if let Some(path) = &args.plot {
                    let _ = std::fs::remove_file(path);
                }
                return ExitCode::FAILURE;
            }
        }
    }
    let (with, without) = (&outcomes[0], &outcomes[1]);
    for line in report::summary(with, without) {
        println!("{line}");
    }
    if let Some(path) = &args.plot {
        let written = plot::render(&args, with, without).and_then(|svg| plot::write(path, &svg));
        match written {
            Ok(()) => println!("\nthe timeline of both runs: {}", path.display()),
            Err(err) => {
                eprintln!("demo: {err}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
