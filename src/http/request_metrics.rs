//! Request metrics (api §5): `ks_network_http_requests_total{method,route,code}`,
//! `ks_network_http_request_duration_seconds{method,route}` and `ks_network_http_requests_in_flight`. Routes are
//! the router's templates (`/kapis/…/ippools/{name}`), never raw paths, and methods outside the standard set count
//! as `OTHER`, so no client can grow the series.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use crate::histogram::Histogram;

/// The route label of requests that matched no route.
const UNMATCHED: &str = "unmatched";

/// `(method, route)`.
type Route = (&'static str, String);

/// The counters, histograms and gauge of every request served.
#[derive(Default)]
pub struct RequestMetrics {
    in_flight: AtomicI64,
    /// `(method, route, code)` → requests.
    requests: Mutex<BTreeMap<(&'static str, String, u16), u64>>,
    durations: Mutex<BTreeMap<Route, Histogram>>,
}

impl RequestMetrics {
    fn observe(&self, (method, route): Route, code: u16, seconds: f64) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *requests.entry((method, route.clone(), code)).or_default() += 1;
        drop(requests);
        let mut durations = self.durations.lock().unwrap_or_else(|e| e.into_inner());
        durations
            .entry((method, route))
            .or_default()
            .observe(seconds);
    }

    /// The three families in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP ks_network_http_requests_in_flight Requests being served.\n");
        out.push_str("# TYPE ks_network_http_requests_in_flight gauge\n");
        let _ = writeln!(
            out,
            "ks_network_http_requests_in_flight {}",
            self.in_flight.load(Ordering::Relaxed)
        );
        out.push_str("# HELP ks_network_http_requests_total Requests served, by method, route template and code.\n");
        out.push_str("# TYPE ks_network_http_requests_total counter\n");
        let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        for ((method, route, code), count) in requests.iter() {
            let _ = writeln!(
                out,
                "ks_network_http_requests_total{{method=\"{method}\",route=\"{}\",code=\"{code}\"}} {count}",
                escape(route)
            );
        }
        drop(requests);
        out.push_str("# HELP ks_network_http_request_duration_seconds Time to the response head, by method and route template.\n");
        out.push_str("# TYPE ks_network_http_request_duration_seconds histogram\n");
        let durations = self.durations.lock().unwrap_or_else(|e| e.into_inner());
        for ((method, route), histogram) in durations.iter() {
            let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
            histogram.render(
                &mut out,
                "ks_network_http_request_duration_seconds",
                &labels,
            );
        }
        out
    }
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
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

/// Counts and times every request by its route template.
pub async fn record(
    State(metrics): State<Arc<RequestMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |p| p.as_str().to_owned());
    let method = method_label(request.method());
    metrics.in_flight.fetch_add(1, Ordering::Relaxed);
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
    let code = response.status().as_u16();
    metrics.observe((method, route), code, started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_series_are_by_template() {
        let metrics = RequestMetrics::default();
        let route = "/kapis/network.kubesphere.io/v1alpha2/ippools/{name}".to_owned();
        metrics.observe(("GET", route.clone()), 200, 0.003);
        metrics.observe(("GET", route.clone()), 404, 0.2);
        let text = metrics.render();
        let series = format!("method=\"GET\",route=\"{route}\"");
        assert!(
            text.contains(&format!(
                "ks_network_http_requests_total{{{series},code=\"404\"}} 1"
            )),
            "{text}"
        );
        assert!(text.contains(&format!(
            "ks_network_http_request_duration_seconds_bucket{{{series},le=\"0.005\"}} 1"
        )));
        assert!(text.contains(&format!(
            "ks_network_http_request_duration_seconds_bucket{{{series},le=\"0.25\"}} 2"
        )));
        assert!(text.contains(&format!(
            "ks_network_http_request_duration_seconds_bucket{{{series},le=\"+Inf\"}} 2"
        )));
        assert!(text.contains(&format!(
            "ks_network_http_request_duration_seconds_count{{{series}}} 2"
        )));
        assert!(text.contains("ks_network_http_requests_in_flight 0"));
    }
}
