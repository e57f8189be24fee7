//! Tenants of type `oidc` against a real, independent OpenID provider: the npm `oidc-provider`
//! package (tests/oidc-provider, installed by `scripts/setup --test`), started by each test on
//! a free loopback port. A browser made of reqwest and a cookie store goes through the
//! provider's login and consent forms and stops at the redirect to the platform's callback;
//! the code it brings back is what `Upstream::exchange` redeems.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use auth::{
    people::Person,
    upstream::{ClientAuth, Config, Error, Pkce, TokenError, Upstream, random_value},
};
use reqwest::{Url, header::LOCATION};
use serde_json::{Value, json};

const CLIENT_ID: &str = "tke-platform";
/// With characters that client_secret_basic must form-encode (RFC 6749 2.3.1).
const CLIENT_SECRET: &str = "upstream secret:/+%&=~";
const REDIRECT_URI: &str = "https://tke.example.test/oidc/callback";
const TENANT: &str = "corp";
const START_DEADLINE: Duration = Duration::from_secs(30);

fn project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc-provider")
}

/// The people the provider knows: alice has every claim, bob no `preferred_username`, carol an
/// email the provider has not verified (someone else's).
fn users() -> Value {
    json!({
        "alice": {"password": "wonderland", "sub": "u-alice", "claims": {
            "preferred_username": "alice", "name": "Alice Liddell", "email": "alice@example.org",
            "email_verified": true, "groups": ["ops", "devs"], "roles": ["auditor"]}},
        "bob": {"password": "can-we-fix-it", "sub": "u-bob", "claims": {
            "name": "Bob Builder", "email": "bob@example.org", "email_verified": true, "groups": ["devs"]}},
        "carol": {"password": "higher-further", "sub": "u-carol", "claims": {
            "name": "Carol", "email": "alice@example.org", "email_verified": false}},
    })
}

#[derive(Clone)]
struct Options {
    port: u16,
    issuer_host: &'static str,
    client_auth: &'static str,
    alg: &'static str,
    keys_file: Option<PathBuf>,
    tls: Option<(PathBuf, PathBuf)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            port: 0,
            issuer_host: "127.0.0.1",
            client_auth: "client_secret_basic",
            alg: "RS256",
            keys_file: None,
            tls: None,
        }
    }
}

/// A running `node provider.js`; killed on drop.
struct Provider {
    child: Child,
    _stdin: ChildStdin,
    issuer: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Provider {
    fn start(options: &Options) -> Provider {
        let project = project();
        assert!(
            project.join("node_modules/oidc-provider").exists(),
            "the test OpenID provider is not installed: run scripts/setup --test \
             (or npm ci --prefix crates/auth/tests/oidc-provider)"
        );
        let dir = tempfile::tempdir().expect("a temporary directory");
        let log = dir.path().join("provider.log");
        let node = std::env::var_os("NODE_BIN").unwrap_or_else(|| "node".into());
        let mut command = Command::new(&node);
        command
            .arg("provider.js")
            .current_dir(&project)
            .env("OIDC_PORT", options.port.to_string())
            .env("OIDC_ISSUER_HOST", options.issuer_host)
            .env("OIDC_CLIENT_ID", CLIENT_ID)
            .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .env("OIDC_REDIRECT_URI", REDIRECT_URI)
            .env("OIDC_CLIENT_AUTH", options.client_auth)
            .env("OIDC_ID_TOKEN_ALG", options.alg)
            .env("OIDC_USERS", users().to_string())
            // Its end of stdin closing (this process gone) makes it leave too.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("the provider's log"));
        if let Some(keys) = &options.keys_file {
            command.env("OIDC_KEYS_FILE", keys);
        }
        if let Some((cert, key)) = &options.tls {
            command.env("OIDC_TLS_CERT", cert).env("OIDC_TLS_KEY", key);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {node:?} (install Node.js: scripts/setup --test): {e}"));
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        // Reads the ready line, then keeps draining so the provider never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(issuer) = line.strip_prefix("ready ") {
                    let _ = tx.send(issuer.to_string());
                }
            }
        });
        match rx.recv_timeout(START_DEADLINE) {
            Ok(issuer) => Provider { child, _stdin: stdin, issuer, log, _dir: dir },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the OpenID provider did not start; its log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        }
    }

    fn port(&self) -> u16 {
        Url::parse(&self.issuer).ok().and_then(|u| u.port()).expect("the issuer has a port")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(issuer: &str, extra: Value) -> Config {
    let mut v = json!({"issuer": issuer, "clientID": CLIENT_ID, "clientSecret": CLIENT_SECRET,
        "redirectURI": REDIRECT_URI, "scopes": ["openid", "profile", "email", "groups"]});
    if let (Value::Object(base), Value::Object(more)) = (&mut v, extra) {
        base.extend(more);
    }
    Config::from_json(&v.to_string()).expect("a valid configuration")
}

async fn discover(provider: &Provider, extra: Value) -> Upstream {
    match Upstream::discover(TENANT, config(&provider.issuer, extra)).await {
        Ok(up) => up,
        Err(e) => panic!("discovery failed: {e}\nthe provider's log:\n{}", provider.log()),
    }
}

/// One login as the platform's login page would start it.
struct Login {
    pkce: Pkce,
    state: String,
    nonce: String,
}

impl Login {
    fn new() -> Login {
        Login { pkce: Pkce::new(), state: random_value(), nonce: random_value() }
    }
}

/// What the provider's redirect to the platform's callback carries.
#[derive(Debug)]
struct Callback {
    code: String,
    state: String,
    iss: Option<String>,
}

/// The user's browser, trusting `ca` (PEM) besides the public CAs.
fn browser(ca: Option<&str>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10));
    if let Some(pem) = ca {
        b = b.add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).expect("the CA"));
    }
    b.build().expect("a browser")
}

/// Goes from `start` through the provider's login and consent forms to the redirect to the
/// platform's callback (not followed). `Err` with the page when the login is refused.
async fn browse(browser: &reqwest::Client, start: &str, login: &str, password: &str) -> Result<Callback, String> {
    let mut request = browser.get(start);
    for _ in 0..12 {
        let response = request.send().await.expect("the provider answers");
        let status = response.status();
        let here = response.url().clone();
        if status.is_redirection() {
            let location = response.headers().get(LOCATION).and_then(|v| v.to_str().ok()).expect("a Location");
            let next = here.join(location).expect("a URL to go to");
            if next.as_str().starts_with(REDIRECT_URI) {
                let q: std::collections::HashMap<_, _> = next.query_pairs().into_owned().collect();
                if let Some(error) = q.get("error") {
                    return Err(format!("the provider sent back {error}: {:?}", q.get("error_description")));
                }
                return Ok(Callback {
                    code: q.get("code").cloned().expect("a code"),
                    state: q.get("state").cloned().unwrap_or_default(),
                    iss: q.get("iss").cloned(),
                });
            }
            request = browser.get(next);
            continue;
        }
        let body = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "{status} at {here}: {body}");
        if body.contains("Invalid login or password") {
            return Err(body);
        }
        let action = form_action(&body).unwrap_or_else(|| panic!("no form at {here}: {body}"));
        let target = here.join(&action).expect("the form's URL");
        request = if action.ends_with("/login") {
            browser.post(target).form(&[("login", login), ("password", password)])
        } else {
            browser.post(target).form(&[("allow", "yes")])
        };
    }
    panic!("the provider did not send the browser back to the platform within 12 steps");
}

fn form_action(html: &str) -> Option<String> {
    let start = html.find("action=\"")? + "action=\"".len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_string())
}

/// A login of `user` in a fresh browser, up to the code.
async fn code_for(up: &Upstream, login: &Login, user: &str, password: &str, ca: Option<&str>) -> Callback {
    let url = up.authorization_url(&login.state, &login.nonce, &login.pkce.challenge);
    let callback =
        browse(&browser(ca), &url, user, password).await.unwrap_or_else(|page| panic!("{user} cannot log in: {page}"));
    assert_eq!(callback.state, login.state, "the state comes back unchanged");
    assert_eq!(callback.iss.as_deref(), Some(up.config().issuer.as_str()), "RFC 9207: the issuer says it is itself");
    callback
}

/// Redeems a code at the provider as `exchange` would, without verifying anything: the ID
/// token, and its header and claims decoded.
async fn redeem_by_hand(provider: &Provider, login: &Login, callback: &Callback, auth: &str) -> (String, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", callback.code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", login.pkce.verifier.as_str()),
    ];
    let mut request = reqwest::Client::new().post(format!("{}/token", provider.issuer));
    if auth == "client_secret_post" {
        form.extend([("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)]);
    } else {
        use base64::Engine;
        let encode = |s: &str| -> String {
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect()
        };
        let pair = format!("{}:{}", encode(CLIENT_ID), encode(CLIENT_SECRET));
        let basic = base64::engine::general_purpose::STANDARD.encode(pair);
        request = request.header(reqwest::header::AUTHORIZATION, format!("Basic {basic}"));
    }
    let answer: Value = request.form(&form).send().await.unwrap().json().await.unwrap();
    let id_token = answer["id_token"].as_str().unwrap_or_else(|| panic!("an ID token in {answer}")).to_string();
    let decode = |part: &str| -> Value {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).expect("base64url");
        serde_json::from_slice(&bytes).expect("JSON")
    };
    let parts: Vec<&str> = id_token.split('.').collect();
    let decoded = json!({"header": decode(parts[0]), "claims": decode(parts[1])});
    (id_token, decoded)
}

/// A whole login of `user`: browser, code, exchange.
async fn log_in(up: &Upstream, user: &str, password: &str) -> Result<Person, Error> {
    let login = Login::new();
    let callback = code_for(up, &login, user, password, None).await;
    up.exchange(&callback.code, &login.pkce.verifier, &login.nonce).await
}

#[tokio::test]
async fn a_user_with_every_claim_logs_in_with_groups() {
    let provider = Provider::start(&Options::default());
    let up = discover(&provider, json!({})).await;
    assert_eq!(up.client_auth(), ClientAuth::Basic);
    let person = log_in(&up, "alice", "wonderland").await.unwrap();
    assert_eq!(
        person,
        Person {
            tenant: TENANT.into(),
            username: "alice".into(),
            id: "u-alice".into(),
            display_name: "Alice Liddell".into(),
            email: "alice@example.org".into(),
            groups: vec!["ops".into(), "devs".into()],
            platform_admin: false,
        }
    );
    // A wrong password stays at the provider's login page: no code reaches the platform.
    let login = Login::new();
    let url = up.authorization_url(&login.state, &login.nonce, &login.pkce.challenge);
    assert!(browse(&browser(None), &url, "alice", "looking-glass").await.is_err());
}

#[tokio::test]
async fn users_without_preferred_username_are_known_by_verified_email_else_by_subject() {
    let provider = Provider::start(&Options::default());
    let up = discover(&provider, json!({})).await;
    let bob = log_in(&up, "bob", "can-we-fix-it").await.unwrap();
    assert_eq!(bob.username, "bob@example.org", "a missing preferred_username never locks a user out");
    assert_eq!(bob.display_name, "Bob Builder");
    assert_eq!(bob.id, "u-bob");
    assert_eq!(bob.groups, ["devs"]);
    // carol's provider account carries alice's address, unverified: it is not her username.
    let carol = log_in(&up, "carol", "higher-further").await.unwrap();
    assert_eq!((carol.username.as_str(), carol.email.as_str()), ("u-carol", ""));
}

#[tokio::test]
async fn groups_come_from_the_claim_the_mapping_names() {
    let provider = Provider::start(&Options::default());
    let up = discover(&provider, json!({"claimMapping": {"groups": "roles", "username": ["email"]}})).await;
    let alice = log_in(&up, "alice", "wonderland").await.unwrap();
    assert_eq!(alice.groups, ["auditor"]);
    assert_eq!(alice.username, "alice@example.org");
    // Without the scope that releases them the provider sends no groups.
    let up = discover(&provider, json!({"scopes": "openid profile email"})).await;
    assert_eq!(log_in(&up, "alice", "wonderland").await.unwrap().groups, Vec::<String>::new());
}

#[tokio::test]
async fn an_id_token_with_another_nonce_is_refused() {
    let provider = Provider::start(&Options::default());
    let up = discover(&provider, json!({})).await;
    let login = Login::new();
    let callback = code_for(&up, &login, "alice", "wonderland", None).await;
    let err = up.exchange(&callback.code, &login.pkce.verifier, &random_value()).await.unwrap_err();
    assert!(matches!(err, Error::IdToken(TokenError::Nonce)), "{err}");
}

#[tokio::test]
async fn a_reused_code_or_a_wrong_verifier_is_refused_by_the_provider_and_said_so() {
    let provider = Provider::start(&Options::default());
    let up = discover(&provider, json!({})).await;
    let login = Login::new();
    let callback = code_for(&up, &login, "alice", "wonderland", None).await;
    up.exchange(&callback.code, &login.pkce.verifier, &login.nonce).await.expect("the first use");
    let err = up.exchange(&callback.code, &login.pkce.verifier, &login.nonce).await.unwrap_err();
    assert!(matches!(&err, Error::Refused { error, .. } if error == "invalid_grant"), "{err}");
    let text = err.to_string();
    assert!(text.contains("used already") && text.contains("start the login again"), "{text}");
    assert!(!text.contains(&callback.code), "the code is never in a message: {text}");

    let login = Login::new();
    let callback = code_for(&up, &login, "alice", "wonderland", None).await;
    let err = up.exchange(&callback.code, &Pkce::new().verifier, &login.nonce).await.unwrap_err();
    assert!(matches!(&err, Error::Refused { error, .. } if error == "invalid_grant"), "{err}");
}

#[tokio::test]
async fn a_wrong_client_secret_is_reported_without_the_secret() {
    let provider = Provider::start(&Options::default());
    let up = discover(&provider, json!({"clientSecret": "not-the-client-secret"})).await;
    let err = log_in(&up, "alice", "wonderland").await.unwrap_err();
    assert!(matches!(&err, Error::Refused { error, .. } if error == "invalid_client"), "{err}");
    let text = err.to_string();
    assert!(text.contains("clientSecret") && !text.contains("not-the-client-secret"), "{text}");
}

#[tokio::test]
async fn a_token_from_another_issuer_is_refused_even_with_the_same_keys() {
    let keys = tempfile::tempdir().unwrap();
    let shared = Options { keys_file: Some(keys.path().join("jwks.json")), ..Options::default() };
    let a = Provider::start(&shared);
    let b = Provider::start(&shared);
    let up_a = discover(&a, json!({})).await;
    let up_b = discover(&b, json!({})).await;

    // An ID token from B, for the same client id.
    let login = Login::new();
    let callback = code_for(&up_b, &login, "alice", "wonderland", None).await;
    let (id_token, _) = redeem_by_hand(&b, &login, &callback, "client_secret_basic").await;
    up_b.verify_id_token(&id_token, &login.nonce).await.expect("B's own token verifies at B");
    let err = up_a.verify_id_token(&id_token, &login.nonce).await.unwrap_err();
    assert!(matches!(err, Error::IdToken(TokenError::Issuer)), "{err}");

    // And B's code is nothing at A.
    let login = Login::new();
    let callback = code_for(&up_b, &login, "alice", "wonderland", None).await;
    let err = up_a.exchange(&callback.code, &login.pkce.verifier, &login.nonce).await.unwrap_err();
    assert!(matches!(&err, Error::Refused { error, .. } if error == "invalid_grant"), "{err}");
}

#[tokio::test]
async fn an_unreachable_issuer_is_a_clear_error_at_discovery() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let issuer = format!("http://127.0.0.1:{port}");
    let err = Upstream::discover(TENANT, config(&issuer, json!({}))).await.unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains(&format!("{issuer}/.well-known/openid-configuration")), "{text}");
    assert!(text.to_lowercase().contains("refused"), "the cause is named: {text}");
}

#[tokio::test]
async fn discovery_must_name_exactly_the_configured_issuer() {
    // The provider calls itself http://localhost:PORT; the tenant says http://127.0.0.1:PORT.
    let provider = Provider::start(&Options { issuer_host: "localhost", ..Options::default() });
    let configured = format!("http://127.0.0.1:{}", provider.port());
    let err = Upstream::discover(TENANT, config(&configured, json!({}))).await.unwrap_err();
    assert!(
        matches!(&err, Error::IssuerMismatch { announced, configured: c, .. } if *announced == provider.issuer && *c == configured),
        "{err}"
    );
    assert!(err.to_string().contains("set issuer to exactly"), "{err}");
}

#[tokio::test]
async fn client_secret_post_and_es256_when_that_is_what_the_provider_offers() {
    let provider = Provider::start(&Options { client_auth: "client_secret_post", alg: "ES256", ..Options::default() });
    let up = discover(&provider, json!({})).await;
    assert_eq!(up.client_auth(), ClientAuth::Post);
    let alice = log_in(&up, "alice", "wonderland").await.unwrap();
    assert_eq!(alice.username, "alice");
    assert_eq!(alice.groups, ["ops", "devs"]);

    // What the provider sends: ES256, and (its default for the code flow) only `sub` of the
    // user's claims in the ID token, so the username and groups above came from userinfo.
    let login = Login::new();
    let callback = code_for(&up, &login, "alice", "wonderland", None).await;
    let (_, token) = redeem_by_hand(&provider, &login, &callback, "client_secret_post").await;
    assert_eq!(token["header"]["alg"], "ES256");
    assert_eq!(token["claims"]["sub"], "u-alice");
    assert!(token["claims"].get("preferred_username").is_none() && token["claims"].get("groups").is_none(), "{token}");
}

#[tokio::test]
async fn rotated_provider_keys_are_read_again_at_most_every_10_seconds() {
    let keys = tempfile::tempdir().unwrap();
    let first = Provider::start(&Options { keys_file: Some(keys.path().join("1.json")), ..Options::default() });
    let port = first.port();
    let up = discover(&first, json!({})).await;
    log_in(&up, "alice", "wonderland").await.expect("with the keys read at discovery");

    // The provider comes back on the same address with new keys: the platform reads them.
    drop(first);
    let second = Provider::start(&Options { port, keys_file: Some(keys.path().join("2.json")), ..Options::default() });
    log_in(&up, "alice", "wonderland").await.expect("the new key is fetched");

    // New keys again at once: the JWKS was just read, so it is not read again yet.
    drop(second);
    let _third = Provider::start(&Options { port, keys_file: Some(keys.path().join("3.json")), ..Options::default() });
    let err = log_in(&up, "alice", "wonderland").await.unwrap_err();
    assert!(matches!(err, Error::IdToken(TokenError::UnknownKey)), "{err}");
}

/// A CA and a serving certificate for 127.0.0.1 signed by it, written to `dir`: (CA PEM, cert
/// file, key file).
fn certificates(dir: &Path) -> (String, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name.push(DnType::CommonName, "test OpenID provider CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["127.0.0.1".into()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "127.0.0.1");
    let cert = params.signed_by(&key, &issuer).unwrap();
    let (cert_file, key_file) = (dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    (ca_pem, cert_file, key_file)
}

#[tokio::test]
async fn a_provider_with_a_private_ca_is_trusted_through_root_ca_data() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let provider = Provider::start(&Options { tls: Some((cert, key)), ..Options::default() });
    assert!(provider.issuer.starts_with("https://"), "{}", provider.issuer);

    let err = Upstream::discover(TENANT, config(&provider.issuer, json!({}))).await.unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
    assert!(err.to_string().to_lowercase().contains("certificate"), "the cause is named: {err}");

    let up = discover(&provider, json!({"rootCAData": ca})).await;
    let login = Login::new();
    let callback = code_for(&up, &login, "alice", "wonderland", Some(&ca)).await;
    let alice = up.exchange(&callback.code, &login.pkce.verifier, &login.nonce).await.unwrap();
    assert_eq!(alice.username, "alice");

    discover(&provider, json!({"insecureSkipVerify": true})).await;
}

/// A fake provider on a free loopback port that answers each path with a fixed status and
/// body, for the answers a real one does not give. Returns its issuer.
async fn fake_provider(routes: impl Fn(&str, &str) -> (u16, String) + Send + Sync + 'static) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let routes = std::sync::Arc::new(routes);
    let base = issuer.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let routes = routes.clone();
            let base = base.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&request);
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                let (status, body) = routes(&base, &path);
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(body.as_bytes()).await;
            });
        }
    });
    issuer
}

/// A discovery document of `issuer` with `changes` applied.
fn discovery(issuer: &str, changes: Value) -> String {
    let mut doc = json!({"issuer": issuer, "authorization_endpoint": format!("{issuer}/auth"),
        "token_endpoint": format!("{issuer}/token"), "jwks_uri": format!("{issuer}/jwks"),
        "id_token_signing_alg_values_supported": ["RS256"]});
    if let (Value::Object(d), Value::Object(c)) = (&mut doc, changes) {
        for (k, v) in c {
            if v.is_null() {
                d.remove(&k);
            } else {
                d.insert(k, v);
            }
        }
    }
    doc.to_string()
}

/// For an issuer: the discovery answer's status and body, and the JWKS body.
type FakeAnswer = Box<dyn Fn(&str) -> (u16, String, String) + Send + Sync>;

#[tokio::test]
async fn malformed_provider_answers_are_clear_errors() {
    let jwks_ok = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k",
        "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4", "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}]})
    .to_string();
    let cases: Vec<(&str, FakeAnswer, &str)> = vec![
        ("not JSON", Box::new(|_| (200, "<html>".into(), String::new())), "discovery document"),
        ("HTTP 500", Box::new(|_| (500, "{}".into(), String::new())), "answered HTTP 500"),
        ("no jwks_uri", Box::new(|i| (200, discovery(i, json!({"jwks_uri": null})), String::new())), "jwks_uri"),
        (
            "plain http endpoint elsewhere",
            Box::new(|i| {
                (200, discovery(i, json!({"token_endpoint": "http://login.example.com/token"})), String::new())
            }),
            "must use https",
        ),
        (
            "HMAC only",
            Box::new(|i| {
                (200, discovery(i, json!({"id_token_signing_alg_values_supported": ["HS256"]})), String::new())
            }),
            "signs ID tokens only with HS256",
        ),
        (
            "private_key_jwt only",
            Box::new(|i| {
                (
                    200,
                    discovery(i, json!({"token_endpoint_auth_methods_supported": ["private_key_jwt"]})),
                    String::new(),
                )
            }),
            "authenticates clients only by private_key_jwt",
        ),
        (
            "no usable key",
            Box::new(|i| (200, discovery(i, json!({})), r#"{"keys":[{"kty":"oct","k":"AA"}]}"#.into())),
            "no RSA or P-256",
        ),
        ("JWKS not JSON", Box::new(|i| (200, discovery(i, json!({})), "{\"keys\": 5}".into())), "JWKS"),
        ("a huge JWKS", Box::new(|i| (200, discovery(i, json!({})), " ".repeat(2 << 20))), "over"),
    ];
    for (name, answer, says) in cases {
        let answer = std::sync::Arc::new(answer);
        let issuer = fake_provider(move |issuer, path| {
            let (status, doc, jwks) = answer(issuer);
            if path.ends_with("/jwks") { (200, jwks) } else { (status, doc) }
        })
        .await;
        let err = Upstream::discover(TENANT, config(&issuer, json!({}))).await.expect_err(name);
        assert!(err.to_string().contains(says), "{name}: {err}");
    }

    // The same fake with a good document and key: discovery passes, and a token endpoint that
    // answers nonsense is reported as such.
    let jwks = jwks_ok.clone();
    let issuer = fake_provider(move |issuer, path| match path {
        "/.well-known/openid-configuration" => (200, discovery(issuer, json!({}))),
        "/jwks" => (200, jwks.clone()),
        _ => (200, "not json".into()),
    })
    .await;
    let up = Upstream::discover(TENANT, config(&issuer, json!({}))).await.unwrap();
    let err = up.exchange("code", &Pkce::new().verifier, "nonce").await.unwrap_err();
    assert!(matches!(err, Error::BadResponse { what: "token endpoint", .. }), "{err}");
    let issuer = fake_provider(move |issuer, path| match path {
        "/.well-known/openid-configuration" => (200, discovery(issuer, json!({}))),
        "/jwks" => (200, jwks_ok.clone()),
        _ => (200, json!({"access_token": "x", "id_token": "not.a.jwt"}).to_string()),
    })
    .await;
    let up = Upstream::discover(TENANT, config(&issuer, json!({}))).await.unwrap();
    let err = up.exchange("code", &Pkce::new().verifier, "nonce").await.unwrap_err();
    assert!(matches!(err, Error::IdToken(TokenError::Malformed)), "{err}");
}

/// The whole way a person of an `oidc` tenant goes in the real `tke up` (build it first:
/// `cargo build -p tke`): the platform's login page links the tenant, its provider logs them
/// in, the platform's callback finishes the login, the client gets an ID token with the
/// mapped claims, and kubectl works with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_of_an_upstream_tenant_logs_in_through_the_platform_login_page() {
    use base64::Engine;
    let provider = Provider::start(&Options::default());
    let tke = tokio::task::spawn_blocking(testkit::tke::Tke::start).await.expect("tke up");
    let idp = json!({"apiVersion": "auth.tkestack.io/v1", "kind": "IdentityProvider", "metadata": {"name": TENANT},
        "spec": {"name": "Corp SSO", "type": "oidc", "config": json!({"issuer": provider.issuer, "clientID": CLIENT_ID,
            "clientSecret": CLIENT_SECRET, "redirectURI": REDIRECT_URI, "scopes": ["openid", "profile", "email", "groups"]}).to_string()}});
    let out = tke.kubectl_with(&["create", "-f", "-"], &[], Some(&idp.to_string()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The secret was taken out of the configuration and is never shown.
    let shown = tke.kubectl_ok(&["get", "idp", TENANT, "-o", "json"]);
    assert!(!shown.contains("upstream secret") && !shown.contains("clientSecret"), "{shown}");

    let ca = std::fs::read_to_string(tke.ca_file()).expect("the platform's CA");
    let b = browser(Some(&ca));
    let client_redirect = "http://127.0.0.1:49998/callback";
    let pkce = Pkce::new();
    let authorize = format!(
        "{}/oidc/auth?client_id=default&response_type=code&scope=openid&state=s1&nonce=n1&code_challenge={}&code_challenge_method=S256&redirect_uri={}",
        tke.url, pkce.challenge, client_redirect
    );
    let page = b.get(&authorize).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    let start = page.find("/oidc/auth/upstream?").expect("the tenant's link on the login page");
    let link = page[start..].split('"').next().unwrap().replace("&amp;", "&");
    assert!(page.contains("Corp SSO"), "{page}");
    let to_provider = b.get(format!("{}{link}", tke.url)).send().await.unwrap();
    assert_eq!(to_provider.status(), 303);
    let location = to_provider.headers()[LOCATION].to_str().unwrap().to_string();
    assert!(location.starts_with(&provider.issuer), "{location}");

    // bob has no preferred_username: he is known by his verified e-mail address.
    let callback = browse(&b, &location, "bob", "can-we-fix-it").await.expect("bob logs in at the provider");
    let back = b
        .get(format!("{}/oidc/callback", tke.url))
        .query(&[("code", callback.code.as_str()), ("state", callback.state.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 303, "{}", back.text().await.unwrap_or_default());
    let to_client = Url::parse(back.headers()[LOCATION].to_str().unwrap()).unwrap();
    assert!(to_client.as_str().starts_with(client_redirect), "{to_client}");
    let q: std::collections::HashMap<_, _> = to_client.query_pairs().into_owned().collect();
    assert_eq!(q.get("state").map(String::as_str), Some("s1"));
    let answer: Value = b
        .post(format!("{}/oidc/token", tke.url))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "default"),
            ("code", q["code"].as_str()),
            ("redirect_uri", client_redirect),
            ("code_verifier", pkce.verifier.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id_token = answer["id_token"].as_str().unwrap_or_else(|| panic!("{answer}")).to_string();
    let payload = id_token.split('.').nth(1).unwrap();
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(claims["name"], "bob@example.org");
    assert_eq!(claims["preferred_username"], "Bob Builder");
    assert_eq!(claims["groups"], json!(["devs"]));
    assert_eq!(claims["federated_claims"], json!({"connector_id": TENANT, "user_id": "u-bob"}));

    // The callback cannot be replayed, and kubectl works with the token.
    let replay = b
        .get(format!("{}/oidc/callback", tke.url))
        .query(&[("code", callback.code.as_str()), ("state", callback.state.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 403);
    let kubeconfig = tke.data_dir().join("bob.kubeconfig");
    let config = json!({"apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "p", "cluster": {"server": tke.url, "certificate-authority": tke.ca_file()}}],
        "users": [{"name": "u", "user": {"token": id_token}}],
        "contexts": [{"name": "c", "context": {"cluster": "p", "user": "u"}}]});
    std::fs::write(&kubeconfig, config.to_string()).unwrap();
    let out =
        Command::new("kubectl").env("KUBECONFIG", &kubeconfig).args(["auth", "whoami", "-o", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let whoami: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(whoami["status"]["userInfo"]["username"], "bob@example.org");
    assert_eq!(whoami["status"]["userInfo"]["extra"]["tenantid"], json!([TENANT]));
}
