//! The web page's handlers: sign in, list, decide, sign out.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::html::{escape, page, STYLESHEET};
use super::session::SameSite;
use super::{csrf, session};
use crate::error::Error;
use crate::identity::Subject;
use crate::requests::duration::{format_duration, format_remaining};
use crate::requests::{AccessRequest, Channel};
use crate::service::reviews::{review, Verdict};
use crate::state::AppState;

/// No script, no inline style, no framing, forms only to ourselves.
const CSP: &str = "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub(crate) fn html(status: StatusCode, body: String, set_cookies: Vec<String>) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    for cookie in set_cookies {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

pub(crate) fn csrf_cookie(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(String, Vec<String>), Error> {
    let (token, fresh) = csrf::token(headers)?;
    let cookies = if fresh {
        vec![session::set_cookie(
            state,
            csrf::COOKIE,
            &token,
            session::MAX_AGE_SECONDS,
            SameSite::Strict,
        )]
    } else {
        Vec::new()
    };
    Ok((token, cookies))
}

pub(crate) fn error_page(
    state: &AppState,
    headers: &HeaderMap,
    error: &Error,
    subject: Option<&str>,
) -> Response {
    let (token, cookies) = csrf_cookie(state, headers).unwrap_or_default();
    let body = format!(
        "<p class=\"notice error\" role=\"alert\">{}</p><p><a href=\"/review\">Back to the review queue</a></p>",
        escape(&error.public_message())
    );
    html(
        error.status_code(),
        page("Error", subject, &token, &body),
        cookies,
    )
}

/// `GET /`: to the review queue.
pub async fn home() -> Redirect {
    Redirect::to("/review")
}

/// `GET /static/review.css`.
pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
}

/// A notice shown after an action (post/redirect/get).
#[derive(Deserialize, Default)]
pub struct Notice {
    pub(crate) message: Option<String>,
}

/// `GET /login`.
pub async fn login_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    login_page(&state, &headers, StatusCode::OK, None)
}

/// The sign-in page, with `problem` shown when a sign-in failed.
pub(crate) fn login_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    problem: Option<&str>,
) -> Response {
    let (token, cookies) = match csrf_cookie(state, headers) {
        Ok(found) => found,
        Err(error) => return error.into_response(),
    };
    let sso = state.auth.code_flow().is_some();
    html(
        status,
        page("Sign in", None, &token, &login_body(&token, problem, sso)),
        cookies,
    )
}

fn login_body(csrf: &str, problem: Option<&str>, sso: bool) -> String {
    let problem = problem
        .map(|text| {
            format!(
                "<p class=\"notice error\" role=\"alert\">{}</p>",
                escape(text)
            )
        })
        .unwrap_or_default();
    // A plain link: the sign-in at the provider starts with a top-level GET navigation.
    let sso = if sso {
        "<p><a class=\"button sso\" id=\"sso\" href=\"/login/oidc\">Sign in with your identity provider</a></p>\
         <p>or paste a credential:</p>"
    } else {
        ""
    };
    format!(
        "<h2>Sign in to review access requests</h2>{problem}{sso}\
         <form method=\"post\" action=\"/login\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label for=\"credential\">API token or OIDC ID token</label><br>\
         <input id=\"credential\" name=\"credential\" type=\"password\" autocomplete=\"off\" size=\"60\" required>\
         <button type=\"submit\">Sign in</button></form>",
        escape(csrf)
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    csrf: String,
    credential: String,
}

/// `POST /login`.
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if let Err(error) = csrf::check(&headers, &form.csrf) {
        return error_page(&state, &headers, &error, None);
    }
    let credential = form.credential.trim();
    let cookie_safe = !credential.is_empty()
        && credential
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    let (status, problem) = if cookie_safe {
        match session::sign_in_with_credential(&state, credential).await {
            Ok((subject, session_id)) => {
                tracing::info!(subject = %subject.id, "signed in to the review page");
                let cookie = session::set_cookie(
                    &state,
                    session::COOKIE,
                    &session_id,
                    session::MAX_AGE_SECONDS,
                    SameSite::Lax,
                );
                let mut response = Redirect::to("/review").into_response();
                if let Ok(value) = HeaderValue::from_str(&cookie) {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
                return response;
            }
            // 401 for a credential that does not verify, 403 for the guard's.
            Err(error) => (error.status_code(), error.public_message()),
        }
    } else {
        (
            StatusCode::UNAUTHORIZED,
            "that is not a token: paste an API token (jgt_…) or an OIDC ID token".to_owned(),
        )
    };
    login_page(&state, &headers, status, Some(&problem))
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

/// `POST /logout`.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Err(error) = csrf::check(&headers, &form.csrf) {
        return error_page(&state, &headers, &error, None);
    }
    if let Err(error) = session::close(&state, &headers).await {
        return error_page(&state, &headers, &error, None);
    }
    let mut response = Redirect::to("/login").into_response();
    if let Ok(value) = HeaderValue::from_str(&session::set_cookie(
        &state,
        session::COOKIE,
        "",
        0,
        SameSite::Lax,
    )) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `GET /review`: the queue.
pub async fn review_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(notice): Query<Notice>,
) -> Response {
    let Some(subject) = session::subject(&state, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    let (token, cookies) = match csrf_cookie(&state, &headers) {
        Ok(found) => found,
        Err(error) => return error.into_response(),
    };
    if let Err(error) = crate::service::expiry::expire_due(&state).await {
        return error_page(&state, &headers, &error, Some(&subject.id));
    }
    let pending = match crate::service::visibility::reviewable(&state, &subject, 100).await {
        Ok(pending) => pending,
        Err(error) => return error_page(&state, &headers, &error, Some(&subject.id)),
    };
    let mut body = String::from(
        "<nav><a href=\"/requests\">My requests</a> · <a href=\"/review\" aria-current=\"page\">Review queue</a></nav>",
    );
    if let Some(message) = notice.message.filter(|m| !m.is_empty()) {
        body.push_str(&format!(
            "<p class=\"notice\" role=\"status\">{}</p>",
            escape(&message)
        ));
    }
    body.push_str(&format!(
        "<h2>Waiting for your review ({})</h2>",
        pending.len()
    ));
    if pending.is_empty() {
        body.push_str("<p id=\"empty\">Nothing is waiting for your review.</p>");
    }
    let now = state.now();
    for request in &pending {
        body.push_str(&card(request, &token, now));
    }
    html(
        StatusCode::OK,
        page("Review", Some(&subject.id), &token, &body),
        cookies,
    )
}

fn card(request: &AccessRequest, csrf: &str, now: i64) -> String {
    let id = escape(&request.id);
    let scopes: String = request
        .scopes
        .iter()
        .map(|scope| format!("<code>{}</code> ", escape(scope)))
        .collect();
    let break_glass = if request.break_glass {
        " <span class=\"break-glass\">BREAK-GLASS</span>"
    } else {
        ""
    };
    let explanation: String = request
        .assessment
        .scopes
        .iter()
        .map(|scope| {
            format!(
                "<li><code>{}</code>: allowed by {}; needs {} approval{} from {}</li>",
                escape(&scope.scope),
                escape(&scope.permitted_by.join(", ")),
                scope.approvals,
                if scope.approvals == 1 { "" } else { "s" },
                escape(&if scope.reviewers.is_empty() {
                    "a reviewer".to_owned()
                } else {
                    scope.reviewers.join(", ")
                })
            )
        })
        .collect();
    let approvals: Vec<String> = request.approvers();
    let ticket = request
        .ticket
        .as_deref()
        .map(|t| format!("<dt>Ticket</dt><dd>{}</dd>", escape(t)))
        .unwrap_or_default();
    format!(
        "<section class=\"request\" id=\"request-{id}\"><h2>{requester} asks for {scopes}{break_glass}</h2><dl>\
         <dt>Request</dt><dd><code>{id}</code></dd>\
         <dt>Requester</dt><dd class=\"requester\">{requester}</dd>\
         <dt>Scopes</dt><dd class=\"scopes\">{scopes}</dd>\
         <dt>Duration</dt><dd class=\"duration\">{duration}</dd>\
         <dt>Budget</dt><dd class=\"budget\">{budget}</dd>\
         <dt>Urgency</dt><dd>{urgency}</dd>\
         <dt>Reason</dt><dd class=\"reason\">{reason}</dd>{ticket}\
         <dt>Policy</dt><dd class=\"policy\"><ul>{explanation}</ul></dd>\
         <dt>Approvals</dt><dd>{have} of {need}{by}</dd>\
         <dt>Expires</dt><dd>in {expires} if nobody decides</dd></dl>\
         <form method=\"post\" action=\"/review/{id}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"comment-{id}\">Comment (required to deny)</label>\
         <textarea id=\"comment-{id}\" name=\"comment\"></textarea>\
         <div class=\"actions\"><button class=\"approve\" type=\"submit\" name=\"verdict\" value=\"approve\">Approve</button>\
         <button class=\"deny\" type=\"submit\" name=\"verdict\" value=\"deny\">Deny</button></div></form></section>",
        requester = escape(&request.requester),
        duration = escape(&format_duration(request.duration_seconds)),
        budget = escape(&budget(request.limits.as_ref())),
        urgency = escape(&request.urgency),
        reason = escape(&request.reason),
        have = approvals.len(),
        need = request.approvals_required,
        by = if approvals.is_empty() { String::new() } else { format!(" (by {})", escape(&approvals.join(", "))) },
        expires = escape(&format_remaining(request.pending_until - now)),
        csrf = escape(csrf),
    )
}

/// The grant's limits in words: what the reviewer approves along with the scopes.
pub(crate) fn budget(limits: Option<&jitgate_grant::Limits>) -> String {
    let parts: Vec<String> = [
        limits
            .and_then(|l| l.requests)
            .map(|n| format!("{n} requests")),
        limits
            .and_then(|l| l.tokens)
            .map(|n| format!("{n} model tokens")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        "no limit on requests or tokens".to_owned()
    } else {
        format!("at most {}", parts.join(" and "))
    }
}

#[derive(Deserialize)]
pub struct DecisionForm {
    csrf: String,
    verdict: String,
    #[serde(default)]
    comment: String,
}

/// `POST /review/{id}`.
pub async fn decide(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Response {
    let subject: Option<Subject> = session::subject(&state, &headers).await;
    let Some(subject) = subject else {
        return Redirect::to("/login").into_response();
    };
    if let Err(error) = csrf::check(&headers, &form.csrf) {
        return error_page(&state, &headers, &error, Some(&subject.id));
    }
    let verdict = match form.verdict.as_str() {
        "approve" => Verdict::Approve,
        "deny" => Verdict::Deny,
        _ => {
            let error = Error::BadRequest("verdict: approve or deny".into());
            return error_page(&state, &headers, &error, Some(&subject.id));
        }
    };
    match review(&state, &subject, &id, verdict, &form.comment, Channel::Web).await {
        Ok(request) => {
            let message = match (verdict, request.state) {
                (Verdict::Deny, _) => format!("Denied {}.", request.id),
                (Verdict::Approve, crate::requests::State::Active) => {
                    format!(
                        "Approved {}: access granted to {}.",
                        request.id, request.requester
                    )
                }
                (Verdict::Approve, _) => format!(
                    "Approved {}: {} more approval{} needed.",
                    request.id,
                    request.approvals_missing(),
                    if request.approvals_missing() == 1 {
                        ""
                    } else {
                        "s"
                    }
                ),
            };
            let query = serde_urlencoded::to_string([("message", message)]).unwrap_or_default();
            Redirect::to(&format!("/review?{query}")).into_response()
        }
        Err(error) => error_page(&state, &headers, &error, Some(&subject.id)),
    }
}
