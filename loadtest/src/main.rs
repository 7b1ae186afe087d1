//! The `omnia-loadtest` binary: parses the command line and runs the chosen subcommand.

use std::process::ExitCode;

use clap::Parser;
use omnia_loadtest::cli::{Cli, Command};
use omnia_loadtest::run;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Function(args) => run::function(&args).map(|_| ()),
        Command::Media(args) => run::media(&args).map(|_| ()),
        Command::WsStream(args) => run::ws_stream(&args).map(|_| ()),
        Command::WsIdle(args) => run::ws_idle(&args).map(|_| ()),
        Command::Plot(args) => run::plot(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("omnia-loadtest: {error}");
            ExitCode::FAILURE
        }
    }
}
