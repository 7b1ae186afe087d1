//! `omnia-loadtest`: a load generator for the Omnia gateway that users can trust for tail latency.
//!
//! Layers, each replaceable on its own:
//! - `scenario`: what one exchange is (`function`: `POST /functions/{name}`);
//! - `model`: when exchanges happen (closed back-to-back, or open at a constant rate measured
//!   from due times);
//! - `recorder`: per-worker histograms and tallies, merged at the end;
//! - `report` and `plot`: text, JSON and SVG output;
//! - `ws`: the WebSocket scenarios (`ws-stream`, `ws-idle`), runners of their own with their own
//!   recorder and reports;
//! - `run`: wires the command line to them.

pub mod body;
pub mod cli;
pub mod model;
pub mod plot;
pub mod recorder;
pub mod report;
pub mod run;
pub mod scenario;
pub mod ws;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
