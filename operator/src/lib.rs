//! The Omnia operator (issue 13): the CRDs ([`crd`], derived from the manifest types in
//! `omnia-api`, with the CEL [`rules`]), and the replica [`tuner`], the part that scales each
//! agent from its live load.

pub mod controller;
pub mod crd;
pub mod health;
pub mod reconcile;
pub mod render;
pub mod rules;
pub mod scrape;
pub mod tune;
pub mod tuner;
