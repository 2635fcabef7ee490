//! The requester's pages: ask for access (checking with the policy first, if they like),
//! follow their requests with their whole history, get a token for an active grant (shown
//! once, ready to paste into a shell), cancel a pending request or revoke a grant.
//!
//! Every action goes through the same services as the JSON API, so the policy, validation,
//! rate limits, notifications and audit events are the same whichever way people come.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::handlers::{csrf_cookie, error_page, html, Notice};
use super::html::{escape, page};
use super::request_form::RequestForm;
use super::{csrf, session};
use crate::error::Error;
use crate::identity::Subject;
use crate::requests::duration::{format_duration, format_remaining};
use crate::requests::{AccessRequest, State as RequestState};
use crate::service::lifecycle::{cancel, revoke};
use crate::service::next_step::{next_step, rfc3339};
use crate::service::submit::{preview, submit, Preview};
use crate::service::tokens::mint_token;
use crate::state::AppState;
use crate::store::requests::{self, ListFilter};

/// How many of their requests a requester sees.
const SHOWN: i64 = 50;

/// `GET /requests`.
pub async fn my_requests(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(notice): Query<Notice>,
) -> Response {
    let Some(subject) = session::subject(&state, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    let message = notice.message.filter(|m| !m.is_empty());
    render(
        &state,
        &headers,
        &subject,
        StatusCode::OK,
        &RequestForm::default(),
        message.map(Banner::Info),
        None,
    )
    .await
}

/// What the page says above the form.
enum Banner {
    /// A plain notice (after an action).
    Info(String),
    /// Something was refused.
    Problem(String),
}

async fn render(
    state: &AppState,
    headers: &HeaderMap,
    subject: &Subject,
    status: StatusCode,
    form: &RequestForm,
    banner: Option<Banner>,
    checked: Option<&Preview>,
) -> Response {
    let (token, cookies) = match csrf_cookie(state, headers) {
        Ok(found) => found,
        Err(error) => return error.into_response(),
    };
    if let Err(error) = crate::service::expiry::expire_due(state).await {
        return error_page(state, headers, &error, Some(&subject.id));
    }
    let filter = ListFilter {
        requester: Some(subject.id.clone()),
        states: Vec::new(),
        limit: SHOWN,
    };
    let mine = match requests::list(&state.store, &filter).await {
        Ok(mine) => mine,
        Err(error) => return error_page(state, headers, &error, Some(&subject.id)),
    };
    let mut body = String::from(
        "<nav><a href=\"/requests\" aria-current=\"page\">My requests</a> · <a href=\"/review\">Review queue</a></nav>",
    );
    match banner {
        Some(Banner::Info(text)) => body.push_str(&format!(
            "<p class=\"notice\" role=\"status\">{}</p>",
            escape(&text)
        )),
        Some(Banner::Problem(text)) => body.push_str(&format!(
            "<p class=\"notice error\" role=\"alert\">{}</p>",
            escape(&text)
        )),
        None => {}
    }
    body.push_str("<h2>Ask for access</h2>");
    if let Some(checked) = checked {
        body.push_str(&verdict(checked));
    }
    body.push_str(&form.render(&token));
    body.push_str(&format!("<h2>Your requests ({})</h2>", mine.len()));
    if mine.is_empty() {
        body.push_str("<p id=\"none\">You have not asked for anything yet.</p>");
    }
    let now = state.now();
    for request in &mine {
        body.push_str(&card(request, &token, now));
    }
    html(
        status,
        page("My requests", Some(&subject.id), &token, &body),
        cookies,
    )
}

/// The policy's answer to "check": what would happen, per scope, and the budget.
fn verdict(checked: &Preview) -> String {
    let request = &checked.request;
    let scopes: String = request
        .assessment
        .scopes
        .iter()
        .map(|scope| {
            format!(
                "<li><code>{}</code>: allowed by {}{}</li>",
                escape(&scope.scope),
                escape(&scope.permitted_by.join(", ")),
                if scope.approvals == 0 {
                    ", approved at once".to_owned()
                } else {
                    format!(
                        "; needs {} approval{} from {}",
                        scope.approvals,
                        if scope.approvals == 1 { "" } else { "s" },
                        escape(&scope.reviewers.join(" or "))
                    )
                }
            )
        })
        .collect();
    format!(
        "<section class=\"verdict\" id=\"verdict\" role=\"status\"><p><strong>The policy says: {}.</strong> \
         Nothing was submitted yet.</p><ul>{scopes}</ul><p>Budget: {}. Window: {}.</p></section>",
        escape(&checked.verdict()),
        escape(&super::handlers::budget(request.limits.as_ref())),
        escape(&format_duration(request.duration_seconds)),
    )
}

fn card(request: &AccessRequest, csrf: &str, now: i64) -> String {
    let id = escape(&request.id);
    let scopes: String = request
        .scopes
        .iter()
        .map(|scope| format!("<code>{}</code> ", escape(scope)))
        .collect();
    let left = match (request.state, request.window_end) {
        (RequestState::Active, Some(end)) => format!(
            "<dt>Time left</dt><dd class=\"time-left\">{} (until {})</dd>",
            escape(&format_remaining(end - now)),
            escape(&rfc3339(end))
        ),
        _ => String::new(),
    };
    let history: String = request
        .history
        .iter()
        .map(|step| {
            format!(
                "<li><time>{}</time> {} by {}: {}</li>",
                escape(&rfc3339(step.at)),
                escape(step.to.as_str()),
                escape(&step.actor),
                escape(&step.reason)
            )
        })
        .collect();
    let action = |path: &str, label: &str, class: &str| {
        format!(
            "<form method=\"post\" action=\"/requests/{id}/{path}\" class=\"inline\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button class=\"{class}\" type=\"submit\">{label}</button></form>",
            escape(csrf)
        )
    };
    let actions = match request.state {
        RequestState::Pending => action("cancel", "Cancel", "deny"),
        RequestState::Active => format!(
            "{}{}",
            action("token", "Get a token", "approve"),
            action("revoke", "Revoke", "deny")
        ),
        _ => String::new(),
    };
    format!(
        "<section class=\"request mine state-{state}\" id=\"request-{id}\"><h2>{scopes}<span class=\"state\">{state}</span></h2><dl>\
         <dt>Request</dt><dd><code>{id}</code></dd>\
         <dt>Duration</dt><dd>{duration}</dd>{left}\
         <dt>Budget</dt><dd>{budget}</dd>\
         <dt>Reason</dt><dd>{reason}</dd>\
         <dt>Next</dt><dd class=\"next\">{next}</dd></dl>\
         <details><summary>History ({steps})</summary><ol class=\"history\">{history}</ol></details>\
         <div class=\"actions\">{actions}</div></section>",
        state = escape(request.state.as_str()),
        duration = escape(&format_duration(request.duration_seconds)),
        budget = escape(&super::handlers::budget(request.limits.as_ref())),
        reason = escape(&request.reason),
        next = escape(&next_step(request, now)),
        steps = request.history.len(),
    )
}

/// The subject behind a form post: signed in (else to the login page) and carrying this
/// browser's CSRF token (else an error page).
async fn signed_in_post(
    state: &AppState,
    headers: &HeaderMap,
    csrf_field: &str,
) -> Result<Subject, Response> {
    let Some(subject) = session::subject(state, headers).await else {
        return Err(Redirect::to("/login").into_response());
    };
    if let Err(error) = csrf::check(headers, csrf_field) {
        return Err(error_page(state, headers, &error, Some(&subject.id)));
    }
    Ok(subject)
}

/// `POST /requests`: check with the policy, or submit.
pub async fn ask(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<RequestForm>,
) -> Response {
    let subject = match signed_in_post(&state, &headers, &form.csrf).await {
        Ok(subject) => subject,
        Err(response) => return response,
    };
    let body = match form.body() {
        Ok(body) => body,
        Err(error) => return refused(&state, &headers, &subject, &form, &error).await,
    };
    match form.action.as_str() {
        "check" => match preview(&state, &subject, &body).await {
            Ok(checked) => {
                render(
                    &state,
                    &headers,
                    &subject,
                    StatusCode::OK,
                    &form,
                    None,
                    Some(&checked),
                )
                .await
            }
            Err(error) => refused(&state, &headers, &subject, &form, &error).await,
        },
        "submit" => match submit(&state, &subject, &body).await {
            Ok(request) => {
                let message = match request.state {
                    RequestState::Active => format!(
                        "Granted {}: approved at once by policy. Get a token below.",
                        request.id
                    ),
                    _ => format!(
                        "Asked: {} — {}.",
                        request.id,
                        next_step(&request, state.now())
                    ),
                };
                after(&message)
            }
            Err(error) => refused(&state, &headers, &subject, &form, &error).await,
        },
        other => {
            let error = Error::BadRequest(format!("action: {other:?} is not check or submit"));
            refused(&state, &headers, &subject, &form, &error).await
        }
    }
}

async fn refused(
    state: &AppState,
    headers: &HeaderMap,
    subject: &Subject,
    form: &RequestForm,
    error: &Error,
) -> Response {
    render(
        state,
        headers,
        subject,
        error.status_code(),
        form,
        Some(Banner::Problem(error.public_message())),
        None,
    )
    .await
}

/// Back to the list with a notice (post/redirect/get: a reload does not submit again).
fn after(message: &str) -> Response {
    let query = serde_urlencoded::to_string([("message", message)]).unwrap_or_default();
    Redirect::to(&format!("/requests?{query}")).into_response()
}

/// A form carrying only the CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// `POST /requests/{id}/cancel` and `/revoke`.
pub async fn end(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, what)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let subject = match signed_in_post(&state, &headers, &form.csrf).await {
        Ok(subject) => subject,
        Err(response) => return response,
    };
    let ended = match what.as_str() {
        "cancel" => cancel(&state, &subject, &id, "").await,
        "revoke" => revoke(&state, &subject, &id, "").await,
        _ => Err(Error::NotFound(format!("action {what}"))),
    };
    match ended {
        Ok(request) => after(&format!("{} is {} now.", request.id, request.state)),
        Err(error) => error_page(&state, &headers, &error, Some(&subject.id)),
    }
}

/// `POST /requests/{id}/token`: a token, shown once.
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let subject = match signed_in_post(&state, &headers, &form.csrf).await {
        Ok(subject) => subject,
        Err(response) => return response,
    };
    let issued = match mint_token(&state, &subject, &id).await {
        Ok(issued) => issued,
        Err(error) => return error_page(&state, &headers, &error, Some(&subject.id)),
    };
    let (csrf_token, cookies) = csrf_cookie(&state, &headers).unwrap_or_default();
    let base_url = state
        .settings
        .gateway_url
        .as_deref()
        .map(|url| format!("\nexport OPENAI_BASE_URL={url}"))
        .unwrap_or_default();
    let body = format!(
        "<nav><a href=\"/requests\">My requests</a> · <a href=\"/review\">Review queue</a></nav>\
         <h2>Your token for {scope}</h2>\
         <p class=\"notice\" role=\"status\">Shown once: copy it now. It expires at {expires} \
         (in {left}); get another from this page while the grant is active.</p>\
         <pre id=\"token\" class=\"token\">export OPENAI_API_KEY={token}{base_url}</pre>\
         <p>Paste these lines into your shell; the OpenAI SDKs read both variables.</p>",
        scope = escape(&issued.scope),
        expires = escape(&rfc3339(issued.expires_at)),
        left = escape(&format_remaining(issued.expires_in)),
        token = escape(&issued.token),
        base_url = escape(&base_url),
    );
    html(
        StatusCode::OK,
        page("Your token", Some(&subject.id), &csrf_token, &body),
        cookies,
    )
}
