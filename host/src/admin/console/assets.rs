//! The console's static files, embedded in the binary at build time: htmx (vendored from the
//! npm package `htmx.org`, version in README, with its licence), the console's own script and
//! style sheet. Served with their content type and a day's caching; no other file is served,
//! and no asset ever comes from another origin.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `htmx.org` 2.0.11, `dist/htmx.min.js`, unchanged.
const HTMX: &str = include_str!("assets/htmx.min.js");
/// htmx's licence (0BSD), served beside it.
const HTMX_LICENSE: &str = include_str!("assets/htmx.LICENSE");
const CONSOLE_JS: &str = include_str!("assets/console.js");
const CONSOLE_CSS: &str = include_str!("assets/console.css");

/// Every asset by name, with its content type.
const ASSETS: [(&str, &str, &str); 4] = [
    ("htmx.min.js", "text/javascript; charset=utf-8", HTMX),
    ("htmx.LICENSE.txt", "text/plain; charset=utf-8", HTMX_LICENSE),
    ("console.js", "text/javascript; charset=utf-8", CONSOLE_JS),
    ("console.css", "text/css; charset=utf-8", CONSOLE_CSS),
];

pub async fn serve(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=86400"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htmx_is_the_vendored_minified_build() {
        assert!(HTMX.starts_with("var htmx=function()"), "htmx.min.js as published");
        assert!(HTMX_LICENSE.contains("Zero-Clause BSD"));
    }

    #[tokio::test]
    async fn an_asset_is_served_with_its_type_and_an_unknown_name_is_not_found() {
        let js = serve(Path("console.js".to_owned())).await;
        assert_eq!(js.status(), StatusCode::OK);
        assert_eq!(js.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()), Some(ASSETS[2].1));
        assert_eq!(serve(Path("../Cargo.toml".to_owned())).await.status(), StatusCode::NOT_FOUND);
    }
}
