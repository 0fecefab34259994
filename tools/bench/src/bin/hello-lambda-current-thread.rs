//! The second cold-start reference for `make bench`: the same hello-world `lambda_http` function
//! on a single-threaded Tokio runtime, the flavor our functions pick at Lambda's default memory
//! sizes (`lambda_support::runtime`). The bench prints our init against it too, so the share of
//! the headline ratio that comes from that choice is on the table.

use lambda_http::{Body, Error, Request, Response, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(|_request: Request| async {
        Ok::<_, Error>(Response::new(Body::from("hello")))
    }))
    .await
}
