//! Who may call the API: bearer tokens compared in constant time, the
//! loopback-only open mode, and the rule that a non-loopback bind needs
//! tokens.

use std::net::SocketAddr;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use sc_core::config::AuthConfig;

/// How requests are authenticated.
#[derive(Debug, Clone)]
pub enum AuthMode {
    /// Loopback bind with no tokens and `allow_loopback_without_token`.
    Open,
    /// Every request needs `Authorization: Bearer <token>`.
    Tokens(Vec<(String, [u8; 32])>),
}

/// Decides the mode for `bind`, or says why the service must not start.
pub fn auth_mode(
    bind: SocketAddr,
    auth: &AuthConfig,
    env: impl Fn(&str) -> Option<String>,
) -> Result<AuthMode, String> {
    let mut tokens = Vec::new();
    for token in &auth.tokens {
        let hash = match (&token.sha256, &token.env) {
            (Some(hex_hash), _) => {
                let bytes = hex::decode(hex_hash)
                    .map_err(|_| format!("token `{}`: sha256 is not hex", token.id))?;
                <[u8; 32]>::try_from(bytes.as_slice())
                    .map_err(|_| format!("token `{}`: sha256 must be 32 bytes", token.id))?
            }
            (None, Some(var)) => {
                let value = env(var).filter(|v| !v.is_empty()).ok_or_else(|| {
                    format!(
                        "token `{}`: environment variable {var} is not set",
                        token.id
                    )
                })?;
                Sha256::digest(value.as_bytes()).into()
            }
            (None, None) => {
                return Err(format!(
                    "token `{}` has neither `sha256` nor `env`",
                    token.id
                ));
            }
        };
        tokens.push((token.id.clone(), hash));
    }
    if !tokens.is_empty() {
        return Ok(AuthMode::Tokens(tokens));
    }
    if !bind.ip().is_loopback() {
        return Err(format!(
            "refusing to serve the API on {bind} without authentication: add a token under `api.auth.tokens` in config.yaml \
             (e.g. `- {{ id: ops, env: SC_API_TOKEN }}` and export SC_API_TOKEN), or bind to 127.0.0.1"
        ));
    }
    if !auth.allow_loopback_without_token {
        return Err(
            "`api.auth.allow_loopback_without_token` is false but no `api.auth.tokens` are configured; add a token".to_owned(),
        );
    }
    Ok(AuthMode::Open)
}

/// Is this `Host` header a loopback name? In open mode only those are
/// served, so a web page cannot reach the API through DNS rebinding.
pub fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                name
            } else {
                host
            }
        }),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl AuthMode {
    /// The caller's identity for the audit trail, or `None` when refused.
    pub fn authenticate(&self, authorization: Option<&str>) -> Option<String> {
        match self {
            Self::Open => Some("loopback".to_owned()),
            Self::Tokens(tokens) => {
                let presented = authorization?.strip_prefix("Bearer ")?.trim();
                let hash: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
                // Compare against every token so timing says nothing about which matched.
                let mut found = None;
                for (id, expected) in tokens {
                    if bool::from(hash.ct_eq(expected)) {
                        found = Some(id.clone());
                    }
                }
                found
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sc_core::config::ApiToken;

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("addr")
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn loopback_without_tokens_is_open_when_allowed() {
        let mode = auth_mode(addr("127.0.0.1:7799"), &AuthConfig::default(), no_env).expect("mode");
        assert_eq!(mode.authenticate(None).as_deref(), Some("loopback"));
        let strict = AuthConfig {
            allow_loopback_without_token: false,
            ..AuthConfig::default()
        };
        assert!(auth_mode(addr("127.0.0.1:7799"), &strict, no_env).is_err());
    }

    #[test]
    fn only_loopback_host_names_count_as_loopback() {
        for host in [
            "localhost",
            "localhost:7799",
            "127.0.0.1:7799",
            "[::1]:7799",
            "127.0.0.2",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "evil.example.com",
            "evil.example.com:7799",
            "10.0.0.5:7799",
            "localhost.evil.com",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn non_loopback_without_tokens_is_refused_with_the_fix() {
        let err =
            auth_mode(addr("0.0.0.0:7799"), &AuthConfig::default(), no_env).expect_err("refused");
        assert!(err.contains("api.auth.tokens"), "{err}");
    }

    #[test]
    fn tokens_from_hash_and_environment_authenticate() {
        let auth = AuthConfig {
            tokens: vec![
                ApiToken {
                    id: "ops".into(),
                    sha256: Some(hex::encode(Sha256::digest(b"s3cret"))),
                    env: None,
                },
                ApiToken {
                    id: "ci".into(),
                    sha256: None,
                    env: Some("SC_API_TOKEN".into()),
                },
            ],
            allow_loopback_without_token: true,
        };
        let env = |name: &str| (name == "SC_API_TOKEN").then(|| "from-env".to_owned());
        let mode = auth_mode(addr("0.0.0.0:7799"), &auth, env).expect("mode");
        assert_eq!(
            mode.authenticate(Some("Bearer s3cret")).as_deref(),
            Some("ops")
        );
        assert_eq!(
            mode.authenticate(Some("Bearer from-env")).as_deref(),
            Some("ci")
        );
        assert_eq!(mode.authenticate(Some("Bearer wrong")), None);
        assert_eq!(mode.authenticate(Some("s3cret")), None);
        assert_eq!(mode.authenticate(None), None);
        assert!(
            auth_mode(addr("0.0.0.0:7799"), &auth, no_env).is_err(),
            "unset env token"
        );
    }
}
