//! The coordinator's HTTP port: Prometheus text at `/metrics`, and the web dashboard at `/`
//! with its JSON API under `/api/`.
//!
//! The API is a thin adapter over the gRPC services: each endpoint calls the same handler a
//! gRPC client reaches (same validation, same read-committed answers through the driver,
//! same metrics), and answers its message as JSON; live views are `WatchEvents` as
//! server-sent events. With `--tokens`, every API call needs `Authorization: Bearer TOKEN`
//! with the role the equivalent gRPC method needs (the one table in `weft_net::auth`);
//! `/metrics` and the page itself stay open (the page holds no data). The assets are
//! embedded in the binary: no build step, no CDN.
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;
use tonic::Request;
use weft_net::auth::Authenticator;
use weft_proto::pb;
use weft_proto::pb::monitor_service_server::MonitorService;
use weft_proto::pb::workflow_service_server::WorkflowService;

use crate::services::Services;

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

#[derive(Clone)]
struct Web {
    services: Services,
    /// `None`: no `--tokens`, nothing is checked.
    auth: Option<Arc<Authenticator>>,
    metrics: PrometheusHandle,
}

/// Serves `/metrics`, the dashboard and its API on `listener` until `shutdown`.
pub async fn serve(
    metrics: PrometheusHandle,
    services: Services,
    auth: Option<Arc<Authenticator>>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let web = Web { services, auth, metrics };
    let app = axum::Router::new()
        .route("/metrics", get(metrics_text))
        .route("/", get(|| asset("text/html; charset=utf-8", INDEX_HTML)))
        .route("/assets/app.js", get(|| asset("text/javascript; charset=utf-8", APP_JS)))
        .route("/assets/app.css", get(|| asset("text/css; charset=utf-8", APP_CSS)))
        .route("/api/session", get(session))
        .route("/api/cluster", get(cluster))
        .route("/api/runs", get(runs))
        .route("/api/runs/{id}", get(run))
        .route("/api/runs/{id}/history", get(history))
        .route("/api/runs/{id}/cancel", post(cancel))
        .route("/api/workers/{id}/drain", post(drain))
        .route("/api/events", get(events))
        .with_state(web);
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

async fn metrics_text(State(web): State<Web>) -> String {
    let mut text = web.metrics.render();
    text.push_str(&crate::metrics::cluster_series());
    text
}

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

/// An error as the API answers it: the gRPC code's HTTP status and `{code, message}`.
struct ApiError(tonic::Status);

impl From<tonic::Status> for ApiError {
    fn from(status: tonic::Status) -> Self {
        ApiError(status)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        use tonic::Code;
        let http = match self.0.code() {
            Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::AlreadyExists | Code::FailedPrecondition | Code::Aborted => StatusCode::CONFLICT,
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::PermissionDenied => StatusCode::FORBIDDEN,
            Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let body = serde_json::json!({ "code": format!("{:?}", self.0.code()), "message": self.0.message() });
        (http, axum::Json(body)).into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

fn json<T: serde::Serialize>(value: &T) -> Response {
    axum::Json(value).into_response()
}

/// The token's roles allow `method` (a gRPC path), or no tokens are configured.
fn guard(web: &Web, headers: &HeaderMap, method: &str) -> Result<Option<weft_net::auth::Principal>, ApiError> {
    let Some(auth) = &web.auth else { return Ok(None) };
    let header = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
    auth.check(method, header).map_err(|refusal| {
        crate::metrics::auth_failure(refusal.failure.as_str());
        ApiError(refusal.status)
    })
}

/// What the page may show: whether tokens are on, and the presented token's name and roles.
async fn session(State(web): State<Web>, headers: HeaderMap) -> ApiResult {
    let principal = guard(&web, &headers, "/weft.v1.MonitorService/GetClusterStatus")?;
    let roles: Vec<&str> = match &principal {
        Some(p) => weft_net::auth::Role::ALL.into_iter().filter(|r| p.roles.grants(*r)).map(|r| r.as_str()).collect(),
        None => vec!["read", "submit", "admin"],
    };
    let leading = web.services.leading().is_ok();
    Ok(json(&serde_json::json!({
        "auth": web.auth.is_some(),
        "name": principal.as_ref().map(|p| p.name.to_string()),
        "roles": roles,
        "leading": leading,
    })))
}

async fn cluster(State(web): State<Web>, headers: HeaderMap) -> ApiResult {
    guard(&web, &headers, "/weft.v1.MonitorService/GetClusterStatus")?;
    let status = web.services.get_cluster_status(Request::new(pb::GetClusterStatusRequest {})).await?;
    Ok(json(status.get_ref()))
}

#[derive(serde::Deserialize)]
struct RunsQuery {
    /// running, succeeded, failed or cancelled; empty: any.
    #[serde(default)]
    status: String,
    #[serde(default)]
    process: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    page_token: String,
    #[serde(default)]
    page_size: u32,
}

fn run_status(text: &str) -> Result<i32, ApiError> {
    Ok(match text {
        "" => pb::RunStatus::Unspecified,
        "running" => pb::RunStatus::Running,
        "succeeded" => pb::RunStatus::Succeeded,
        "failed" => pb::RunStatus::Failed,
        "cancelled" => pb::RunStatus::Cancelled,
        other => {
            return Err(ApiError(tonic::Status::invalid_argument(format!(
                "status: unknown `{}`; use running, succeeded, failed or cancelled",
                weft_model::validate::cut(other, 40)
            ))));
        }
    } as i32)
}

async fn runs(State(web): State<Web>, headers: HeaderMap, Query(q): Query<RunsQuery>) -> ApiResult {
    guard(&web, &headers, "/weft.v1.WorkflowService/ListRuns")?;
    let request = pb::ListRunsRequest {
        status: run_status(&q.status)?,
        process_name: q.process,
        page_size: q.page_size,
        page_token: q.page_token,
        idempotency_key: q.key,
    };
    let page = web.services.list_runs(Request::new(request)).await?;
    Ok(json(page.get_ref()))
}

async fn run(State(web): State<Web>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult {
    guard(&web, &headers, "/weft.v1.WorkflowService/GetRun")?;
    let request = pb::GetRunRequest { run_id: id, task_page_size: 10_000, task_page_token: String::new() };
    let run = web.services.get_run(Request::new(request)).await?;
    Ok(json(run.get_ref()))
}

async fn history(State(web): State<Web>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult {
    guard(&web, &headers, "/weft.v1.WorkflowService/GetRunHistory")?;
    let request = pb::GetRunHistoryRequest { run_id: id, from_seq: 0, page_size: 10_000 };
    let page = web.services.get_run_history(Request::new(request)).await?;
    Ok(json(page.get_ref()))
}

async fn cancel(State(web): State<Web>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult {
    let who = guard(&web, &headers, "/weft.v1.WorkflowService/CancelRun")?;
    let by = who.map_or_else(|| "the dashboard".to_string(), |p| format!("the dashboard ({})", p.name));
    let request = pb::CancelRunRequest { run_id: id, reason: format!("cancelled from {by}") };
    let run = web.services.cancel_run(Request::new(request)).await?;
    Ok(json(run.get_ref()))
}

async fn drain(State(web): State<Web>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult {
    guard(&web, &headers, "/weft.v1.MonitorService/DrainWorker")?;
    web.services.drain_worker(Request::new(pb::DrainWorkerRequest { worker_id: id })).await?;
    Ok(json(&serde_json::json!({ "drained": true })))
}

#[derive(serde::Deserialize)]
struct EventsQuery {
    #[serde(default)]
    run: String,
}

/// `WatchEvents` (every run, or one) as server-sent events, one JSON `ClusterEvent` each.
async fn events(State(web): State<Web>, headers: HeaderMap, Query(q): Query<EventsQuery>) -> ApiResult {
    guard(&web, &headers, "/weft.v1.MonitorService/WatchEvents")?;
    let stream = web.services.watch_events(Request::new(pb::WatchEventsRequest { run_id: q.run })).await?.into_inner();
    let events = stream.map(|event| match event {
        Ok(event) => Event::default().json_data(&event).map_err(|e| e.to_string()),
        // A watcher too far behind is dropped; the page reconnects and re-reads.
        Err(status) => Err(status.message().to_string()),
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_by_name_and_unknown_ones_refused_with_the_field() {
        assert_eq!(run_status("").ok(), Some(0));
        assert_eq!(run_status("failed").ok(), Some(pb::RunStatus::Failed as i32));
        let refused = run_status("exploded").err().unwrap();
        assert_eq!(refused.0.code(), tonic::Code::InvalidArgument);
        assert!(refused.0.message().starts_with("status: unknown `exploded`"));
        let long = run_status(&"x".repeat(10_000)).err().unwrap();
        assert!(long.0.message().len() < 200, "what the client sent is cut");
    }

    #[test]
    fn grpc_codes_become_http_statuses() {
        for (code, http) in [
            (tonic::Code::NotFound, 404),
            (tonic::Code::InvalidArgument, 400),
            (tonic::Code::Unauthenticated, 401),
            (tonic::Code::PermissionDenied, 403),
            (tonic::Code::Unavailable, 503),
            (tonic::Code::Internal, 500),
        ] {
            assert_eq!(ApiError(tonic::Status::new(code, "m")).into_response().status().as_u16(), http, "{code:?}");
        }
    }
}
