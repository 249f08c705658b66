//! Request metrics (api §5): `ks_network_http_requests_total{method,route,code}`,
//! `ks_network_http_request_duration_seconds{method,route}` and `ks_network_http_requests_in_flight`. Routes are
//! the router's templates (`/kapis/…/ippools/{name}`), never raw paths, and methods outside the standard set count
//! as `OTHER`, so no client can grow the series.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::metrics::duration_histogram;

/// The route label of requests that matched no route.
const UNMATCHED: &str = "unmatched";

/// The labels of a duration series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    /// The route template, or [`UNMATCHED`].
    route: String,
}

/// The labels of a request count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AnswerLabels {
    #[prometheus(flatten)]
    route: RouteLabels,
    code: u16,
}

/// The counters, histograms and gauge of every request served.
pub struct RequestMetrics {
    in_flight: Gauge,
    requests: Family<AnswerLabels, Counter>,
    durations: Family<RouteLabels, Histogram, fn() -> Histogram>,
}

impl Default for RequestMetrics {
    fn default() -> Self {
        Self {
            in_flight: Gauge::default(),
            requests: Family::default(),
            durations: Family::new_with_constructor(duration_histogram),
        }
    }
}

impl RequestMetrics {
    fn observe(&self, method: &'static str, route: &str, code: u16, seconds: f64) {
        let route = RouteLabels {
            method,
            route: route.to_owned(),
        };
        self.durations.get_or_create(&route).observe(seconds);
        self.requests
            .get_or_create(&AnswerLabels { route, code })
            .inc();
    }

    /// Adds the three families to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "ks_network_http_requests_in_flight",
            "Requests being served",
            self.in_flight.clone(),
        );
        registry.register(
            "ks_network_http_requests",
            "Requests served, by method, route template and code",
            self.requests.clone(),
        );
        registry.register(
            "ks_network_http_request_duration_seconds",
            "Time to the response head, by method and route template",
            self.durations.clone(),
        );
    }
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// One request in flight; leaves the gauge when dropped, also when the client goes away mid-request.
struct InFlight(Gauge);

impl InFlight {
    fn enter(gauge: &Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Counts and times every request by its route template.
pub async fn record(
    State(metrics): State<Arc<RequestMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    // MatchedPath holds its template in an Arc: cloning it does not copy the string.
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let method = method_label(request.method());
    let in_flight = InFlight::enter(&metrics.in_flight);
    let started = Instant::now();
    let response = next.run(request).await;
    drop(in_flight);
    let code = response.status().as_u16();
    let route = matched.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
    metrics.observe(method, route, code, started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::encode;

    #[test]
    fn series_are_by_method_template_and_code() {
        let metrics = RequestMetrics::default();
        let route = "/kapis/network.kubesphere.io/v1alpha2/ippools/{name}";
        metrics.observe("GET", route, 200, 0.003);
        metrics.observe("GET", route, 404, 0.2);
        metrics.observe("GET", route, 404, 0.3);
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let text = encode(&registry);
        let series = format!("method=\"GET\",route=\"{route}\"");
        for line in [
            format!("ks_network_http_requests_total{{{series},code=\"200\"}} 1\n"),
            format!("ks_network_http_requests_total{{{series},code=\"404\"}} 2\n"),
            format!("ks_network_http_request_duration_seconds_bucket{{{series},le=\"0.005\"}} 1\n"),
            format!("ks_network_http_request_duration_seconds_count{{{series}}} 3\n"),
            "# TYPE ks_network_http_requests_total counter\n".to_owned(),
            "ks_network_http_requests_in_flight 0\n".to_owned(),
        ] {
            assert!(text.contains(&line), "{line} in {text}");
        }
    }

    #[tokio::test]
    async fn a_request_whose_client_goes_away_leaves_the_gauge() {
        use axum::Router;
        use axum::body::Body;
        use axum::routing::get;
        use tower::ServiceExt;

        let metrics = Arc::new(RequestMetrics::default());
        let router = Router::new()
            .route("/hang", get(std::future::pending::<()>))
            .layer(axum::middleware::from_fn_with_state(
                metrics.clone(),
                record,
            ));
        let request = Request::get("/hang").body(Body::empty()).unwrap();
        let served = tokio::spawn(router.oneshot(request));
        while metrics.in_flight.get() != 1 {
            tokio::task::yield_now().await;
        }
        // What the connection does when its client disconnects: the request's future is dropped.
        served.abort();
        assert!(served.await.unwrap_err().is_cancelled());
        assert_eq!(metrics.in_flight.get(), 0);
    }
}
