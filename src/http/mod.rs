//! The HTTP layer (actix only): the URL map, content negotiation, extractors, rendering.
//! Handlers parse, call one service function, render.

pub mod error;
pub mod extract;
mod handlers;

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

/// A resource whose unsupported methods answer 405 in a TAXII error.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(|| async {
        Err::<HttpResponse, _>(ApiError::MethodNotAllowed)
    }))
}

/// The whole URL map (TAXII 2.1 sections 4 and 5). The router tries resources in order, one
/// pattern match each: the endpoints polled most come first. Patterns with different segment
/// counts never match the same path; "/taxii2/" must precede "/{root}/", which would match it.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use handlers::*;
    cfg.service(
        resource("/{root}/collections/{coll}/objects/")
            .route(web::get().to(get_objects))
            .route(web::post().to(add_objects)),
    )
    .service(resource("/{root}/collections/{coll}/manifest/").route(web::get().to(manifest)))
    .service(
        resource("/{root}/collections/{coll}/objects/{id}/")
            .route(web::get().to(get_object))
            .route(web::delete().to(delete_object)),
    )
    .service(
        resource("/{root}/collections/{coll}/objects/{id}/versions/")
            .route(web::get().to(versions)),
    )
    .service(resource("/{root}/status/{status}/").route(web::get().to(status)))
    .service(resource("/taxii2/").route(web::get().to(discovery)))
    .service(resource("/{root}/").route(web::get().to(api_root)))
    .service(resource("/{root}/collections/").route(web::get().to(collections)))
    .service(resource("/{root}/collections/{coll}/").route(web::get().to(collection)));
}

/// Refuses requests whose Accept header excludes the TAXII media type (406), before any work.
fn negotiate<S>(
    req: ServiceRequest,
    srv: &S,
) -> LocalBoxFuture<'static, Result<ServiceResponse<EitherBody<BoxBody>>, Error>>
where
    S: Service<ServiceRequest, Response = ServiceResponse<BoxBody>, Error = Error>,
    S::Future: 'static,
{
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok().map(str::to_owned));
    let bad_header = req.headers().get(header::ACCEPT).is_some() && accept.is_none();
    if bad_header || !media::accepts_taxii(accept.as_deref()) {
        let mut resp = ApiError::NotAcceptable.error_response();
        // Same per-caller cache headers as every other response.
        let h = resp.headers_mut();
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        );
        h.insert(header::VARY, HeaderValue::from_static("Authorization"));
        return Box::pin(ready(Ok(req.into_response(resp).map_into_right_body())));
    }
    let method = req.method().clone();
    let path = req.path().to_owned();
    let started = std::time::Instant::now();
    srv.call(req)
        .map(move |res| {
            res.map(|mut r| {
                let h = r.headers_mut();
                // Community data is per caller: never cached by shared caches.
                h.insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("private, no-store"),
                );
                h.insert(header::VARY, HeaderValue::from_static("Authorization"));
                tracing::info!(
                    %method,
                    %path,
                    status = r.status().as_u16(),
                    micros = started.elapsed().as_micros() as u64,
                    "request"
                );
                r.map_into_left_body()
            })
        })
        .boxed_local()
}

/// Builds the application for one worker.
pub fn app(
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
        .configure(routes)
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(ApiError::NoRoute)
        }))
        .wrap_fn(|req, srv| negotiate(req, srv))
        // TAXII URLs end in '/'; clients that drop it (taxii2-client's status polling) still match.
        .wrap(NormalizePath::new(TrailingSlash::Always))
}
