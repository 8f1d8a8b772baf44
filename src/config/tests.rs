use std::collections::HashMap;

use super::*;

fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    load_with(vars, &Overrides::default())
}

fn load_with(vars: &[(&str, &str)], flags: &Overrides) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::load(flags, &move |k| map.get(k).cloned())
}

fn refused(vars: &[(&str, &str)]) -> String {
    load(vars).unwrap_err().to_string()
}

#[test]
fn defaults() {
    let c = load(&[]).unwrap();
    assert_eq!(c.listen, vec!["127.0.0.1:7777".parse().unwrap()]);
    assert!(!c.listen_explicit);
    assert_eq!(
        (c.env, c.mode, c.auth),
        (
            Environment::Development,
            ServerMode::Desktop,
            AuthProvider::Local
        )
    );
    assert_eq!(c.db_path, PathBuf::from("./data/platform.db"));
    assert_eq!(c.drain_timeout, Duration::from_secs(30));
    assert_eq!(c.hops, Hops::default());
    assert_eq!(c.trusted_proxies, TrustedProxies::loopback());
}

#[test]
fn listen_precedence() {
    let c = load(&[("HOST", "0.0.0.0"), ("PORT", "8000")]).unwrap();
    assert_eq!(c.listen, vec!["0.0.0.0:8000".parse().unwrap()]);
    let c = load(&[("PORT", "8000"), ("LISTEN", "127.0.0.1:1, [::1]:2")]).unwrap();
    assert_eq!(
        c.listen,
        vec!["127.0.0.1:1".parse().unwrap(), "[::1]:2".parse().unwrap()]
    );
    let flags = Overrides {
        port: Some(9),
        ..Overrides::default()
    };
    let c = load_with(&[("LISTEN", "127.0.0.1:1")], &flags).unwrap();
    assert_eq!(c.listen, vec!["127.0.0.1:9".parse().unwrap()]);
    let flags = Overrides {
        listen: vec!["127.0.0.1:0".into()],
        ..Overrides::default()
    };
    let c = load_with(&[("LISTEN", "127.0.0.1:1")], &flags).unwrap();
    assert_eq!(c.listen, vec!["127.0.0.1:0".parse().unwrap()]);
    assert!(c.listen_explicit);
    let c = load(&[("HOST", "::1")]).unwrap();
    assert_eq!(c.listen, vec!["[::1]:7777".parse().unwrap()]);
}

#[test]
fn invalid_values_name_the_variable() {
    for (var, value) in [
        ("PORT", "http"),
        ("ENV", "staging"),
        ("AUTH_PROVIDER", "ldap"),
        ("TRUSTED_PROXIES", "10.0.0.0/99"),
        ("PROXY_FIX_X_FOR", "-1"),
        ("RATE_LIMITS", "auth=lots"),
        ("DRAIN_TIMEOUT", "soon"),
        ("LOG_FORMAT", "xml"),
        ("CORS_ORIGINS", "*"),
        ("CORS_ORIGINS", "https://a.example/path"),
        ("LISTEN", "nonsense"),
    ] {
        let msg = refused(&[(var, value)]);
        assert!(msg.contains(var), "{var}={value}: {msg}");
        assert_eq!(msg.lines().count(), 1, "{msg}");
    }
}

#[test]
fn aliases() {
    let c = load(&[
        ("WORKER_AUTH_TOKEN", "w"),
        ("NODETOOL_SERVER_MODE", "private"),
        ("AUTH_PROVIDER", "static"),
    ])
    .unwrap();
    assert_eq!(c.server_token, Some(("WORKER_AUTH_TOKEN", "w".into())));
    assert_eq!(c.mode, ServerMode::Private);
    let c = load(&[("SERVER_AUTH_TOKEN", "s"), ("WORKER_AUTH_TOKEN", "w")]).unwrap();
    assert_eq!(c.server_token, Some(("SERVER_AUTH_TOKEN", "s".into())));
    assert_eq!(
        load(&[("AUTH_PROVIDER", "supabase"), ("JWT_SECRET", "s")])
            .unwrap()
            .auth,
        AuthProvider::Jwt
    );
}

#[test]
fn mode_and_provider_combinations() {
    assert_eq!(
        refused(&[("SERVER_MODE", "cloud")]),
        "Invalid server mode 'cloud'. Expected one of: desktop, public, private."
    );
    assert!(
        refused(&[("SERVER_MODE", "public"), ("AUTH_PROVIDER", "static")])
            .contains("AUTH_PROVIDER=jwt")
    );
    assert!(load(&[
        ("SERVER_MODE", "public"),
        ("AUTH_PROVIDER", "jwt"),
        ("JWT_SECRET", "s")
    ])
    .is_ok());
    assert!(refused(&[("SERVER_MODE", "private")]).contains("static, multi_user or jwt"));
    for ok in ["static", "multi_user", "jwt"] {
        assert!(
            load(&[
                ("SERVER_MODE", "private"),
                ("AUTH_PROVIDER", ok),
                ("JWT_SECRET", "s")
            ])
            .is_ok(),
            "{ok}"
        );
    }
}

#[test]
fn production_requirements() {
    let msg = refused(&[("ENV", "production"), ("AUTH_PROVIDER", "static")]);
    assert!(
        msg.contains("SECRETS_MASTER_KEY") && msg.contains("openssl rand -base64 32"),
        "{msg}"
    );
    let msg = refused(&[
        ("ENV", "production"),
        ("SECRETS_MASTER_KEY", "k"),
        ("AUTH_PROVIDER", "local"),
    ]);
    assert!(msg.contains("AUTH_PROVIDER=local"), "{msg}");
    let c = load(&[
        ("ENV", "production"),
        ("SECRETS_MASTER_KEY", "k"),
        ("AUTH_PROVIDER", "static"),
    ])
    .unwrap();
    assert!(c.warnings()[0].contains("ADMIN_TOKEN"));
    let c = load(&[
        ("ENV", "production"),
        ("SECRETS_MASTER_KEY", "k"),
        ("AUTH_PROVIDER", "static"),
        ("ADMIN_TOKEN", "a"),
    ])
    .unwrap();
    assert!(c.warnings().is_empty());
}

#[test]
fn durations_and_proxies() {
    assert_eq!(
        load(&[("DRAIN_TIMEOUT", "5")]).unwrap().drain_timeout,
        Duration::from_secs(5)
    );
    assert_eq!(
        load(&[("DRAIN_TIMEOUT", "1m 30s")]).unwrap().drain_timeout,
        Duration::from_secs(90)
    );
    let c = load(&[("TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1")]).unwrap();
    assert!(c.trusted_proxies.contains("10.2.3.4".parse().unwrap()));
    assert!(c.trusted_proxies.contains("192.0.2.1".parse().unwrap()));
    assert!(!c.trusted_proxies.contains("127.0.0.1".parse().unwrap()));
}

#[test]
fn metrics_listen_defaults_and_off() {
    assert_eq!(
        load(&[]).unwrap().metrics_listen,
        Some("127.0.0.1:9102".parse().unwrap())
    );
    assert_eq!(
        load(&[("METRICS_LISTEN", "OFF")]).unwrap().metrics_listen,
        None
    );
    assert_eq!(
        load(&[("METRICS_LISTEN", "127.0.0.1:0")])
            .unwrap()
            .metrics_listen,
        Some("127.0.0.1:0".parse().unwrap())
    );
    assert!(refused(&[("METRICS_LISTEN", "nonsense")]).contains("METRICS_LISTEN"));
}

#[test]
fn tls_needs_cert_and_key_together() {
    assert_eq!(load(&[]).unwrap().tls, None);
    let tls = load(&[("TLS_CERT", "/c.pem"), ("TLS_KEY", "/k.pem")])
        .unwrap()
        .tls
        .unwrap();
    assert_eq!(
        (tls.cert, tls.key, tls.client_ca),
        ("/c.pem".into(), "/k.pem".into(), None)
    );
    assert!(refused(&[("TLS_CERT", "/c.pem")]).contains("TLS_KEY"));
    assert!(refused(&[("TLS_KEY", "/k.pem")]).contains("TLS_CERT"));
    assert!(refused(&[("TLS_CLIENT_CA", "/ca.pem")]).contains("TLS_CLIENT_CA"));
}

#[test]
fn accounts_defaults_and_supabase_jwks() {
    let c = load(&[("DATA_DIR", "/srv/p")]).unwrap().accounts;
    assert_eq!(c.session_ttl, Duration::from_secs(86400));
    assert_eq!(c.signing_key_path, PathBuf::from("/srv/p/signing_key.pem"));
    assert_eq!((c.cookie_domain, c.jwt_jwks_url), (None, None));
    let c = load(&[
        ("AUTH_PROVIDER", "supabase"),
        ("SUPABASE_URL", "https://abc.supabase.co/"),
        ("SESSION_TTL", "2h"),
    ])
    .unwrap();
    assert_eq!(c.auth, AuthProvider::Jwt);
    assert_eq!(
        c.accounts.jwt_jwks_url.as_deref(),
        Some("https://abc.supabase.co/auth/v1/.well-known/jwks.json")
    );
    assert_eq!(c.accounts.session_ttl, Duration::from_secs(7200));
}

#[test]
fn jwt_needs_a_secret_or_jwks_and_bad_values_name_the_variable() {
    assert_eq!(
        refused(&[("AUTH_PROVIDER", "jwt")]),
        "AUTH_PROVIDER=jwt requires JWT_SECRET (HS256) or a JWKS URL (JWT_JWKS_URL or SUPABASE_URL)"
    );
    assert!(load(&[("AUTH_PROVIDER", "jwt"), ("JWT_SECRET", "x")]).is_ok());
    assert!(refused(&[("SESSION_TTL", "soon")]).contains("SESSION_TTL"));
    assert!(refused(&[("AUTH_CACHE_MAX", "many")]).contains("AUTH_CACHE_MAX"));
    assert!(refused(&[("JWT_JWKS_URL", "ftp://x")]).contains("JWT_JWKS_URL"));
    assert!(refused(&[("COOKIE_DOMAIN", "a.com; x")]).contains("COOKIE_DOMAIN"));
}

#[test]
fn storage_settings() {
    let c = load(&[("DATA_DIR", "/srv/p")]).unwrap().storage;
    assert_eq!(
        c,
        StorageConfig {
            asset_folder: PathBuf::from("/srv/p/storage/assets"),
            temp_folder: PathBuf::from("/srv/p/storage/temp"),
            public: false,
            max_upload_bytes: 1 << 30,
        }
    );
    let c = load(&[
        ("ASSET_FOLDER", "/a"),
        ("ASSET_TEMP_FOLDER", "/t"),
        ("PUBLIC_STORAGE", "True"),
        ("MAX_UPLOAD_BYTES", "1048576"),
    ])
    .unwrap()
    .storage;
    assert_eq!(
        (c.asset_folder, c.temp_folder, c.public, c.max_upload_bytes),
        (PathBuf::from("/a"), PathBuf::from("/t"), true, 1048576)
    );
    assert!(refused(&[("PUBLIC_STORAGE", "maybe")]).contains("PUBLIC_STORAGE"));
    assert!(refused(&[("MAX_UPLOAD_BYTES", "1G")]).contains("MAX_UPLOAD_BYTES"));
    assert!(refused(&[("MAX_UPLOAD_BYTES", "0")]).contains("MAX_UPLOAD_BYTES"));
}

#[test]
fn jobs_settings() {
    let c = load(&[]).unwrap();
    assert_eq!(c.jobs.node_timeout, Duration::from_secs(300));
    assert_eq!(c.jobs.max_concurrent, 8);
    let c = load(&[("NODE_TIMEOUT", "2s"), ("MAX_CONCURRENT_JOBS", "3")]).unwrap();
    assert_eq!(c.jobs.node_timeout, Duration::from_secs(2));
    assert_eq!(c.jobs.max_concurrent, 3);
    assert!(refused(&[("MAX_CONCURRENT_JOBS", "0")]).contains("MAX_CONCURRENT_JOBS"));
    assert!(refused(&[("MAX_CONCURRENT_JOBS", "x")]).contains("MAX_CONCURRENT_JOBS"));
    assert!(refused(&[("NODE_TIMEOUT", "0")]).contains("NODE_TIMEOUT"));
}

#[test]
fn chat_and_hub_defaults() {
    use platform_routes::chat::Provider;
    let c = load(&[("HOME", "/home/u")]).unwrap();
    assert_eq!(c.chat.provider, Provider::Ollama);
    assert_eq!(c.chat.ollama_url, "http://127.0.0.1:11434");
    assert_eq!(c.chat.openai_base, "https://api.openai.com/v1");
    assert_eq!(c.chat.default_model, "llama3.2:latest");
    assert_eq!(c.chat.openai_key, None);
    assert_eq!(c.chat.connect_timeout, Duration::from_secs(10));
    assert_eq!(c.chat.read_timeout, Duration::from_secs(300));
    assert_eq!(c.hub.home, PathBuf::from("/home/u/.cache/huggingface"));
    assert_eq!(c.hub.cache, PathBuf::from("/home/u/.cache/huggingface/hub"));
    assert_eq!(c.hub.endpoint, "https://huggingface.co");
    assert_eq!(c.hub.token, None);
    let c = load(&[("XDG_CACHE_HOME", "/xdg"), ("HOME", "/home/u")]).unwrap();
    assert_eq!(c.hub.cache, PathBuf::from("/xdg/huggingface/hub"));
}

#[test]
fn chat_and_hub_settings() {
    use platform_routes::chat::Provider;
    let c = load(&[
        ("CHAT_PROVIDER", "OpenAI"),
        ("OLLAMA_API_URL", "http://gpu:11434/"),
        ("OPENAI_API_BASE", "http://vllm:8000/v1/"),
        ("OPENAI_API_KEY", "sk-1"),
        ("DEFAULT_MODEL", "qwen"),
        ("UPSTREAM_CONNECT_TIMEOUT", "2s"),
        ("UPSTREAM_READ_TIMEOUT", "1m"),
        ("HF_HOME", "/models"),
        ("HF_ENDPOINT", "https://hf-mirror.example/"),
        ("HF_TOKEN", "hf_x"),
    ])
    .unwrap();
    assert_eq!(c.chat.provider, Provider::OpenAi);
    assert_eq!(c.chat.ollama_url, "http://gpu:11434");
    assert_eq!(c.chat.openai_base, "http://vllm:8000/v1");
    assert_eq!(c.chat.openai_key.as_deref(), Some("sk-1"));
    assert_eq!(c.chat.default_model, "qwen");
    assert_eq!(c.chat.connect_timeout, Duration::from_secs(2));
    assert_eq!(c.chat.read_timeout, Duration::from_secs(60));
    assert_eq!(c.hub.cache, PathBuf::from("/models/hub"));
    assert_eq!(c.hub.endpoint, "https://hf-mirror.example");
    assert_eq!(c.hub.token.as_deref(), Some("hf_x"));
    let c = load(&[("OPENAI_API_BASE", "http://127.0.0.1:8000/")]).unwrap();
    assert_eq!(
        c.chat.openai_base, "http://127.0.0.1:8000/v1",
        "a bare host gets /v1"
    );
    let c = load(&[("OPENAI_API_BASE", "https://gw.example/openai")]).unwrap();
    assert_eq!(c.chat.openai_base, "https://gw.example/openai");
    let c = load(&[("HF_HOME", "/models"), ("HF_HUB_CACHE", "/fast/hub")]).unwrap();
    assert_eq!(c.hub.cache, PathBuf::from("/fast/hub"));
    for (var, bad) in [
        ("CHAT_PROVIDER", "anthropic"),
        ("OLLAMA_API_URL", "localhost:11434"),
        ("OPENAI_API_BASE", "https://"),
        ("HF_ENDPOINT", "ftp://hf"),
        ("UPSTREAM_READ_TIMEOUT", "0"),
        ("UPSTREAM_CONNECT_TIMEOUT", "soon"),
    ] {
        assert!(refused(&[(var, bad)]).contains(var), "{var}={bad}");
    }
}
