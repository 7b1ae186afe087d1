//! Wires the command line to scenarios, load models and output.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::body::{self, BodySource};
use crate::cli::{FunctionArgs, LoadArgs, OutputArgs, PacerKind, PlotArgs};
use crate::model::{self, Control, LoadModel, Pacer, RunOutput, Settings, pacer};
use crate::plot::{self, Series};
use crate::report::{Report, RunInfo};
use crate::scenario::Scenario;
use crate::scenario::function::{FunctionConfig, FunctionScenario};

/// Progress refresh period: often enough to look live, rare enough to cost nothing.
const PROGRESS_TICK: Duration = Duration::from_millis(200);

/// Runs the `function` scenario on a runtime sized by `--threads`, prints the report and
/// returns it.
pub fn function(args: &FunctionArgs) -> Result<Report, String> {
    let runtime = runtime(args.load.threads)?;
    let report = runtime.block_on(run_function(args))?;
    emit(&report, &args.output)?;
    Ok(report)
}

/// Draws saved `--json` results into one SVG.
pub fn plot(args: &PlotArgs) -> Result<(), String> {
    let series = plot::load_runs(&args.runs)?;
    write_svg(&args.out, &args.title, &series)
}

/// A current-thread runtime for one thread (no cross-thread wake-ups, and it leaves the other
/// core to the server under test), a multi-thread one otherwise.
fn runtime(threads: u16) -> Result<tokio::runtime::Runtime, String> {
    let mut builder = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(usize::from(threads));
        builder
    };
    builder
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))
}

async fn run_function(args: &FunctionArgs) -> Result<Report, String> {
    let source = if let Some(path) = &args.body_file {
        BodySource::File(path)
    } else if let Some(path) = &args.body_template {
        BodySource::Template(path)
    } else {
        BodySource::Generated {
            size: args.body_size,
            field_max_len: args.field_max_len,
        }
    };
    let body = body::load(&source)?;
    let scenario = Arc::new(
        FunctionScenario::new(FunctionConfig {
            url: &args.url,
            function: &args.function,
            body,
            content_type: &args.content_type,
            headers: &args.headers,
            http2: args.http2,
        })
        .await?,
    );
    let model = load_model(&args.load);
    let info = RunInfo {
        label: args
            .output
            .label
            .clone()
            .unwrap_or_else(|| scenario.target().to_owned()),
        scenario: scenario.name().to_owned(),
        target: scenario.target().to_owned(),
        model: model.name().to_owned(),
        http_version: if args.http2 { "2" } else { "1.1" }.to_owned(),
        connections: model.connections(),
        rate: args.load.rate,
        threads: args.load.threads,
        body_bytes: u64::try_from(scenario.body_len()).ok(),
        warmup: args.load.warmup,
        duration: args.load.duration,
        late_threshold: args.load.late_threshold,
    };
    let output = execute(
        &scenario,
        model,
        settings(&args.load),
        show_progress(&args.output),
    )
    .await?;
    Ok(Report::new(info, &output.recorder, output.measured))
}

/// The load model the flags ask for.
pub fn load_model(load: &LoadArgs) -> LoadModel {
    match load.rate {
        Some(rate) => LoadModel::Open {
            rate,
            connections: load.connections,
        },
        None => LoadModel::Closed {
            connections: load.connections,
        },
    }
}

/// The model settings the flags ask for.
pub fn settings(load: &LoadArgs) -> Settings {
    let spin = load
        .pacer_spin
        .unwrap_or_else(|| load.rate.map_or(Duration::ZERO, pacer::auto_spin));
    Settings {
        warmup: load.warmup,
        duration: load.duration,
        timeout: load.timeout,
        late_threshold: load.late_threshold,
        pacer: match load.pacer {
            PacerKind::Timerfd => Pacer::TimerFd { spin },
            PacerKind::Thread => Pacer::Thread { spin },
        },
    }
}

fn show_progress(output: &OutputArgs) -> bool {
    !output.quiet && std::io::stderr().is_terminal()
}

/// Runs any scenario under a model with a progress bar and Ctrl-C handling.
pub async fn execute<S: Scenario>(
    scenario: &S,
    model: LoadModel,
    settings: Settings,
    progress: bool,
) -> Result<RunOutput, String> {
    let control = Control::new(model.connections());
    let interrupt = {
        let control = Arc::clone(&control);
        tokio::spawn(async move {
            // Ctrl-C ends the run early with a report of what was measured so far.
            if tokio::signal::ctrl_c().await.is_ok() {
                control.stop();
            }
        })
    };
    let bar = progress.then(|| progress_bar(&control, settings.warmup + settings.duration));
    let result = model::run(scenario, model, settings, &control).await;
    interrupt.abort();
    if let Some((bar, task)) = bar {
        task.abort();
        bar.finish_and_clear();
    }
    result
}

/// A bar over the run's wall time showing live request and error counts, on stderr.
fn progress_bar(
    control: &Arc<Control>,
    total: Duration,
) -> (ProgressBar, tokio::task::JoinHandle<()>) {
    let millis = u64::try_from(total.as_millis()).unwrap_or(u64::MAX);
    let bar = ProgressBar::with_draw_target(Some(millis), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {msg}") {
        bar.set_style(style);
    }
    let task = {
        let bar = bar.clone();
        let control = Arc::clone(control);
        tokio::spawn(async move {
            let start = tokio::time::Instant::now();
            let mut ticks = tokio::time::interval(PROGRESS_TICK);
            loop {
                ticks.tick().await;
                let elapsed = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
                let (done, failed) = control.totals();
                bar.set_position(elapsed.min(millis));
                bar.set_message(format!(
                    "{:.1}/{:.1} s  {done} requests, {failed} errors",
                    start.elapsed().as_secs_f64().min(total.as_secs_f64()),
                    total.as_secs_f64()
                ));
            }
        })
    };
    (bar, task)
}

/// Prints the report (text and/or JSON) and writes the plot.
fn emit(report: &Report, output: &OutputArgs) -> Result<(), String> {
    if output.json {
        println!("{}", report.to_json()?);
        if !output.quiet {
            eprint!("{}", report.to_text());
        }
    } else if !output.quiet {
        print!("{}", report.to_text());
    }
    if let Some(path) = &output.plot {
        let title = format!("{} latency by percentile", report.scenario);
        write_svg(path, &title, &[Series::from(report)])?;
    }
    Ok(())
}

fn write_svg(path: &std::path::Path, title: &str, series: &[Series]) -> Result<(), String> {
    std::fs::write(path, plot::render(title, series))
        .map_err(|e| format!("writing {}: {e}", path.display()))
}
