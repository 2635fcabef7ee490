//! HTML building blocks: escaping and the page frame. Nothing here trusts its input.

/// Escapes text for an HTML element body or a quoted attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A whole page around `body` (already escaped HTML).
pub fn page(title: &str, signed_in_as: Option<&str>, csrf: &str, body: &str) -> String {
    let account = match signed_in_as {
        Some(subject) => format!(
            "<form method=\"post\" action=\"/logout\" class=\"account\">Signed in as <strong>{}</strong> \
             <input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\">Sign out</button></form>",
            escape(subject),
            escape(csrf)
        ),
        None => String::new(),
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · jitgate</title><link rel=\"stylesheet\" href=\"/static/review.css\"></head>\
         <body><header><h1>jitgate</h1>{account}</header><main>{body}</main></body></html>\n",
        escape(title)
    )
}

/// The stylesheet (served, not inlined, so the CSP can forbid inline styles).
pub const STYLESHEET: &str = "\
body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}\
header{display:flex;justify-content:space-between;align-items:center;padding:.6rem 1.5rem;background:#1d2330;color:#fff}\
header h1{font-size:1.2rem;margin:0}.account button{margin-left:.5rem}\
main{max-width:60rem;margin:1.5rem auto;padding:0 1rem}\
.request{background:#fff;border:1px solid #d8dce3;border-radius:6px;padding:1rem 1.25rem;margin-bottom:1rem}\
.request h2{font-size:1rem;margin:0 0 .5rem}.break-glass{color:#fff;background:#b3261e;padding:.1rem .4rem;border-radius:3px}\
dl{display:grid;grid-template-columns:9rem 1fr;gap:.25rem .75rem;margin:.5rem 0}dt{color:#5b6475}dd{margin:0}\
code{background:#eef0f4;padding:0 .25rem;border-radius:3px}textarea{width:100%;min-height:3rem}\
.actions{display:flex;gap:.5rem;margin-top:.5rem}.approve{background:#1e7b34;color:#fff}.deny{background:#b3261e;color:#fff}\
button{border:1px solid #888;border-radius:4px;padding:.35rem .9rem;cursor:pointer}\
.notice{padding:.6rem 1rem;border-radius:4px;margin-bottom:1rem;background:#e6f4ea}.error{background:#fce8e6}\
nav{margin-bottom:1rem}nav a[aria-current]{font-weight:600;color:inherit;text-decoration:none}\
.ask{display:grid;grid-template-columns:14rem 1fr;gap:.4rem .75rem;align-items:start;background:#fff;border:1px solid #d8dce3;border-radius:6px;padding:1rem 1.25rem;margin-bottom:1.5rem}\
.ask .actions{grid-column:2}.ask input,.ask select{max-width:24rem}\
.verdict{background:#e8f0fe;border-radius:6px;padding:.5rem 1rem;margin-bottom:1rem}\
.state{margin-left:.5rem;font-size:.8rem;padding:.1rem .4rem;border-radius:3px;background:#eef0f4}\
.state-active .state{background:#1e7b34;color:#fff}.state-pending .state{background:#f9ab00}\
.inline{display:inline}.history{margin:.25rem 0;padding-left:1.25rem}time{color:#5b6475}\
.button{display:inline-block;border:1px solid #1d2330;border-radius:4px;padding:.35rem .9rem;background:#1d2330;color:#fff;text-decoration:none}\
.token{white-space:pre-wrap;word-break:break-all;background:#1d2330;color:#e6f4ea;padding:1rem;border-radius:6px}\
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_that_could_break_out() {
        assert_eq!(
            escape("<script>alert(\"x\" & 'y')</script>"),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
    }
}
