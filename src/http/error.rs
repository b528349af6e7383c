//! The one mapping from errors to TAXII error resources (TAXII 2.1 section 3.6.1). Every error
//! gets an `error_id` that is also logged; 5xx bodies say nothing about internals.

use crate::service::ServiceError;
use crate::taxii::resources::ErrorResource;
use crate::taxii::TAXII_MEDIA_TYPE;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("not acceptable")]
    NotAcceptable,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// The most bytes the body may have, and what to do instead.
    #[error("payload too large")]
    PayloadTooLarge(usize, &'static str),
    #[error("bad request: {0}")]
    BadRequest(String),
    /// With the methods the resource allows, for the `Allow` header.
    #[error("method not allowed")]
    MethodNotAllowed(&'static str),
    #[error("no such endpoint")]
    NoRoute,
    #[error("request body not received within {0:?}")]
    BodyTimeout(std::time::Duration),
    #[error("too many POSTs in progress for this user (at most {0})")]
    TooManyPosts(usize),
    #[error("URL too long")]
    UriTooLong(usize),
    /// An error actix produced (an extractor, the router, the payload stream), in its words.
    #[error("{status}: {message}")]
    Framework { status: StatusCode, message: String },
}

struct Parts {
    status: StatusCode,
    title: &'static str,
    description: String,
}

impl ApiError {
    fn parts(&self) -> Parts {
        let p = parts;
        match self {
            ApiError::Service(e) => service_parts(e),
            ApiError::NotAcceptable => p(
                StatusCode::NOT_ACCEPTABLE,
                "Not acceptable",
                "This server answers in application/taxii+json;version=2.1. Send an Accept header that allows it \
                 (application/taxii+json;version=2.1, application/taxii+json, application/json or */*)."
                    .into(),
            ),
            ApiError::UnsupportedMediaType => p(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported media type",
                "POST bodies must be sent with Content-Type: application/taxii+json;version=2.1.".into(),
            ),
            ApiError::PayloadTooLarge(max, advice) => p(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Payload too large",
                format!("The body exceeds {max} bytes. {advice}"),
            ),
            ApiError::BadRequest(m) => p(StatusCode::BAD_REQUEST, "Bad request", m.clone()),
            ApiError::MethodNotAllowed(allow) => p(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed",
                format!("This endpoint does not support this HTTP method. It allows {allow}."),
            ),
            ApiError::NoRoute => p(
                StatusCode::NOT_FOUND,
                "Not found",
                "No such resource for this user. Check the API root, collection id and object id.".into(),
            ),
            ApiError::BodyTimeout(limit) => p(
                StatusCode::REQUEST_TIMEOUT,
                "Request body too slow",
                format!(
                    "The request body did not arrive within {}s (server.body_timeout). Send it in one go, \
                     or split the objects into smaller envelopes.",
                    limit.as_secs_f64()
                ),
            ),
            ApiError::TooManyPosts(max) => p(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many concurrent POSTs",
                format!(
                    "This user already has {max} POSTs in progress (server.max_posts_per_user). \
                     Wait for one to finish, then retry."
                ),
            ),
            ApiError::UriTooLong(max) => p(
                StatusCode::URI_TOO_LONG,
                "URL too long",
                format!(
                    "The URL exceeds {max} bytes. Ask for fewer ids or types per request, and \
                     split a long match[id] list over several requests."
                ),
            ),
            ApiError::Framework { status, .. } if status.is_server_error() => p(
                *status,
                status.canonical_reason().unwrap_or("Internal error"),
                "The server failed to handle the request. Report the error_id to the operator.".into(),
            ),
            ApiError::Framework { status, message } => p(
                *status,
                status.canonical_reason().unwrap_or("Bad request"),
                format!("The request could not be handled: {message}. Check the URL and its parameters."),
            ),
        }
    }
}

fn parts(status: StatusCode, title: &'static str, description: String) -> Parts {
    Parts {
        status,
        title,
        description,
    }
}

/// The answer to each error of the use cases.
fn service_parts(e: &ServiceError) -> Parts {
    use ServiceError as S;
    let p = parts;
    match e {
        S::Unauthorized => p(
            StatusCode::UNAUTHORIZED,
            "Authentication required",
            "Send valid HTTP Basic credentials of a Cairn user.".into(),
        ),
        S::NotFound => p(
            StatusCode::NOT_FOUND,
            "Not found",
            "No such resource for this user. Check the API root, collection id and object id.".into(),
        ),
        S::Forbidden(why) => p(StatusCode::FORBIDDEN, "Forbidden", format!("{why}.")),
        S::BadQuery(e) => p(
            StatusCode::BAD_REQUEST,
            "Invalid query parameter",
            format!("{}: {}. Correct the parameter or leave it out.", e.param, e.problem),
        ),
        S::BadCursor => p(
            StatusCode::BAD_REQUEST,
            "Invalid next token",
            "The next parameter was not issued by this server for this user, endpoint and collection. \
             Use the next value of the previous page unchanged; its listing's filters travel with it."
                .into(),
        ),
        S::NotJson(m) => p(
            StatusCode::BAD_REQUEST,
            "Body is not JSON",
            format!("The request body could not be parsed as JSON ({m}). Send a TAXII envelope or a STIX bundle."),
        ),
        S::TooManyObjects(m) => {
            p(StatusCode::PAYLOAD_TOO_LARGE, "Too many objects", format!("{m}."))
        }
        S::Unprocessable(m) => {
            p(StatusCode::UNPROCESSABLE_ENTITY, "Neither an envelope nor a bundle", format!("{m}."))
        }
        S::Storage(e) if e.is_disk_full() => p(
            StatusCode::INSUFFICIENT_STORAGE,
            "Insufficient storage",
            "The server's storage is full, so nothing of this request was stored. Tell the operator; \
             retry once space has been freed."
                .into(),
        ),
        S::Throttled { retry_after, reason } => p(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many login attempts",
            format!(
                "{reason}. Retry after {retry_after} second{} (Retry-After), with valid credentials.",
                if *retry_after == 1 { "" } else { "s" }
            ),
        ),
        S::Storage(e) if e.is_transient() => p(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service unavailable",
            "The database is busy or unreachable. Retry the request shortly.".into(),
        ),
        S::Storage(_) | S::Internal(_) => p(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal error",
            "The server failed to handle the request. Report the error_id to the operator.".into(),
        ),
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.parts().status
    }

    fn error_response(&self) -> HttpResponse {
        let parts = self.parts();
        let error_id = uuid::Uuid::new_v4().to_string();
        if parts.status.is_server_error() {
            tracing::error!(error_id = %error_id, status = parts.status.as_u16(), error = %self, "request failed");
        } else {
            tracing::info!(error_id = %error_id, status = parts.status.as_u16(), title = parts.title, "request refused");
        }
        let body = ErrorResource {
            title: parts.title.into(),
            description: parts.description,
            error_id,
            http_status: parts.status.as_u16().to_string(),
        };
        let mut resp = HttpResponse::build(parts.status);
        resp.insert_header((header::CONTENT_TYPE, TAXII_MEDIA_TYPE));
        match self {
            ApiError::Service(ServiceError::Unauthorized) => {
                // Either a user's password or an API token (docs/setup-file.md, API tokens).
                resp.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"cairn\""));
                resp.append_header((header::WWW_AUTHENTICATE, "Bearer realm=\"cairn\""));
            }
            ApiError::MethodNotAllowed(allow) => {
                resp.insert_header((header::ALLOW, *allow));
            }
            // A POST takes about a tenth of a second; a second later one has likely finished.
            ApiError::TooManyPosts(_) => {
                resp.insert_header((header::RETRY_AFTER, "1"));
            }
            _ => {}
        }
        if let ApiError::Service(ServiceError::Throttled { retry_after, .. }) = self {
            resp.insert_header((header::RETRY_AFTER, retry_after.to_string()));
        }
        resp.body(serde_json::to_string(&body).expect("error resource serialises"))
    }
}
