//! Open-model tests on tokio's paused clock: timings are exact, and no test measures speed.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Schedule;
use crate::model::{self, Control, LoadModel, Pacer, Settings};
use crate::recorder::Recorder;
use crate::scenario::ErrorKind;
use crate::test_support::FakeScenario;

const MS: Duration = Duration::from_millis(1);

fn settings(duration: Duration, timeout: Duration) -> Settings {
    Settings {
        warmup: Duration::ZERO,
        duration,
        timeout,
        late_threshold: MS,
        pacer: Pacer::Tokio,
    }
}

/// Replies recorded with a latency of at least `floor`.
fn at_least(recorder: &Recorder, floor: Duration) -> u64 {
    let floor = u64::try_from(floor.as_micros()).unwrap();
    recorder.latency().count_between(floor, u64::MAX)
}

#[test]
fn due_times_are_exact_multiples_of_the_period() {
    let t0 = Instant::now();
    let per_ms = Schedule::new(t0, 1000.0);
    for i in [0, 1, 2, 999, 1000, 123_456_789] {
        assert_eq!(per_ms.offset(i), Duration::from_millis(i));
        assert_eq!(per_ms.at(i), t0 + Duration::from_millis(i));
    }
    // 1/3 s has no exact binary representation; offsets are still computed from i, so the
    // 3 billionth request is due exactly a billion seconds in, with no accumulated drift.
    let thirds = Schedule::new(t0, 3.0);
    assert_eq!(thirds.offset(1), Duration::from_nanos(333_333_333));
    assert_eq!(thirds.offset(3), Duration::from_secs(1));
    assert_eq!(
        thirds.offset(3_000_000_000),
        Duration::from_secs(1_000_000_000)
    );
}

#[test]
fn counts_of_due_requests_before_an_offset() {
    let schedule = Schedule::new(Instant::now(), 1000.0);
    assert_eq!(schedule.count_before(Duration::ZERO), 0);
    assert_eq!(schedule.count_before(MS), 1);
    assert_eq!(schedule.count_before(Duration::from_secs(1)), 1000);
    let thirds = Schedule::new(Instant::now(), 3.0);
    assert_eq!(thirds.count_before(Duration::from_secs(1)), 3);
    assert_eq!(thirds.count_before(Duration::from_millis(1001)), 4);
}

#[tokio::test(start_paused = true)]
async fn requests_start_at_their_due_times() {
    let (tx, mut starts) = mpsc::unbounded_channel();
    let mut fake = FakeScenario::new(MS, u64::MAX, Duration::ZERO);
    fake.starts = Some(tx);
    let control = Control::new(2);
    let model = LoadModel::Open {
        rate: 100.0,
        connections: 2,
    };
    let output = model::run(
        &fake,
        model,
        settings(Duration::from_millis(100), MS * 50),
        &control,
    )
    .await
    .unwrap();
    assert_eq!(output.recorder.requests(), 10);
    let mut times = Vec::new();
    while let Ok(at) = starts.try_recv() {
        times.push(at);
    }
    assert_eq!(times.len(), 10);
    for (i, at) in times.iter().enumerate() {
        assert_eq!(*at - times[0], MS * 10 * u32::try_from(i).unwrap());
    }
    assert_eq!(output.recorder.lag().late, 0);
}

/// The coordinated-omission property: one 200 ms stall with one connection. The requests due
/// during the stall wait for the connection, and that wait is in their latency.
#[tokio::test(start_paused = true)]
async fn a_stall_shows_in_every_request_queued_behind_it() {
    let fake = FakeScenario::new(MS, 5, MS * 200);
    let control = Control::new(1);
    let model = LoadModel::Open {
        rate: 100.0,
        connections: 1,
    };
    let output = model::run(
        &fake,
        model,
        settings(Duration::from_secs(1), Duration::from_secs(5)),
        &control,
    )
    .await
    .unwrap();
    let recorder = &output.recorder;
    assert_eq!(recorder.requests(), 100);
    assert_eq!(recorder.errors(), 0);
    // Request 5 is due at 50 ms and answered at 250 ms. Request k ≥ 6 is due at 10k ms but
    // starts when its predecessor ends, 250 + (k - 6) ms, so its latency is (245 - 9k) ms:
    // 191, 182, ..., 101 ms for k = 6..=16, then below 100 ms until the backlog clears at k = 28.
    assert_eq!(at_least(recorder, MS * 100), 12);
    let histogram = recorder.latency();
    assert_eq!(histogram.max(), histogram.highest_equivalent(200_000));
    assert!(histogram.value_at_quantile(0.90) >= 100_000);
    // The queued requests were also sent late (by (244 - 9k) ms, more than 1 ms for
    // k = 6..=26), which the report shows.
    assert_eq!(recorder.lag().late, 21);
    assert_eq!(recorder.lag().max_us, 190_000);
}

/// The same stall under the closed model: only the stalled request itself looks slow, because
/// the requests it delayed were never sent. This is the blind spot the open model removes.
#[tokio::test(start_paused = true)]
async fn the_closed_model_hides_the_same_stall() {
    let fake = FakeScenario::new(MS, 5, MS * 200);
    let control = Control::new(1);
    let model = LoadModel::Closed { connections: 1 };
    let output = model::run(
        &fake,
        model,
        settings(Duration::from_secs(1), Duration::from_secs(5)),
        &control,
    )
    .await
    .unwrap();
    assert_eq!(at_least(&output.recorder, MS * 100), 1);
    assert_eq!(output.recorder.latency().value_at_quantile(0.99), 1000);
}

/// A target slower than the rate: requests still queued when the run ends count as `unsent`
/// errors instead of vanishing, so every due request is accounted for.
#[tokio::test(start_paused = true)]
async fn requests_never_sent_are_counted() {
    let fake = FakeScenario::new(MS * 50, u64::MAX, Duration::ZERO);
    let control = Control::new(1);
    let model = LoadModel::Open {
        rate: 100.0,
        connections: 1,
    };
    let output = model::run(
        &fake,
        model,
        settings(Duration::from_secs(1), MS * 100),
        &control,
    )
    .await
    .unwrap();
    let recorder = &output.recorder;
    assert_eq!(recorder.requests(), 100);
    let unsent = recorder
        .failures()
        .find(|(kind, _)| *kind == ErrorKind::Unsent)
        .map(|(_, n)| n)
        .unwrap_or(0);
    assert!(unsent > 50, "unsent {unsent}");
    assert_eq!(recorder.replies() + unsent, 100);
}

#[tokio::test(start_paused = true)]
async fn warmup_requests_are_not_recorded() {
    let fake = FakeScenario::new(MS, u64::MAX, Duration::ZERO);
    let control = Control::new(1);
    let model = LoadModel::Open {
        rate: 100.0,
        connections: 1,
    };
    let mut settings = settings(Duration::from_millis(500), Duration::from_secs(1));
    settings.warmup = Duration::from_millis(300);
    let output = model::run(&fake, model, settings, &control).await.unwrap();
    assert_eq!(output.recorder.requests(), 50);
    assert_eq!(control.totals().0, 80);
}
