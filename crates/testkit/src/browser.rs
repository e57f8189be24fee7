//! A browser for tests of the platform's login pages and console: curl with a cookie jar, as a
//! browser would send requests (form posts, redirects not followed so each leg is checked).

use std::{path::PathBuf, process::Command};

use crate::tke::Tke;

pub struct Browser<'a> {
    pub tke: &'a Tke,
    jar: PathBuf,
    /// Where relative paths go: the platform, or a gateway in front of it.
    pub base: String,
    /// The CA bundle the browser trusts.
    ca: PathBuf,
}

/// One answer: status, headers (as received), body.
pub struct Answer {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

impl Answer {
    /// The value of header `name` (any case), or "".
    pub fn header(&self, name: &str) -> String {
        self.headers
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
            .unwrap_or_default()
    }

    pub fn location(&self) -> String {
        self.header("location")
    }

    /// Every `Set-Cookie` value.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .lines()
            .filter_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim().eq_ignore_ascii_case("set-cookie").then(|| v.trim().to_string())
            })
            .collect()
    }
}

impl<'a> Browser<'a> {
    /// A browser with its own cookie jar named `name` in the platform's data directory.
    pub fn new(tke: &'a Tke, name: &str) -> Self {
        Browser { tke, jar: tke.data_dir().join(format!("{name}.cookies")), base: tke.url.clone(), ca: tke.ca_file() }
    }

    /// A browser whose relative paths go to `base` (a gateway), trusting the platform's CA and
    /// `extra_ca` (the gateway's).
    pub fn at(tke: &'a Tke, name: &str, base: &str, extra_ca: &std::path::Path) -> Self {
        let bundle = tke.data_dir().join(format!("{name}.ca-bundle"));
        let mut pem = std::fs::read(tke.ca_file()).expect("the platform's CA");
        pem.push(b'\n');
        pem.extend(std::fs::read(extra_ca).expect("the extra CA"));
        std::fs::write(&bundle, pem).expect("writing the CA bundle");
        Browser { tke, jar: tke.data_dir().join(format!("{name}.cookies")), base: base.to_string(), ca: bundle }
    }

    /// A request with curl's `args` (URL included), cookies read from and written to the jar.
    pub fn request(&self, args: &[&str]) -> Answer {
        let headers = self.jar.with_extension("headers");
        let out = Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(&self.ca)
            .arg("-b")
            .arg(&self.jar)
            .arg("-c")
            .arg(&self.jar)
            .arg("-D")
            .arg(&headers)
            .args(["-o", "-", "-w", "\n%{http_code}"])
            .args(args)
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        Answer {
            status: code.trim().parse().unwrap_or(0),
            headers: std::fs::read_to_string(&headers).unwrap_or_default(),
            body: body.to_string(),
        }
    }

    pub fn get(&self, path_and_query: &str) -> Answer {
        self.request(&[&format!("{}{path_and_query}", self.base)])
    }

    /// A form post.
    pub fn post(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        let mut args = vec!["-X".to_string(), "POST".to_string(), format!("{}{path}", self.base)];
        for (k, v) in form {
            args.push("--data-urlencode".into());
            args.push(format!("{k}={v}"));
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.request(&refs)
    }

    /// The value of a cookie in the jar.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let jar = std::fs::read_to_string(&self.jar).ok()?;
        jar.lines().find_map(|l| {
            let fields: Vec<&str> = l.split('\t').collect();
            (fields.len() == 7 && fields[5] == name).then(|| fields[6].to_string())
        })
    }
}

/// The value of hidden input `name` in a page.
pub fn hidden(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body.find(&marker).unwrap_or_else(|| panic!("no {name} in {body}")) + marker.len();
    body[start..].split('"').next().unwrap_or("").to_string()
}

/// The (decoded) value of query parameter `name` of `url`.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Browser<'_> {
    /// Follows a `Location`: absolute as it is, a path at this browser's base.
    pub fn follow(&self, location: &str) -> Answer {
        if location.starts_with("https://") { self.request(&[location]) } else { self.get(location) }
    }

    /// Logs in to the console as `username` (tenant `default`) by opening `start`, as a person
    /// would: the gateway sends to the provider's login form, the form is filled in and sent,
    /// the provider returns to the gateway's callback. Returns the callback's answer (the
    /// session cookies and where it sends the browser).
    pub fn console_login(&self, username: &str, password: &str, start: &str) -> Answer {
        let page = self.get(start);
        assert_eq!(page.status, 303, "a page without a session goes to the login: {}", page.headers);
        let to_provider = self.follow(&page.location());
        assert_eq!(to_provider.status, 303, "{}", to_provider.body);
        let form = self.follow(&to_provider.location());
        assert_eq!(form.status, 200, "the provider's login form: {}", form.body);
        let (req, csrf) = (hidden(&form.body, "req"), hidden(&form.body, "csrf"));
        let provider = self.tke.url.clone();
        let args: Vec<String> = [
            ("req", req.as_str()),
            ("csrf", csrf.as_str()),
            ("tenant", "default"),
            ("username", username),
            ("password", password),
        ]
        .iter()
        .flat_map(|(k, v)| ["--data-urlencode".to_string(), format!("{k}={v}")])
        .chain(["-X".to_string(), "POST".to_string(), format!("{provider}/oidc/auth/login")])
        .collect();
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let done = self.request(&refs);
        assert_eq!(done.status, 303, "{}", done.body);
        let callback = done.location();
        assert!(callback.starts_with(&format!("{}/callback?", self.base)), "{callback}");
        self.request(&[&callback])
    }
}
