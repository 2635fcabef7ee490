//! A stub HTTP server on loopback playing the OpenAI-compatible model server (see [`openai`])
//! and, for the filter's out-of-band calls, the issuer's feeds and the collector's log sink
//! (see [`feed`]). It records every request before answering it, so tests can assert exactly
//! what arrived — or that nothing did.
//!
//! It runs on its own thread with its own single-threaded tokio runtime, so it serves while a
//! test blocks; its controls are plain methods over shared state behind mutexes. Start one per
//! role to keep their recordings apart.

pub mod feed;
pub mod openai;
pub mod record;

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, watch};

use self::feed::{FeedState, JWKS_PATH, LOGS_PATH, REVOCATIONS_PATH};
use self::openai::ModelRoute;
use self::record::RecordedRequest;
use crate::error::{Error, Result};
use crate::wait::wait_until;

type StubBody = UnsyncBoxBody<Bytes, Infallible>;

/// A running stub server. Stops on drop.
#[derive(Debug)]
pub struct StubServer {
    addr: SocketAddr,
    state: Arc<StubState>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// State shared between the server thread and the test.
#[derive(Debug)]
pub(crate) struct StubState {
    recorded: Mutex<Vec<RecordedRequest>>,
    /// TCP connections accepted, whether or not a request ever came on them.
    connections: AtomicUsize,
    pub(crate) feed: Mutex<FeedState>,
    /// While `true`, streamed answers pause after their first event.
    streams_held: watch::Sender<bool>,
}

impl StubServer {
    /// Binds a free loopback port and starts serving.
    pub fn start() -> Result<Self> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
    }

    /// Binds `addr` (a fixed port for `cargo xtask up`, or port 0) and starts serving.
    pub fn start_on(addr: SocketAddr) -> Result<Self> {
        let listener = std::net::TcpListener::bind(addr)
            .map_err(Error::io(format!("bind the stub server to {addr}")))?;
        listener
            .set_nonblocking(true)
            .map_err(Error::io("make the stub listener non-blocking"))?;
        let addr = listener
            .local_addr()
            .map_err(Error::io("read the stub's address"))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::io("build the stub's runtime"))?;
        let state = Arc::new(StubState {
            recorded: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            feed: Mutex::new(FeedState::default()),
            streams_held: watch::Sender::new(false),
        });
        let (shutdown, shutdown_signal) = oneshot::channel();
        let served = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name(format!("stub-{addr}"))
            .spawn(move || runtime.block_on(serve(listener, served, shutdown_signal)))
            .map_err(Error::io("spawn the stub's thread"))?;
        Ok(Self {
            addr,
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The address it serves on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn state(&self) -> &StubState {
        &self.state
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.recorded).clone()
    }

    /// The requests received for one path (query ignored).
    pub fn requests_to(&self, path: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|request| request.path() == path)
            .collect()
    }

    /// TCP connections accepted so far: a request that never reached the stub opened none.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Forgets the requests recorded so far.
    pub fn clear_requests(&self) {
        lock(&self.state.recorded).clear();
    }

    /// Waits until at least `count` requests to `path` have arrived, and returns them all.
    pub fn wait_for_requests(
        &self,
        path: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<RecordedRequest>> {
        wait_until(&format!("{count} requests to {path}"), timeout, || {
            let requests = self.requests_to(path);
            Ok((requests.len() >= count).then_some(requests))
        })
    }

    /// Streamed answers pause after their first event until [`Self::release_streams`]: lets a
    /// test prove an event reaches the client before the stream ends (nothing buffers it).
    pub fn hold_streams(&self) {
        self.state.streams_held.send_replace(true);
    }

    /// Lets held and future streams run to the end.
    pub fn release_streams(&self) {
        self.state.streams_held.send_replace(false);
    }
}

impl Drop for StubServer {
    fn drop(&mut self) {
        self.release_streams();
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Locks a mutex, ignoring poisoning: a panicking test must not hide the stub's state.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn serve(
    listener: std::net::TcpListener,
    state: Arc<StubState>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("stub server: cannot listen: {error}");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else { continue };
                state.connections.fetch_add(1, Ordering::SeqCst);
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    let service = service_fn(move |request| handle(Arc::clone(&state), request));
                    // A client hanging up mid-request is not the stub's problem.
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

async fn handle(
    state: Arc<StubState>,
    request: Request<Incoming>,
) -> Result<Response<StubBody>, Infallible> {
    let (parts, body) = request.into_parts();
    let collected = body.collect().await.map(|collected| collected.to_bytes());
    let body_complete = collected.is_ok();
    let body = collected.unwrap_or_default();
    let recorded = RecordedRequest {
        method: parts.method.to_string(),
        target: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |target| target.to_string()),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect(),
        body: body.to_vec(),
        body_complete,
    };
    lock(&state.recorded).push(recorded.clone());
    let reply = route(&state, &recorded);
    Ok(reply.into_response(&state))
}

fn route(state: &StubState, request: &RecordedRequest) -> Reply {
    let (method, path) = (request.method.as_str(), request.path());
    match (method, path, ModelRoute::from_path(path)) {
        ("POST", _, Some(model_route)) => model_reply(model_route, &request.body),
        ("GET", "/v1/models", _) => Reply::json(200, openai::models()),
        ("GET", JWKS_PATH, _) => lock(&state.feed).jwks(),
        ("GET", REVOCATIONS_PATH, _) => lock(&state.feed).revocations(request),
        ("POST", LOGS_PATH, _) => lock(&state.feed).accept_logs(request),
        _ => Reply::json(200, echo(request)),
    }
}

/// Answers a model route: the body must be a JSON object with a string `model`.
fn model_reply(route: ModelRoute, body: &[u8]) -> Reply {
    let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(body) else {
        return Reply::json(400, openai::error("the body must be a JSON object"));
    };
    let Some(model) = request.get("model").and_then(Value::as_str) else {
        return Reply::json(400, openai::error("you must provide a model parameter"));
    };
    if route.streams() && request.get("stream") == Some(&Value::Bool(true)) {
        Reply::EventStream(route.stream_events(model))
    } else {
        Reply::json(200, route.answer(model))
    }
}

/// The answer for any other request: what arrived.
pub fn echo(request: &RecordedRequest) -> Value {
    json!({
        "method": request.method,
        "target": request.target,
        "body": String::from_utf8_lossy(&request.body),
    })
}

/// An answer, before it becomes an HTTP response.
#[derive(Debug)]
pub(crate) enum Reply {
    /// A JSON body with a status and extra headers.
    Json {
        status: u16,
        body: Value,
        headers: Vec<(&'static str, String)>,
    },
    /// A `text/event-stream` body sent one event at a time.
    EventStream(Vec<String>),
}

impl Reply {
    pub(crate) fn json(status: u16, body: Value) -> Self {
        Reply::Json {
            status,
            body,
            headers: Vec::new(),
        }
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: &str) -> Self {
        if let Reply::Json { headers, .. } = &mut self {
            headers.push((name, value.to_owned()));
        }
        self
    }

    fn into_response(self, state: &StubState) -> Response<StubBody> {
        match self {
            Reply::Json {
                status,
                body,
                headers,
            } => {
                let mut builder = Response::builder()
                    .status(status)
                    .header("content-type", "application/json");
                for (name, value) in headers {
                    builder = builder.header(name, value);
                }
                let body = Full::new(Bytes::from(body.to_string())).boxed_unsync();
                builder.body(body).unwrap_or_else(|_| internal_error())
            }
            Reply::EventStream(events) => {
                let body = stream_events(events, state.streams_held.subscribe());
                Response::builder()
                    .status(200)
                    .header("content-type", "text/event-stream")
                    .header("cache-control", "no-cache")
                    .body(body)
                    .unwrap_or_else(|_| internal_error())
            }
        }
    }
}

/// A body that sends each event as its own frame, pausing after the first while held.
fn stream_events(events: Vec<String>, mut held: watch::Receiver<bool>) -> StubBody {
    let (frames, receiver) = mpsc::channel::<Bytes>(1);
    tokio::spawn(async move {
        for (index, event) in events.into_iter().enumerate() {
            if frames.send(Bytes::from(event)).await.is_err() {
                return;
            }
            if index == 0 {
                // Only errs once the server is gone, which ends the stream anyway.
                let _ = held.wait_for(|held| !*held).await;
            }
            tokio::task::yield_now().await;
        }
    });
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let bytes = receiver.recv().await?;
        Some((Ok::<_, Infallible>(Frame::data(bytes)), receiver))
    });
    StreamBody::new(stream).boxed_unsync()
}

fn internal_error() -> Response<StubBody> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"stub error")).boxed_unsync());
    *response.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
    response
}
