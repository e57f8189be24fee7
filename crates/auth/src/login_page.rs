//! The provider's pages: the login page (tenant, then username and password), the error page
//! and the signed-out page. Plain HTML forms with one stylesheet from the same origin: no
//! script, no external asset, usable without JavaScript, in English and Chinese (from `lang`
//! or the browser's Accept-Language). Every value shown is escaped.

use axum::{
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};

/// The page language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    /// `lang` when given (`zh`, `zh-CN`, `en`), else the first supported Accept-Language.
    pub fn pick(explicit: Option<&str>, headers: &HeaderMap) -> Lang {
        let from = |s: &str| {
            let s = s.trim().to_ascii_lowercase();
            if s.starts_with("zh") {
                Some(Lang::Zh)
            } else if s.starts_with("en") {
                Some(Lang::En)
            } else {
                None
            }
        };
        if let Some(l) = explicit.and_then(from) {
            return l;
        }
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').find_map(|part| from(part.split(';').next().unwrap_or(""))))
            .unwrap_or(Lang::En)
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh-CN",
        }
    }

    pub fn text(self, key: Text) -> &'static str {
        use Text::*;
        match (self, key) {
            (Lang::En, Title) => "Log in to TKEStack",
            (Lang::Zh, Title) => "登录 TKEStack",
            (Lang::En, Tenant) => "Tenant",
            (Lang::Zh, Tenant) => "租户",
            (Lang::En, Username) => "Username",
            (Lang::Zh, Username) => "用户名",
            (Lang::En, Password) => "Password",
            (Lang::Zh, Password) => "密码",
            (Lang::En, Submit) => "Log in",
            (Lang::Zh, Submit) => "登录",
            (Lang::En, Wrong) => "Wrong tenant, username or password.",
            (Lang::Zh, Wrong) => "租户、用户名或密码错误。",
            (Lang::En, Locked) => "This account is locked after repeated failed logins until",
            (Lang::Zh, Locked) => "多次登录失败，账号已锁定，解锁时间：",
            (Lang::En, Unavailable) => "The tenant's identity provider cannot be reached. Try again later.",
            (Lang::Zh, Unavailable) => "无法连接租户的身份提供方，请稍后重试。",
            (Lang::En, Expired) => "This login form has expired or came from another site. Start the login again.",
            (Lang::Zh, Expired) => "登录表单已过期或来自其他站点，请重新登录。",
            (Lang::En, ErrorTitle) => "Login cannot continue",
            (Lang::Zh, ErrorTitle) => "无法继续登录",
            (Lang::En, SignedOut) => "You have logged out.",
            (Lang::Zh, SignedOut) => "您已退出登录。",
            (Lang::En, OtherLanguage) => "中文",
            (Lang::Zh, OtherLanguage) => "English",
            (Lang::En, UpstreamLogin) => "Log in with",
            (Lang::Zh, UpstreamLogin) => "登录方式：",
        }
    }

    fn other(self) -> &'static str {
        match self {
            Lang::En => "zh",
            Lang::Zh => "en",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Text {
    Title,
    Tenant,
    Username,
    Password,
    Submit,
    Wrong,
    Locked,
    Unavailable,
    Expired,
    ErrorTitle,
    SignedOut,
    OtherLanguage,
    UpstreamLogin,
}

/// HTML-escapes text for element content and double-quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Served at `/oidc/static/login.css`.
pub const STYLESHEET: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI','PingFang SC','Microsoft YaHei',sans-serif;background:#f3f5f8;margin:0;color:#1f2937}\
main{max-width:380px;margin:10vh auto;background:#fff;border-radius:8px;box-shadow:0 2px 12px rgba(0,0,0,.08);padding:32px}\
h1{font-size:20px;margin:0 0 24px}label{display:block;font-size:13px;margin:16px 0 6px;color:#4b5563}\
input,select{width:100%;box-sizing:border-box;padding:9px 10px;border:1px solid #d1d5db;border-radius:4px;font-size:14px}\
button{margin-top:24px;width:100%;padding:10px;border:0;border-radius:4px;background:#006eff;color:#fff;font-size:15px;cursor:pointer}\
.error{background:#fdecec;color:#b42318;padding:10px;border-radius:4px;font-size:13px;margin-bottom:8px}\
.lang{display:block;text-align:right;font-size:12px;margin-top:16px;color:#6b7280}a{color:#006eff}\
.upstream{display:block;margin-top:12px;text-align:center}";

/// The security headers of every page: nothing but our stylesheet may load, no framing.
fn page(status: StatusCode, lang: Lang, body: String) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title><link rel=\"stylesheet\" href=\"/oidc/static/login.css\"></head><body><main>{body}</main></body></html>",
        lang.code(),
        escape(lang.text(Text::Title))
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'",
            ),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        html,
    )
        .into_response()
}

/// A tenant on the login page.
pub struct TenantChoice {
    pub id: String,
    pub name: String,
    /// An upstream OpenID tenant: a link, not the password form.
    pub upstream: bool,
}

/// The login form of a pending request.
pub struct LoginForm<'a> {
    pub request: &'a str,
    pub csrf: &'a str,
    pub tenants: &'a [TenantChoice],
    pub tenant: &'a str,
    pub username: &'a str,
    pub error: Option<String>,
}

pub fn login(lang: Lang, form: &LoginForm<'_>, status: StatusCode) -> Response {
    let t = |k| escape(lang.text(k));
    let mut body = format!("<h1>{}</h1>", t(Text::Title));
    if let Some(e) = &form.error {
        body.push_str(&format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)));
    }
    body.push_str(&format!(
        "<form method=\"post\" action=\"/oidc/auth/login?lang={}\"><input type=\"hidden\" name=\"req\" value=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        lang.short(),
        escape(form.request),
        escape(form.csrf)
    ));
    let password_tenants: Vec<&TenantChoice> = form.tenants.iter().filter(|c| !c.upstream).collect();
    body.push_str(&format!("<label for=\"tenant\">{}</label><select id=\"tenant\" name=\"tenant\">", t(Text::Tenant)));
    for c in &password_tenants {
        let selected = if c.id == form.tenant { " selected" } else { "" };
        let label = if c.name.is_empty() || c.name == c.id { c.id.clone() } else { format!("{} ({})", c.name, c.id) };
        body.push_str(&format!("<option value=\"{}\"{selected}>{}</option>", escape(&c.id), escape(&label)));
    }
    body.push_str("</select>");
    body.push_str(&format!(
        "<label for=\"username\">{}</label><input id=\"username\" name=\"username\" autocomplete=\"username\" required value=\"{}\">",
        t(Text::Username),
        escape(form.username)
    ));
    body.push_str(&format!(
        "<label for=\"password\">{}</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>",
        t(Text::Password)
    ));
    body.push_str(&format!("<button type=\"submit\">{}</button></form>", t(Text::Submit)));
    for c in form.tenants.iter().filter(|c| c.upstream) {
        body.push_str(&format!(
            "<a class=\"upstream\" href=\"/oidc/auth/upstream?req={}&amp;tenant={}\">{} {}</a>",
            escape(&urlencode(form.request)),
            escape(&urlencode(&c.id)),
            t(Text::UpstreamLogin),
            escape(if c.name.is_empty() { &c.id } else { &c.name })
        ));
    }
    body.push_str(&format!(
        "<a class=\"lang\" href=\"/oidc/auth/lang?req={}&amp;lang={}\">{}</a>",
        escape(&urlencode(form.request)),
        lang.other(),
        t(Text::OtherLanguage)
    ));
    page(status, lang, body)
}

impl Lang {
    /// The `lang` query value of this language.
    pub fn short(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }
}

pub fn error(lang: Lang, status: StatusCode, message: &str) -> Response {
    page(
        status,
        lang,
        format!(
            "<h1>{}</h1><p class=\"error\" role=\"alert\">{}</p>",
            escape(lang.text(Text::ErrorTitle)),
            escape(message)
        ),
    )
}

pub fn signed_out(lang: Lang) -> Response {
    page(StatusCode::OK, lang, format!("<h1>{}</h1>", escape(lang.text(Text::SignedOut))))
}

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("v", s)]).map(|q| q[2..].to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_shown_is_escaped() {
        assert_eq!(escape("<img src=x onerror=alert(1)>\"'&"), "&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;");
        let tenants = [TenantChoice { id: "t<1>".into(), name: "<b>".into(), upstream: false }];
        let form = LoginForm {
            request: "r\"x",
            csrf: "c",
            tenants: &tenants,
            tenant: "t<1>",
            username: "\"><script>",
            error: Some("<i>".into()),
        };
        let resp = login(Lang::En, &form, StatusCode::OK);
        let csp = resp.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_string();
        assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"), "{csp}");
    }

    #[test]
    fn language_from_query_then_header() {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_LANGUAGE, "fr-FR,zh-CN;q=0.8,en;q=0.5".parse().unwrap());
        assert_eq!(Lang::pick(None, &h), Lang::Zh);
        assert_eq!(Lang::pick(Some("en"), &h), Lang::En);
        assert_eq!(Lang::pick(None, &HeaderMap::new()), Lang::En);
    }
}
