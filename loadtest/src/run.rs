//! Wires the command line to scenarios, load models and output.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::body::{self, BodySource};
use crate::cli::{
    DEFAULT_TURNS, FunctionArgs, LoadArgs, MediaArgs, OutputArgs, PacerKind, PlotArgs, WsIdleArgs,
    WsStreamArgs,
};
use crate::model::{self, Control, LoadModel, Pacer, RunOutput, Settings, pacer};
use crate::plot::{self, Series};
use crate::report::{Report, RunInfo};
use crate::scenario::Scenario;
use crate::scenario::function::{FunctionConfig, FunctionScenario};
use crate::ws::fd_limit;
use crate::ws::idle::{self, IdleConfig};
use crate::ws::idle_report::{IdleInfo, IdleReport};
use crate::ws::stream::{self, Plan, StreamConfig};
use crate::ws::stream_report::{StreamInfo, StreamReport};
use crate::ws::target::Target;

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

/// Runs `ws-stream`, prints the report and returns it.
pub fn ws_stream(args: &WsStreamArgs) -> Result<StreamReport, String> {
    let runtime = runtime(args.target.threads)?;
    let report = runtime.block_on(run_ws_stream(args))?;
    print_report(
        args.output.json.then(|| report.to_json()).transpose()?,
        &report.to_text(),
        args.output.quiet,
    );
    if let Some(path) = &args.output.plot {
        let title = "ws-stream time to first chunk by percentile";
        let series = Series {
            label: report.label.clone(),
            percentiles: report.percentiles.clone(),
        };
        write_svg(path, title, &[series])?;
    }
    Ok(report)
}

/// Runs `ws-idle`, prints the report and returns it.
pub fn ws_idle(args: &WsIdleArgs) -> Result<IdleReport, String> {
    let runtime = runtime(args.target.threads)?;
    let report = runtime.block_on(run_ws_idle(args))?;
    print_report(
        args.json.then(|| report.to_json()).transpose()?,
        &report.to_text(),
        args.quiet,
    );
    Ok(report)
}

async fn run_ws_stream(args: &WsStreamArgs) -> Result<StreamReport, String> {
    let fd_limit = fd_limit::raise();
    if let Some(warning) = fd_limit::shortfall(u64::from(args.sessions), fd_limit) {
        eprintln!("omnia-loadtest: {warning}");
    }
    let target =
        Arc::new(Target::new(&args.target.url, &args.target.agent, &args.target.headers).await?);
    let plan = match (args.turns, args.duration) {
        (_, Some(duration)) => Plan::For(duration),
        (turns, None) => Plan::Turns(turns.unwrap_or(DEFAULT_TURNS)),
    };
    let config = StreamConfig {
        sessions: args.sessions,
        plan,
        message: stream::message_frame(&args.message)?,
        timeout: args.target.timeout,
    };
    let info = StreamInfo {
        label: args
            .output
            .label
            .clone()
            .unwrap_or_else(|| target.url().to_owned()),
        target: target.url().to_owned(),
        sessions: args.sessions,
        plan,
        threads: args.target.threads,
        message_bytes: config.message.len(),
        timeout: args.target.timeout,
    };
    let (stop, interrupt) = stop_on_ctrl_c();
    let recorder = stream::run(target, &config, stop).await;
    interrupt.abort();
    Ok(StreamReport::new(info, &recorder?))
}

async fn run_ws_idle(args: &WsIdleArgs) -> Result<IdleReport, String> {
    let fd_limit = fd_limit::raise();
    if let Some(warning) = fd_limit::shortfall(u64::from(args.connections), fd_limit) {
        eprintln!("omnia-loadtest: {warning}");
    }
    let target =
        Arc::new(Target::new(&args.target.url, &args.target.agent, &args.target.headers).await?);
    let concurrency = usize::try_from(args.concurrency).unwrap_or(usize::MAX);
    let config = IdleConfig {
        connections: args.connections,
        hold: args.hold,
        concurrency,
        timeout: args.target.timeout,
        pid: args.pid,
        announce: !args.quiet,
    };
    let info = IdleInfo {
        label: args
            .label
            .clone()
            .unwrap_or_else(|| target.url().to_owned()),
        target: target.url().to_owned(),
        connections: args.connections,
        concurrency,
        hold: args.hold,
        timeout: args.target.timeout,
        threads: args.target.threads,
        fd_limit,
    };
    let (stop, interrupt) = stop_on_ctrl_c();
    let outcome = idle::run(target, &config, stop).await;
    interrupt.abort();
    Ok(IdleReport::new(info, &outcome?))
}

/// A stop signal that Ctrl-C sets: the WebSocket runs then end early and report what they
/// measured. The task keeps the sender alive until it is aborted.
fn stop_on_ctrl_c() -> (
    tokio::sync::watch::Receiver<bool>,
    tokio::task::JoinHandle<()>,
) {
    let (sender, receiver) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = sender.send(true);
            // Keeps the sender (and so the stop) alive until the run aborts this task.
            std::future::pending::<()>().await;
        }
    });
    (receiver, task)
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
    let path = format!("/functions/{}", args.function);
    let scenario = Arc::new(
        FunctionScenario::new(FunctionConfig {
            url: &args.url,
            path: &path,
            name: "function",
            body,
            content_type: &args.content_type,
            headers: &args.headers,
            http2: args.http2,
        })
        .await?,
    );
    drive(scenario, &args.load, &args.output, args.http2).await
}

/// Runs `media`, prints the report and returns it.
pub fn media(args: &MediaArgs) -> Result<Report, String> {
    let runtime = runtime(args.load.threads)?;
    let report = runtime.block_on(run_media(args))?;
    emit(&report, &args.output)?;
    Ok(report)
}

async fn run_media(args: &MediaArgs) -> Result<Report, String> {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("agent", &args.agent)
        .finish();
    let path = format!("/media/request-upload?{query}");
    let body = serde_json::json!({
        "session_id": args.session,
        "filename": "loadtest.bin",
        "mime_type": args.mime_type,
        "size_bytes": args.size_bytes,
    });
    let scenario = Arc::new(
        FunctionScenario::new(FunctionConfig {
            url: &args.url,
            path: &path,
            name: "media",
            body: Bytes::from(body.to_string()),
            content_type: "application/json",
            headers: &args.headers,
            http2: args.http2,
        })
        .await?,
    );
    drive(scenario, &args.load, &args.output, args.http2).await
}

/// The flags a request/reply run is driven by.
struct DriveArgs<'a> {
    load: &'a LoadArgs,
    output: &'a OutputArgs,
    http2: bool,
}

/// Runs `scenario` under the load the flags ask for and reports it.
async fn drive(
    scenario: Arc<FunctionScenario>,
    load: &LoadArgs,
    output_args: &OutputArgs,
    http2: bool,
) -> Result<Report, String> {
    let args = DriveArgs {
        load,
        output: output_args,
        http2,
    };
    let model = load_model(args.load);
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
        settings(args.load),
        show_progress(args.output),
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
    print_report(
        output.json.then(|| report.to_json()).transpose()?,
        &report.to_text(),
        output.quiet,
    );
    if let Some(path) = &output.plot {
        let title = format!("{} latency by percentile", report.scenario);
        write_svg(path, &title, &[Series::from(report)])?;
    }
    Ok(())
}

/// JSON (when asked for) on stdout with the text on stderr, or the text alone on stdout;
/// `quiet` drops the text.
fn print_report(json: Option<String>, text: &str, quiet: bool) {
    if let Some(json) = json {
        println!("{json}");
        if !quiet {
            eprint!("{text}");
        }
    } else if !quiet {
        print!("{text}");
    }
}

fn write_svg(path: &std::path::Path, title: &str, series: &[Series]) -> Result<(), String> {
    std::fs::write(path, plot::render(title, series))
        .map_err(|e| format!("writing {}: {e}", path.display()))
}
