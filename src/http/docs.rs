//! `/docs` (api §5): the Swagger UI, vendored (`swagger-ui-dist` 5.35.0, Apache-2.0; `swagger-ui/LICENSE` and
//! `NOTICE`) and served from the binary, so it works without internet access. It reads `/openapi.json`; its
//! Authorize button takes a bearer token for the requests it sends.

use axum::Router;
use axum::extract::Path;
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;

use super::{ApiError, AppState};

/// The page: Swagger UI over this server's document.
const INDEX: &str = r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>ks-network-apiserver API</title>
  <link rel="stylesheet" href="swagger-ui.css">
  <link rel="icon" type="image/png" href="favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      persistAuthorization: true
    });
  </script>
</body>
</html>
"##;

/// The vendored files: name, content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "swagger-ui-bundle.js",
        "text/javascript; charset=utf-8",
        include_bytes!("swagger-ui/swagger-ui-bundle.js"),
    ),
    (
        "swagger-ui.css",
        "text/css; charset=utf-8",
        include_bytes!("swagger-ui/swagger-ui.css"),
    ),
    (
        "favicon-32x32.png",
        "image/png",
        include_bytes!("swagger-ui/favicon-32x32.png"),
    ),
    (
        "LICENSE",
        "text/plain; charset=utf-8",
        include_bytes!("swagger-ui/LICENSE"),
    ),
    (
        "NOTICE",
        "text/plain; charset=utf-8",
        include_bytes!("swagger-ui/NOTICE"),
    ),
    (
        "swagger-ui-bundle.js.LICENSE.txt",
        "text/plain; charset=utf-8",
        include_bytes!("swagger-ui/swagger-ui-bundle.js.LICENSE.txt"),
    ),
];

/// `/docs`, `/docs/` and the files the page loads.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/docs", get(redirect))
        .route("/docs/", get(page))
        .route("/docs/{file}", get(asset))
}

/// `GET /docs`: to the page.
pub async fn redirect() -> Redirect {
    Redirect::permanent("/docs/")
}

/// `GET /docs/`: the interactive API page (Swagger UI over `/openapi.json`).
pub async fn page() -> Html<&'static str> {
    Html(INDEX)
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            *bytes,
        )
            .into_response(),
        None => ApiError::RouteNotFound.into_response(),
    }
}
