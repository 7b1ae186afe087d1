//! The Omnia operator (issue 13). So far: the replica [`tuner`], the part that scales each agent
//! from its live load; the reconcilers and CRDs come next.

pub mod tuner;
