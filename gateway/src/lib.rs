//! The Omnia gateway (the facade): function calls over HTTP through a Tower stack, backed by the
//! runtime over gRPC.
//!
//! - [`agent`] is the WebSocket agent surface (its wire protocol so far);
//! - [`stack`] assembles the Tower stack in one place;
//! - [`function`] is the per-function tail (auth, schemas, `Invoke`);
//! - [`app`] binds the ports and runs until shutdown;
//! - [`server`] accepts and serves connections, [`connection`] keeps each one's idle clock;
//! - [`management`] is the internal listener for management-plane (dashboard) calls;
//! - [`dev`] runs gateway and runtime in one process for local work.

pub mod agent;
pub mod app;
pub mod auth_config;
pub mod connection;
pub mod dev;
pub mod function;
pub mod health;
pub mod management;
pub mod mcp;
pub mod media;
pub mod metrics;
pub mod router;
pub mod runtime_client;
pub mod runtime_transport;
pub mod server;
pub mod stack;
