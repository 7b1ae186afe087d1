//! `mcpConfig.toolFilter`: which of the tools an MCP server lists are offered to the model.
//!
//! Omnia's (PromptKit's) semantics: a non-empty allowlist wins and the blocklist is then not
//! looked at; otherwise every tool not on the blocklist is offered. An entry ending in `*` matches
//! every name starting with what comes before it; any other entry matches one name exactly.

/// The filter of one handler.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct ToolFilter {
    allow: Vec<String>,
    block: Vec<String>,
}

impl ToolFilter {
    pub(super) fn new(allowlist: &[String], blocklist: &[String]) -> Self {
        Self {
            allow: allowlist.to_vec(),
            block: blocklist.to_vec(),
        }
    }

    /// Whether the tool `name` is offered.
    pub(super) fn admits(&self, name: &str) -> bool {
        if !self.allow.is_empty() {
            return self.allow.iter().any(|entry| matches(entry, name));
        }
        !self.block.iter().any(|entry| matches(entry, name))
    }
}

/// Whether one filter entry matches `name`.
fn matches(entry: &str, name: &str) -> bool {
    match entry.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => entry == name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(allow: &[&str], block: &[&str]) -> ToolFilter {
        let owned = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        ToolFilter::new(&owned(allow), &owned(block))
    }

    #[test]
    fn no_lists_admit_everything() {
        assert!(filter(&[], &[]).admits("anything"));
    }

    #[test]
    fn an_allowlist_admits_only_its_entries_and_wins_over_the_blocklist() {
        let f = filter(&["add", "get_*"], &["add"]);
        assert!(f.admits("add"), "the allowlist wins");
        assert!(f.admits("get_user") && f.admits("get_"));
        assert!(!f.admits("adder"), "an exact entry is not a prefix");
        assert!(!f.admits("fail"));
    }

    #[test]
    fn a_blocklist_drops_its_entries() {
        let f = filter(&[], &["f*", "pid"]);
        assert!(!f.admits("fail") && !f.admits("f"));
        assert!(!f.admits("pid"));
        assert!(f.admits("pids") && f.admits("add"));
    }

    #[test]
    fn a_lone_star_matches_every_name() {
        assert!(!filter(&[], &["*"]).admits("add"));
        assert!(filter(&["*"], &[]).admits("add"));
    }
}
