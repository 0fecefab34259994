//! The cold-start reference for `make bench`: a hello-world `lambda_http` function, built with
//! the same profile as the real functions, so their init can be compared with the runtime's own.

use lambda_http::{Body, Error, Request, Response, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(|_request: Request| async {
        Ok::<_, Error>(Response::new(Body::from("hello")))
    }))
    .await
}
