//! Tower layers for the Omnia gateway, one module per layer, none of them aware of routes.
//!
//! Every layer rejects with a ready-made response (never an error), built by
//! [`error::GatewayError::into_response`], and every service speaks
//! `Response<`[`body::ResponseBody`]`>`. Checks that need only the request head (method,
//! content type, header size) are [`ValidateRequest`](tower_http::validate_request::ValidateRequest)
//! impls, applied with tower-http's [`ValidateRequestHeaderLayer::custom`].

pub mod auth;
pub mod body;
pub mod content_type;
pub mod error;
pub mod header_limit;
pub mod limit;
pub mod load_shed;
pub mod method;
pub mod read_body;
pub mod request_id;
pub mod schema;

pub use body::{BoxError, ResponseBody};
pub use error::{GatewayError, InvocationId, SchemaViolation, Violations};
pub use tower_http::validate_request::ValidateRequestHeaderLayer;
