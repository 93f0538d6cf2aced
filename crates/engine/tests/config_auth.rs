//! `[auth]` loading: the issue's example, the seeds' spellings and environment variables,
//! and every mistake reported with its key.

use fraiseql_engine::config::{parse, Audience, Config};

const DB: &str = "[database]\nurl = 'sqlite://app.db'\n";
const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn load(text: &str, vars: &'static [(&'static str, &'static str)]) -> Result<Config, String> {
    let env = move |name: &str| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    };
    parse(&format!("{DB}{text}"), "fraiseql.toml", &env).map_err(|e| e.to_string())
}

#[test]
fn the_issue_example_loads() {
    let config = load(
        r#"
[auth]
required = true
secret = "${FRAISEQL_JWT_SECRET}"
jwks_url = "${OIDC_JWKS_URL}"
issuer = "https://issuer.example"
audience = "fraiseql"
leeway_secs = 30
claims = { user_id = "sub", roles = "roles" }
"#,
        &[
            ("FRAISEQL_JWT_SECRET", SECRET),
            ("OIDC_JWKS_URL", "https://issuer.example/jwks.json"),
        ],
    )
    .unwrap();
    let auth = config.auth.unwrap();
    assert!(auth.required);
    assert_eq!(auth.secret.as_deref(), Some(SECRET));
    assert_eq!(auth.audience, Some(Audience::One("fraiseql".into())));
    assert_eq!(auth.claim_settings()["user_id"], "sub");
    assert!(auth.uses_keys());
    assert_eq!(auth.discovery(), None, "a jwks_url needs no discovery");
}

#[test]
fn no_auth_without_the_section_or_the_variables() {
    assert_eq!(load("", &[]).unwrap().auth, None);
}

#[test]
fn the_seed_variables_configure_it() {
    let auth = load("", &[("JWT_SECRET", SECRET), ("JWT_AUDIENCE", "api")])
        .unwrap()
        .auth
        .unwrap();
    assert_eq!(auth.secret.as_deref(), Some(SECRET));
    assert_eq!(auth.audience, Some(Audience::One("api".into())));
    assert!(auth.required);

    let auth = load(
        "",
        &[
            ("OIDC_ISSUER_URL", "https://issuer.example/"),
            ("OIDC_CLIENT_ID", "web"),
            ("JWT_ROLES_CLAIM", "groups"),
        ],
    )
    .unwrap()
    .auth
    .unwrap();
    assert_eq!(
        auth.discovery().as_deref(),
        Some("https://issuer.example/.well-known/openid-configuration")
    );
    assert_eq!(auth.audience, Some(Audience::One("web".into())));
    assert_eq!(auth.claim_settings()["roles"], "groups");

    // The file wins; the variables fill what it leaves out.
    let auth = load(
        "[auth]\nissuer = \"https://file.example\"\njwks_url = \"https://file.example/k\"\n",
        &[
            ("OIDC_ISSUER_URL", "https://env.example"),
            ("JWT_SECRET", SECRET),
        ],
    )
    .unwrap()
    .auth
    .unwrap();
    assert_eq!(auth.issuer.as_deref(), Some("https://file.example"));
    assert_eq!(
        auth.secret, None,
        "keys were configured: the secret is not added"
    );
}

#[test]
fn the_seed_key_spellings_are_aliases() {
    let auth = load(
        &format!(
            "[auth]\njwt_secret = \"{SECRET}\"\njwks_uri = \"https://i.example/k\"\n\
             jwt_audience = [\"a\", \"b\"]\n"
        ),
        &[],
    )
    .unwrap()
    .auth
    .unwrap();
    assert_eq!(auth.secret.as_deref(), Some(SECRET));
    assert_eq!(auth.jwks_url.as_deref(), Some("https://i.example/k"));
    assert_eq!(auth.audience.unwrap().values(), ["a", "b"]);
}

#[test]
fn mistakes_are_reported_with_their_keys() {
    let cases: &[(&str, &str)] = &[
        ("[auth]\nrequired = true\n", "[auth] needs a key source"),
        ("[auth]\nsecret = \"short\"\n", "is 5 bytes; an HMAC secret needs at least 32"),
        ("[auth]\njwks_url = \"ftp://x/keys\"\n", "`jwks_url` in [auth] must be an http"),
        ("[auth]\nissuer = \"issuer.example\"\n", "`issuer` in [auth] must be an http"),
        (
            "[auth]\njwks_url = \"https://k.example\"\nalgorithms = [\"none\"]\n",
            "`none` in [auth] algorithms is not an algorithm",
        ),
        (
            "[auth]\njwks_url = \"https://k.example\"\nalgorithms = [\"HS256\"]\n",
            "`HS256` in [auth] algorithms needs `secret`",
        ),
        (
            "[auth]\nsecret = \"0123456789abcdef0123456789abcdef\"\nalgorithms = [\"RS256\"]\n",
            "`RS256` in [auth] algorithms needs `jwks_url`",
        ),
        (
            "[auth]\nsecret = \"0123456789abcdef0123456789abcdef\"\nclaims = { \"x'; drop\" = \"sub\" }\n",
            "must name a setting",
        ),
        (
            "[auth]\nsecret = \"0123456789abcdef0123456789abcdef\"\nclaims = { \"a.b.c\" = \"sub\" }\n",
            "must name a setting",
        ),
        (
            "[auth]\nsecret = \"0123456789abcdef0123456789abcdef\"\nleeway_secs = 86400\n",
            "at most 3600",
        ),
        (
            "[auth]\nsecret = \"0123456789abcdef0123456789abcdef\"\nmax_token_bytes = 10\n",
            "at least 256",
        ),
        ("[auth]\nsecrett = \"x\"\n", "did you mean `secret`"),
    ];
    for (text, wanted) in cases {
        let message = load(text, &[]).expect_err(text);
        assert!(message.contains(wanted), "{text}\n=> {message}");
    }
}
