//! Draws the replica tuner following simulated load (the traces of
//! `operator/tests/tuner_simulation.rs`): the pods the load needs and the pods the tuner runs,
//! one SVG per trace.
//!
//! `cargo run -p omnia-operator --example tuner_trace -- docs/tuner`
//! writes `docs/tuner-spike.svg` and `docs/tuner-diurnal.svg`.

use std::fmt::Write as _;
use std::time::Duration;

use omnia_operator::tuner::{Behaviour, Target, Tuner};

const PER_POD: f64 = 100.0;

fn main() -> Result<(), String> {
    let prefix = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "docs/tuner".to_owned());
    let spike: Vec<f64> = (0..120)
        .map(|i| if (40..60).contains(&i) { 1500.0 } else { 200.0 })
        .collect();
    let mut seed = 42_u64;
    let diurnal: Vec<f64> = (0..1440)
        .map(|minute| {
            let phase = f64::from(minute) / 1440.0 * std::f64::consts::TAU;
            (1000.0 - 800.0 * phase.cos()) * (1.0 + 0.05 * noise(&mut seed))
        })
        .collect();
    for (name, trace, step, minutes) in [
        ("spike", spike, Duration::from_secs(15), false),
        ("diurnal", diurnal, Duration::from_secs(60), true),
    ] {
        let target = Target {
            min: 2,
            max: 30,
            per_pod: PER_POD,
        };
        let mut tuner = Tuner::new(target, Behaviour::default(), 2);
        let points: Vec<(f64, f64, u32)> = trace
            .iter()
            .enumerate()
            .map(|(i, load)| {
                let at = step * u32::try_from(i).unwrap_or(u32::MAX);
                (at.as_secs_f64(), load / PER_POD, tuner.observe(at, *load))
            })
            .collect();
        let unit = if minutes { "hours" } else { "minutes" };
        let path = format!("{prefix}-{name}.svg");
        std::fs::write(&path, svg(name, unit, &points))
            .map_err(|e| format!("cannot write {path}: {e}"))?;
        println!("wrote {path}");
    }
    Ok(())
}

/// xorshift64* in [-1, 1]; the same generator as the simulation tests.
fn noise(state: &mut u64) -> f64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    let bits = state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
    bits as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

/// Needed pods (grey) and running pods (blue) over time.
fn svg(name: &str, unit: &str, points: &[(f64, f64, u32)]) -> String {
    let (width, height, pad) = (720.0, 300.0, 40.0);
    let end = points.last().map_or(1.0, |p| p.0).max(1.0);
    let top = points
        .iter()
        .map(|p| p.1.max(f64::from(p.2)))
        .fold(1.0, f64::max);
    let x = |t: f64| pad + t / end * (width - 2.0 * pad);
    let y = |v: f64| height - pad - v / top * (height - 2.0 * pad);
    let line = |values: &mut dyn Iterator<Item = (f64, f64)>| {
        let mut d = String::new();
        for (i, (t, v)) in values.enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1} ",
                if i == 0 { "M" } else { "L" },
                x(t),
                y(v)
            );
        }
        d
    };
    let needed = line(&mut points.iter().map(|p| (p.0, p.1)));
    // Replicas as steps: hold each value until the next sample.
    let mut steps = Vec::new();
    for pair in points.windows(2) {
        steps.push((pair[0].0, f64::from(pair[0].2)));
        steps.push((pair[1].0, f64::from(pair[0].2)));
    }
    let running = line(&mut steps.into_iter());
    let scale = if unit == "hours" { 3600.0 } else { 60.0 };
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{pad}" y="20">Replica tuner, {name} trace: pods needed (grey) and running (blue); x in {unit}</text>
<line x1="{pad}" y1="{b}" x2="{r}" y2="{b}" stroke="black"/>
<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{b}" stroke="black"/>
<text x="4" y="{yt:.1}">{top:.0}</text>
<text x="{r}" y="{lb}" text-anchor="end">{endl:.0}</text>
"#,
        b = height - pad,
        r = width - pad,
        yt = y(top) + 4.0,
        lb = height - pad + 16.0,
        endl = end / scale,
    );
    let _ = writeln!(
        out,
        r##"<path d="{needed}" fill="none" stroke="#999" stroke-width="1"/>"##
    );
    let _ = writeln!(
        out,
        r##"<path d="{running}" fill="none" stroke="#1f5fbf" stroke-width="2"/>"##
    );
    out.push_str("</svg>\n");
    out
}
