//! Renders templates' Go template text with a request's variables, as TKEStack does: the
//! variables are HTML-escaped into the template (Go's `html/template` in text context) and the
//! result is HTML-unescaped, so a variable comes out exactly as given and entities written in
//! the template itself (`&lt;`) come out as the characters they stand for. Missing variables
//! render as Go's `<no value>`; `{{if}}`, `{{range}}`, `{{with}}`, pipelines and Go's builtin
//! functions (`printf`, `len`, `index`, `eq`…) work as in Go (the `gtmpl` crate), except that
//! `{{range .}}` over the variables visits them in no set order where Go sorts them by name.

use std::collections::{BTreeMap, HashMap};

/// Why a template did not render.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RenderError(String);

/// Renders `text` with `variables` (`{{.name}}`).
pub fn render(text: &str, variables: &BTreeMap<String, String>) -> Result<String, RenderError> {
    if !text.contains("{{") {
        return Ok(unescape_html(text));
    }
    let map: HashMap<String, gtmpl::Value> =
        variables.iter().map(|(k, v)| (k.clone(), gtmpl::Value::from(escape_html(v)))).collect();
    let mut t = gtmpl::Template::default();
    t.parse(text).map_err(|e| RenderError(format!("the template does not parse: {e}")))?;
    let out = t
        .render(&gtmpl::Context::from(gtmpl::Value::Map(map)))
        .map_err(|e| RenderError(format!("the template did not render: {e}")))?;
    Ok(unescape_html(&out))
}

/// What Go's `html/template` writes for a value in text context.
fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '+' => out.push_str("&#43;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's `html.UnescapeString` for the entities that matter here: the named ones HTML writers
/// use for markup characters and spaces, and every numeric one.
pub fn unescape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest[1..].find(';').map(|e| e + 1).filter(|e| *e <= 12) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            _ => entity.strip_prefix('#').and_then(|n| {
                let code = match n.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => n.parse::<u32>().ok(),
                };
                code.and_then(char::from_u32)
            }),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn tkestack_style_templates_render() {
        let v = vars(&[
            ("alarmPolicyName", "cpu-high"),
            ("summary", "告警策略：cpu-high\n指标：CPU 使用率 > 80%"),
            ("podName", "web-1"),
            ("value", "93.5"),
        ]);
        let out = render("[TKEStack 告警] {{.alarmPolicyName}}", &v).unwrap();
        assert_eq!(out, "[TKEStack 告警] cpu-high");
        let body = "{{.summary}}\n{{if .podName}}Pod: {{.podName}}{{end}}{{if .nodeName}}Node: {{.nodeName}}{{end}}";
        assert_eq!(render(body, &v).unwrap(), "告警策略：cpu-high\n指标：CPU 使用率 > 80%\nPod: web-1");
        // Values come out exactly, markup included; entities of the template are decoded.
        let v = vars(&[("value", "<b>&amp; 'x' + \"y\"</b>")]);
        assert_eq!(render("v={{.value}} &lt;ok&gt;", &v).unwrap(), "v=<b>&amp; 'x' + \"y\"</b> <ok>");
        // A missing variable is Go's "<no value>".
        assert_eq!(render("{{.nope}}", &v).unwrap(), "<no value>");
        // `range` over the variables visits each once (in no set order: gtmpl keeps them in a
        // hash map, where Go would sort the keys).
        let v = vars(&[("a", "1"), ("b", "2")]);
        let ranged = render("{{range $k, $v := .}}{{$k}}={{$v}};{{end}}", &v).unwrap();
        assert!(ranged == "a=1;b=2;" || ranged == "b=2;a=1;", "{ranged}");
        assert_eq!(
            render(r#"{{if eq .a "1"}}one{{else}}other{{end}} {{printf "%s-%s" .a .b}}"#, &v).unwrap(),
            "one 1-2"
        );
    }

    #[test]
    fn broken_templates_are_errors() {
        assert!(render("{{if .a}}", &BTreeMap::new()).is_err());
    }
}
