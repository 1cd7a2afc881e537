//! The `Origin` policy hook of the server (RFC 6455 section 10.2).

use std::fmt;
use std::sync::Arc;

/// Which `Origin` header values a server accepts on an upgrade; a refusal is answered with
/// 403 (RFC 6455 section 10.2).
///
/// `Origin` only protects against scripts running in browsers: any other client can send
/// whatever value it likes, so it is never authentication. A request without `Origin` is
/// from a non-browser client, not a forbidden one.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum OriginPolicy {
    /// Every origin, and none, is accepted. The default.
    #[default]
    Any,
    /// Only these origins (compared ASCII case-insensitively, e.g. `https://example.com`);
    /// a request without `Origin` is accepted when `allow_missing` is set.
    AllowList {
        /// The accepted serialised origins.
        origins: Vec<String>,
        /// Whether a request without `Origin` (a non-browser client) is accepted.
        allow_missing: bool,
    },
    /// A custom decision on the `Origin` value (`None` when absent).
    Custom(OriginHook),
}

/// A custom origin decision for [`OriginPolicy::Custom`]: called with the `Origin` value
/// (`None` when absent); `true` accepts.
pub type OriginHook = Arc<dyn Fn(Option<&str>) -> bool + Send + Sync>;

impl OriginPolicy {
    /// An allow-list that also accepts requests without `Origin`.
    pub fn allow_list<S: Into<String>>(origins: impl IntoIterator<Item = S>) -> Self {
        Self::AllowList {
            origins: origins.into_iter().map(Into::into).collect(),
            allow_missing: true,
        }
    }

    /// Whether `origin` (the header value, `None` when absent) is accepted.
    pub fn allows(&self, origin: Option<&str>) -> bool {
        match (self, origin) {
            (Self::Any, _) => true,
            (Self::AllowList { allow_missing, .. }, None) => *allow_missing,
            (Self::AllowList { origins, .. }, Some(o)) => {
                origins.iter().any(|a| a.eq_ignore_ascii_case(o))
            }
            (Self::Custom(f), o) => f(o),
        }
    }
}

impl fmt::Debug for OriginPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("Any"),
            Self::AllowList {
                origins,
                allow_missing,
            } => f
                .debug_struct("AllowList")
                .field("origins", origins)
                .field("allow_missing", allow_missing)
                .finish(),
            Self::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // HS-S-08
    #[test]
    fn hs_s_08_origin_policies() {
        let list = OriginPolicy::allow_list(["https://a"]);
        assert!(list.allows(Some("https://a")));
        assert!(list.allows(Some("HTTPS://A")));
        assert!(!list.allows(Some("https://evil")));
        assert!(list.allows(None));
        let strict = OriginPolicy::AllowList {
            origins: vec!["https://a".into()],
            allow_missing: false,
        };
        assert!(!strict.allows(None));
        let custom = OriginPolicy::Custom(Arc::new(|o| o.is_some_and(|o| o.ends_with(".a"))));
        assert!(custom.allows(Some("https://x.a")));
        assert!(!custom.allows(None));
        assert!(OriginPolicy::Any.allows(Some("anything")));
    }
}
