//! End-to-end tests against a real local hyper server. They assert counts and correctness,
//! never a rate.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use hyper::Version;
use hyper::header::{AUTHORIZATION, HeaderValue};

use crate::cli::{Cli, Command};
use crate::model::{self, Control, LoadModel, Pacer, RunOutput, Settings};
use crate::report::{Report, RunInfo};
use crate::scenario::ErrorKind;
use crate::scenario::function::{FunctionConfig, FunctionScenario};
use crate::test_support::{Reply, serve, serve_with};

const MS: Duration = Duration::from_millis(1);

fn settings(duration: Duration) -> Settings {
    Settings {
        warmup: Duration::ZERO,
        duration,
        timeout: Duration::from_secs(5),
        late_threshold: MS,
        pacer: Pacer::TimerFd {
            spin: Duration::ZERO,
        },
    }
}

async fn scenario(url: &str, body: &'static [u8], http2: bool) -> Arc<FunctionScenario> {
    let headers = [(AUTHORIZATION, HeaderValue::from_static("Bearer KEY"))];
    let config = FunctionConfig {
        url,
        path: "/functions/echo",
        name: "function",
        body: Bytes::from_static(body),
        content_type: "application/json",
        headers: &headers,
        http2,
    };
    Arc::new(FunctionScenario::new(config).await.unwrap())
}

async fn closed(scenario: &Arc<FunctionScenario>, connections: u32, run: Duration) -> RunOutput {
    let control = Control::new(connections);
    model::run(
        scenario,
        LoadModel::Closed { connections },
        settings(run),
        &control,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn closed_run_against_a_local_server_has_no_errors() {
    let mut server = serve(false, |_| Reply::ok()).await;
    let scenario = scenario(&server.url, br#"{"message":"hello"}"#, false).await;
    let output = closed(&scenario, 2, MS * 300).await;
    assert!(output.recorder.requests() > 0);
    assert_eq!(output.recorder.errors(), 0);
    assert_eq!(output.recorder.latency().len(), output.recorder.requests());
    assert!(output.measured > Duration::ZERO);

    let seen = server.seen.recv().await.unwrap();
    assert_eq!(seen.path, "/functions/echo");
    assert_eq!(seen.version, Version::HTTP_11);
    assert_eq!(seen.authorization.as_deref(), Some("Bearer KEY"));
    assert_eq!(seen.content_type.as_deref(), Some("application/json"));
    assert_eq!(&seen.body[..], br#"{"message":"hello"}"#);
}

#[tokio::test]
async fn http2_prior_knowledge_works() {
    let mut server = serve(true, |_| Reply::ok()).await;
    let scenario = scenario(&server.url, b"{}", true).await;
    let output = closed(&scenario, 2, MS * 200).await;
    assert!(output.recorder.requests() > 0);
    assert_eq!(output.recorder.errors(), 0);
    let seen = server.seen.recv().await.unwrap();
    assert_eq!(seen.version, Version::HTTP_2);
    assert_eq!(seen.path, "/functions/echo");
    assert_eq!(seen.authorization.as_deref(), Some("Bearer KEY"));
}

#[tokio::test]
async fn a_server_closing_each_connection_is_not_an_error() {
    let server = serve_with(false, false, |_| Reply::ok()).await;
    let scenario = scenario(&server.url, b"{}", false).await;
    let output = closed(&scenario, 1, MS * 200).await;
    assert!(output.recorder.requests() > 1);
    assert_eq!(output.recorder.errors(), 0);
}

#[tokio::test]
async fn error_replies_are_tallied_by_status() {
    let server = serve(false, |index| Reply {
        status: if index % 3 == 2 { 500 } else { 200 },
        delay: Duration::ZERO,
    })
    .await;
    let scenario = scenario(&server.url, b"{}", false).await;
    let output = closed(&scenario, 1, MS * 300).await;
    let recorder = &output.recorder;
    let errors: Vec<_> = recorder.error_statuses().collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let (code, count) = errors[0];
    assert_eq!(code, 500);
    assert!(count > 0);
    assert_eq!(recorder.errors(), count);
    assert_eq!(recorder.ok() + count, recorder.requests());
    // One connection and a global counter: exactly every third reply is a 500.
    assert!((count * 3).abs_diff(recorder.requests()) <= 3);
    assert_eq!(recorder.failures().count(), 0);
}

#[tokio::test]
async fn refused_connections_are_tallied_by_kind() {
    // A port that was just free: nothing listens there any more.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let scenario = scenario(&url, b"{}", false).await;
    let output = closed(&scenario, 1, MS * 100).await;
    let failures: Vec<_> = output.recorder.failures().collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].0, ErrorKind::ConnectRefused);
    assert_eq!(output.recorder.replies(), 0);
    assert_eq!(output.recorder.errors(), failures[0].1);
}

/// The coordinated-omission property against a real server and the real (thread) pacer: a
/// single 200 ms stall shows in the requests that queued behind it. Only lower bounds are
/// asserted, so a slow machine cannot fail it.
#[tokio::test]
async fn open_model_counts_the_wait_behind_a_real_stall() {
    let spin = Duration::from_micros(50);
    for pacer in [Pacer::TimerFd { spin }, Pacer::Thread { spin }] {
        open_run_behind_a_stall(pacer).await;
    }
}

async fn open_run_behind_a_stall(pacer: Pacer) {
    let server = serve(false, |index| Reply {
        status: 200,
        delay: if index == 10 {
            MS * 200
        } else {
            Duration::ZERO
        },
    })
    .await;
    let scenario = scenario(&server.url, b"{}", false).await;
    let control = Control::new(1);
    let model = LoadModel::Open {
        rate: 200.0,
        connections: 1,
    };
    let settings = Settings {
        pacer,
        ..settings(Duration::from_secs(1))
    };
    let output = model::run(&scenario, model, settings, &control)
        .await
        .unwrap();
    let recorder = &output.recorder;
    assert_eq!(recorder.requests(), 200);
    assert_eq!(recorder.errors(), 0);
    // Due every 5 ms; about 40 requests fall due during the stall and ~20 of them wait
    // ≥ 100 ms. A closed model would show exactly one slow request.
    let slow = recorder.latency().count_between(100_000, u64::MAX);
    assert!(slow >= 10, "{pacer:?}: only {slow} requests ≥ 100 ms");
    assert!(recorder.latency().max() >= 200_000);
    assert!(recorder.lag().late >= 10);
    assert!(recorder.lag().max_us >= 150_000);
}

#[tokio::test]
async fn the_report_of_a_run_has_the_run_in_it() {
    let server = serve(false, |_| Reply::ok()).await;
    let scenario = scenario(&server.url, b"{}", false).await;
    let output = closed(&scenario, 1, MS * 100).await;
    let info = RunInfo {
        label: "local".into(),
        scenario: "function".into(),
        target: scenario.target().to_owned(),
        model: "closed".into(),
        http_version: "1.1".into(),
        connections: 1,
        rate: None,
        threads: 1,
        body_bytes: Some(2),
        warmup: Duration::ZERO,
        duration: MS * 100,
        late_threshold: MS,
    };
    let report = Report::new(info, &output.recorder, output.measured);
    assert_eq!(report.requests, output.recorder.requests());
    assert!(report.throughput_rps > 0.0);
    assert!(report.latency_us.p50 <= report.latency_us.p99);
    assert!(report.latency_us.p99 <= report.latency_us.max);
    assert!(report.open.is_none());
    assert_eq!(report.target, format!("{}/functions/echo", server.url));
}

/// The whole command line: `function --json --plot`, then `plot` of two saved results.
#[test]
fn command_line_run_writes_json_and_plots() {
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server_thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let server = serve(false, |_| Reply::ok()).await;
            url_tx.send(server.url.clone()).unwrap();
            let _ = stop_rx.await;
        });
    });
    let url = url_rx.recv().unwrap();
    let dir = std::env::temp_dir().join(format!("omnia-loadtest-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let single = dir.join("single.svg");
    let cli = Cli::try_parse_from([
        "omnia-loadtest",
        "function",
        "--url",
        &url,
        "--function",
        "echo",
        "--body-size",
        "300",
        "--rate",
        "200",
        "--connections",
        "2",
        "--duration",
        "300ms",
        "--warmup",
        "100ms",
        "--quiet",
        "--json",
        "--label",
        "gateway",
        "--plot",
        single.to_str().unwrap(),
    ])
    .unwrap();
    let Command::Function(args) = cli.command else {
        panic!("expected function");
    };
    let report = crate::run::function(&args).unwrap();
    stop_tx.send(()).unwrap();
    server_thread.join().unwrap();

    assert_eq!(report.requests, 60);
    assert_eq!(report.errors, 0);
    assert_eq!(report.model, "open");
    assert_eq!(report.body_bytes, Some(300));
    assert!(
        std::fs::read_to_string(&single)
            .unwrap()
            .starts_with("<svg")
    );

    let mut second = report.clone();
    second.label = "nginx".into();
    let a = dir.join("a.json");
    let b = dir.join("b.json");
    std::fs::write(&a, report.to_json().unwrap()).unwrap();
    std::fs::write(&b, second.to_json().unwrap()).unwrap();
    let out = dir.join("compare.svg");
    let cli = Cli::try_parse_from([
        "omnia-loadtest",
        "plot",
        "--out",
        out.to_str().unwrap(),
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ])
    .unwrap();
    let Command::Plot(args) = cli.command else {
        panic!("expected plot");
    };
    crate::run::plot(&args).unwrap();
    let svg = std::fs::read_to_string(&out).unwrap();
    assert_eq!(svg.matches("<path d=\"M").count(), 2);
    assert!(svg.contains(">gateway</text>") && svg.contains(">nginx</text>"));
    std::fs::remove_dir_all(&dir).unwrap();
}
