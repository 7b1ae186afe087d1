//! The CEL rules (`x-kubernetes-validations`) the AgentRuntime CRD carries, so the API server
//! refuses what the loader would refuse at start-up (issue 13: function mode needs both schemas,
//! agent mode takes neither, function mode serves no WebSocket; a media backend needs its
//! settings). Kept here as data so the CRD generator attaches them and the tests evaluate each
//! one with a CEL interpreter against passing and failing manifests.

/// One rule: the schema node it sits on (a JSON pointer into the object; the rule is checked
/// only where that node exists, as the API server does), the CEL expression over `self`, and the
/// message the API server answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub at: &'static str,
    pub rule: &'static str,
    pub message: &'static str,
}

/// The AgentRuntime's rules.
pub const AGENT_RUNTIME: &[Rule] = &[
    Rule {
        at: "/spec",
        rule: "!has(self.mode) || self.mode != 'function' || \
               (has(self.inputSchema) && has(self.outputSchema))",
        message: "function mode requires spec.inputSchema and spec.outputSchema",
    },
    Rule {
        at: "/spec",
        rule: "(has(self.mode) && self.mode == 'function') || \
               (!has(self.inputSchema) && !has(self.outputSchema))",
        message: "spec.inputSchema and spec.outputSchema are for function mode only",
    },
    Rule {
        at: "/spec",
        rule: "!has(self.mode) || self.mode != 'function' || !has(self.facade) || \
               !has(self.facade.type) || self.facade.type != 'websocket'",
        message: "function mode serves no websocket facade: use type rest (or grpc)",
    },
    Rule {
        at: "/spec",
        rule: "!has(self.mode) || self.mode != 'function' || !has(self.facades) || \
               self.facades.all(f, !has(f.type) || f.type != 'websocket')",
        message: "function mode serves no websocket facade: spec.facades[] may not hold type websocket",
    },
    Rule {
        at: "/spec/media/storage",
        rule: "!has(self.type) || self.type != 's3' || (has(self.s3) && has(self.s3.bucket))",
        message: "storage type s3 requires s3.bucket",
    },
    Rule {
        at: "/spec/media/storage",
        rule: "!has(self.type) || self.type != 'gcs' || (has(self.gcs) && has(self.gcs.bucket))",
        message: "storage type gcs requires gcs.bucket",
    },
    Rule {
        at: "/spec/media/storage",
        rule: "!has(self.type) || self.type != 'azure' || \
               (has(self.azure) && has(self.azure.account) && has(self.azure.container))",
        message: "storage type azure requires azure.account and azure.container",
    },
];
