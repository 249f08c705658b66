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

/// What is known of one method on one route.
#[derive(Default)]
struct Series {
    /// Status code → requests.
    codes: BTreeMap<u16, u64>,
    durations: Histogram,
}

/// The counters, histograms and gauge of every request served.
#[derive(Default)]
pub struct RequestMetrics {
    in_flight: AtomicI64,
    /// Route template → method → series: one lock per request, and the route is copied only the first time.
    routes: Mutex<BTreeMap<String, BTreeMap<&'static str, Series>>>,
}

impl RequestMetrics {
    fn observe(&self, method: &'static str, route: &str, code: u16, seconds: f64) {
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let methods = match routes.get_mut(route) {
            Some(methods) => methods,
            None => routes.entry(route.to_owned()).or_default(),
        };
        let series = methods.entry(method).or_default();
        *series.codes.entry(code).or_default() += 1;
        series.durations.observe(seconds);
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
        let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let series = || {
            routes.iter().flat_map(|(route, methods)| {
                methods.iter().map(move |(method, series)| {
                    (
                        format!("method=\"{method}\",route=\"{}\"", escape(route)),
                        series,
                    )
                })
            })
        };
        out.push_str("# HELP ks_network_http_requests_total Requests served, by method, route template and code.\n");
        out.push_str("# TYPE ks_network_http_requests_total counter\n");
        for (labels, series) in series() {
            for (code, count) in &series.codes {
                let _ = writeln!(
                    out,
                    "ks_network_http_requests_total{{{labels},code=\"{code}\"}} {count}"
                );
            }
        }
        out.push_str("# HELP ks_network_http_request_duration_seconds Time to the response head, by method and route template.\n");
        out.push_str("# TYPE ks_network_http_request_duration_seconds histogram\n");
        for (labels, series) in series() {
            series.durations.render(
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
    // MatchedPath holds its template in an Arc: cloning it does not copy the string.
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let method = method_label(request.method());
    metrics.in_flight.fetch_add(1, Ordering::Relaxed);
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
    let code = response.status().as_u16();
    let route = matched.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
    metrics.observe(method, route, code, started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_series_are_by_template() {
        let metrics = RequestMetrics::default();
        let route = "/kapis/network.kubesphere.io/v1alpha2/ippools/{name}".to_owned();
        metrics.observe("GET", &route, 200, 0.003);
        metrics.observe("GET", &route, 404, 0.2);
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
