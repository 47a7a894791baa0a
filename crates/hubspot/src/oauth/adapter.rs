//! Lets the `oauth2` crate send its requests through our reqwest 0.13 client.
//!
//! oauth2 5 ships an adapter for reqwest 0.12 only; enabling it would put a second
//! reqwest and TLS stack in the tree (STACK.md §1). oauth2 only needs something that
//! implements `AsyncHttpClient`, so this is that, over the process's one client.
//!
//! The adapter also classifies by status before oauth2 parses anything: oauth2 turns
//! every non-200 body into "a server error response" and loses the status, so a 5xx
//! or a 429 from the token endpoint would look like a refusal. Here those become our
//! retryable errors, and only 2xx/4xx reach oauth2's parser.

use futures_util::future::BoxFuture;
use oauth2::{AsyncHttpClient, HttpRequest, HttpResponse};
use reqwest::RequestBuilder;

use crate::client::{Answer, Shared};
use crate::error::{Error, classify_failure, is_transient_status};

pub(crate) struct ReqwestAdapter<'a> {
    pub(crate) shared: &'a Shared,
}

impl<'c> AsyncHttpClient<'c> for ReqwestAdapter<'_> {
    type Error = Error;
    type Future = BoxFuture<'c, Result<HttpResponse, Error>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let shared = self.shared;
            let request = reqwest::Request::try_from(request).map_err(Error::from_reqwest)?;
            let Answer {
                status,
                headers,
                response,
            } = shared
                .send(RequestBuilder::from_parts(shared.http.clone(), request))
                .await?;
            let body = shared.read_body(response).await?;
            if is_transient_status(status) {
                return Err(shared
                    .stats
                    .count_error(classify_failure(status, &headers, &body, 0)));
            }
            let mut builder = http::Response::builder().status(status);
            if let Some(map) = builder.headers_mut() {
                *map = headers;
            }
            builder.body(body.to_vec()).map_err(|e| Error::Decode {
                status: status.as_u16(),
                message: e.to_string(),
                correlation_id: None,
            })
        })
    }
}
