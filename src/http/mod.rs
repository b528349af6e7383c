//! The HTTP layer (actix only): the URL map, content negotiation, extractors, rendering.
//! Handlers parse, call one service function, render.

pub mod edge;
pub mod error;
pub mod extract;
mod handlers;
mod pages;

use crate::service::Cairn;
use crate::taxii::media;
use actix_web::body::{BoxBody, EitherBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{NormalizePath, TrailingSlash};
use actix_web::{web, App, Error, HttpResponse, ResponseError};
use error::ApiError;
use futures_util::future::{ready, LocalBoxFuture};
use futures_util::FutureExt;

/// A resource whose other methods answer 405 in a TAXII error, with `Allow: {allow}`.
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || async move {
        Err::<HttpResponse, _>(ApiError::MethodNotAllowed(allow))
    }))
}

/// The whole URL map (TAXII 2.1 sections 4 and 5). The router tries resources in order, one
/// pattern match each: the endpoints polled most come first. Patterns with different segment
/// counts never match the same path; "/taxii2/" must precede "/{root}/", which would match it.
/// So must the health checks (paths are normalised to end in a slash).
pub fn routes(cfg: &mut web::ServiceConfig) {
    use handlers::*;
    cfg.configure(pages::routes);
    cfg.service(resource("/healthz/", "GET").route(web::get().to(handlers::healthz)))
        .service(resource("/readyz/", "GET").route(web::get().to(handlers::readyz)))
        .service(
            resource("/{root}/collections/{coll}/objects/", "GET, POST")
                .route(web::get().to(get_objects))
                .route(web::post().to(add_objects)),
        )
        .service(
            resource("/{root}/collections/{coll}/manifest/", "GET").route(web::get().to(manifest)),
        )
        .service(
            resource("/{root}/collections/{coll}/feedback/", "GET")
                .route(web::get().to(handlers::feedback)),
        )
        .service(
            resource("/{root}/collections/{coll}/objects/{id}/", "GET, DELETE")
                .route(web::get().to(get_object))
                .route(web::delete().to(delete_object)),
        )
        .service(
            resource("/{root}/collections/{coll}/objects/{id}/versions/", "GET")
                .route(web::get().to(versions)),
        )
        .service(resource("/{root}/status/{status}/", "GET").route(web::get().to(status)))
        .service(
            resource("/{root}/follows/", "GET, POST")
                .route(web::get().to(handlers::list_follows))
                .route(web::post().to(handlers::add_follow)),
        )
        .service(
            resource("/{root}/follows/{id}/", "DELETE")
                .route(web::delete().to(handlers::delete_follow)),
        )
        .service(
            resource("/{root}/notifications/", "GET").route(web::get().to(handlers::notifications)),
        )
        .service(resource("/taxii2/", "GET").route(web::get().to(discovery)))
        .service(resource("/{root}/", "GET").route(web::get().to(api_root)))
        .service(resource("/{root}/collections/", "GET").route(web::get().to(collections)))
        .service(resource("/{root}/collections/{coll}/", "GET").route(web::get().to(collection)));
}

/// The same per-caller cache headers on every response: community data is per caller, never
/// cached by shared caches.
fn private(h: &mut header::HeaderMap) {
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    h.insert(header::VARY, HeaderValue::from_static("Authorization"));
}

/// Answers `req` with `err` before any handler runs.
fn refuse(
    req: ServiceRequest,
    err: ApiError,
) -> LocalBoxFuture<'static, Result<ServiceResponse<EitherBody<BoxBody>>, Error>> {
    let mut resp = err.error_response();
    private(resp.headers_mut());
    Box::pin(ready(Ok(req.into_response(resp).map_into_right_body())))
}

/// Whatever answered with an error that is not a TAXII error resource (actix's extractors and
/// router, a payload error), the client gets one, with the same status.
fn as_taxii_error(res: ServiceResponse) -> ServiceResponse {
    let status = res.status();
    let is_taxii = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == crate::taxii::TAXII_MEDIA_TYPE.as_bytes());
    if !(status.is_client_error() || status.is_server_error()) || is_taxii {
        return res;
    }
    let message = res
        .response()
        .error()
        .map(|e| e.to_string())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
    let (req, _) = res.into_parts();
    ServiceResponse::new(
        req,
        ApiError::Framework { status, message }.error_response(),
    )
}

/// Refuses over-long URLs (414) and requests whose Accept header excludes the TAXII media type
/// (406), before any work; makes every error a TAXII error resource.
fn negotiate<S>(
    req: ServiceRequest,
    srv: &S,
) -> LocalBoxFuture<'static, Result<ServiceResponse<EitherBody<BoxBody>>, Error>>
where
    S: Service<ServiceRequest, Response = ServiceResponse<BoxBody>, Error = Error>,
    S::Future: 'static,
{
    let url_len = req.uri().path().len() + req.query_string().len();
    if url_len > edge::MAX_URL_BYTES {
        return refuse(req, ApiError::UriTooLong(edge::MAX_URL_BYTES));
    }
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok().map(str::to_owned));
    let bad_header = req.headers().get(header::ACCEPT).is_some() && accept.is_none();
    // The web pages answer HTML to browsers; everything else is TAXII.
    let page = pages::is_web(req.path());
    if !page && (bad_header || !media::accepts_taxii(accept.as_deref())) {
        return refuse(req, ApiError::NotAcceptable);
    }
    let method = req.method().clone();
    let path = req.path().to_owned();
    let started = std::time::Instant::now();
    let metrics = req.app_data::<web::Data<Cairn>>().map(|c| c.metrics());
    srv.call(req)
        .map(move |res| {
            let mut r = match res {
                Ok(r) if page => r,
                Ok(r) => as_taxii_error(r),
                // The router and handlers answer errors as responses; should an error still come
                // up here, actix renders it through ApiError (the request is gone by now).
                Err(e) => {
                    let status = e.as_response_error().status_code();
                    let message = e.to_string();
                    return Err(ApiError::Framework { status, message }.into());
                }
            };
            private(r.headers_mut());
            if let Some(m) = &metrics {
                count(m, &r, started.elapsed());
            }
            tracing::info!(
                %method,
                %path,
                status = r.status().as_u16(),
                micros = started.elapsed().as_micros() as u64,
                "request"
            );
            Ok(r.map_into_left_body())
        })
        .boxed_local()
}

/// Counts a request under its route pattern (never its path, which names ids).
fn count<B>(m: &crate::metrics::Metrics, r: &ServiceResponse<B>, took: std::time::Duration) {
    let endpoint = r
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".into());
    let status = r.status().as_u16().to_string();
    m.requests.add(&[&endpoint, &status], 1);
    m.latency.observe(&[&endpoint], took);
}

/// The metrics endpoint's application (`server.metrics_bind`): `GET /metrics` only.
pub fn metrics_app(
    cairn: web::Data<Cairn>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl actix_web::body::MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(cairn)
        .route("/metrics", web::get().to(handlers::metrics))
}

/// Builds the application for one worker.
pub fn app(
    cairn: web::Data<Cairn>,
    edge: web::Data<edge::Edge>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl actix_web::body::MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(cairn)
        .app_data(edge)
        // A comment of the web pages' longest, every character escaped.
        .app_data(web::FormConfig::default().limit(256 * 1024))
        .configure(routes)
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(ApiError::NoRoute)
        }))
        .wrap_fn(|req, srv| negotiate(req, srv))
        // TAXII URLs end in '/'; clients that drop it (taxii2-client's status polling) still match.
        .wrap(NormalizePath::new(TrailingSlash::Always))
}
