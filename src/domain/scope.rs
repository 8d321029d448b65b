use super::ProjectId;

/// Which projects a credential or token may act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectScope {
    /// An administrator's: every project.
    All,
    /// Only these (never empty).
    Projects(Vec<String>),
}

impl ProjectScope {
    pub fn allows(&self, project: &ProjectId) -> bool {
        match self {
            ProjectScope::All => true,
            ProjectScope::Projects(projects) => projects.iter().any(|p| p == project.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_allows_exactly_its_projects() {
        let a = ProjectId::parse("a").expect("valid");
        let b = ProjectId::parse("b").expect("valid");
        let only_a = ProjectScope::Projects(vec!["a".into()]);
        assert!(only_a.allows(&a));
        assert!(!only_a.allows(&b));
        assert!(ProjectScope::All.allows(&b));
    }
}
