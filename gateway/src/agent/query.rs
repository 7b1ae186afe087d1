//! The query parameters of a WebSocket upgrade, as Omnia reads them.

/// What a client says in `/ws?agent=…&namespace=…&workspace=…&binary=…&device_id=…`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// The agent to talk to; may be left out when the process serves exactly one agent.
    pub agent: Option<String>,
    /// The agent's namespace; left out, the agent's own.
    pub namespace: Option<String>,
    /// The Workspace the caller acts in (carried to the runtime as `x-omnia-workspace`).
    pub workspace: Option<String>,
    /// `binary=true`: the client can take binary frames (Omnia's media frames).
    pub binary: bool,
    /// A device identifier from the client (Omnia scopes management-plane memory by it).
    pub device_id: Option<String>,
}

impl Query {
    /// Parses a URL query string (`None`: no `?` at all). Unknown parameters are ignored, as by
    /// Omnia; a parameter given twice counts with its first value, as Go's `Query().Get`; empty
    /// values count as absent.
    pub fn parse(query: Option<&str>) -> Self {
        let mut parsed = Self::default();
        let Some(query) = query else {
            return parsed;
        };
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let slot = match name.as_ref() {
                "agent" => &mut parsed.agent,
                "namespace" => &mut parsed.namespace,
                "workspace" => &mut parsed.workspace,
                "device_id" => &mut parsed.device_id,
                "binary" => {
                    if !parsed.binary {
                        parsed.binary = value == "true";
                    }
                    continue;
                }
                _ => continue,
            };
            if slot.is_none() && !value.is_empty() {
                *slot = Some(value.into_owned());
            }
        }
        parsed
    }
}

#[cfg(test)]
mod tests {
    use super::Query;

    #[test]
    fn every_parameter_is_read_and_decoded() {
        let query = Query::parse(Some(
            "agent=support-bot&namespace=prod&workspace=team%20a&binary=true&device_id=d-1&x=y",
        ));
        assert_eq!(
            query,
            Query {
                agent: Some("support-bot".into()),
                namespace: Some("prod".into()),
                workspace: Some("team a".into()),
                binary: true,
                device_id: Some("d-1".into()),
            }
        );
    }

    #[test]
    fn absent_empty_and_repeated_parameters() {
        assert_eq!(Query::parse(None), Query::default());
        assert_eq!(Query::parse(Some("")), Query::default());
        let query = Query::parse(Some(
            "agent=&agent=b&binary=yes&namespace=one&namespace=two",
        ));
        assert_eq!(query.agent.as_deref(), Some("b"));
        assert!(!query.binary, "only `true` turns binary frames on");
        assert_eq!(query.namespace.as_deref(), Some("one"));
    }
}
