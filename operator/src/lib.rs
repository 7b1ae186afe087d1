//! The Omnia operator (issue 13). So far: the replica [`tuner`], the part that scales each agent
//! from its live load, and the AgentRuntime CRD's CEL [`rules`]; the CRD generator and the
//! reconcilers come next.

pub mod rules;
pub mod tuner;
