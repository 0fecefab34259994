//! Faults on the Correspondence routes: injected per route and per correspondence (or, on the
//! sender's attachment routes, per attachment), answered before the handler so they leave no
//! status behind; and the request log shows which routes a client called.

mod common;
mod correspondence_common;

use altinn_sim::{Fault, FaultRule, Route};
use common::*;
use correspondence_common::*;

#[tokio::test]
async fn faults_hit_the_chosen_route_and_correspondence_and_leave_no_trace() {
    let sim = start().await;
    let t = tokens(&sim).await;
    let c = seed_to(&sim, OWN_ORGNO);
    let other = seed_to(&sim, OWN_ORGNO);
    sim.publish_correspondence(c.id);
    sim.publish_correspondence(other.id);
    sim.inject(
        FaultRule::times(Route::CorrespondenceDetails, Fault::Status(503), 2).for_instance(c.id),
    );
    sim.inject(FaultRule::times(
        Route::CorrespondenceRecipientDownload,
        Fault::TooManyRequests {
            retry_after_secs: 3,
        },
        1,
    ));

    let details = format!("correspondence/{}/details", c.id);
    let (status, _, _) = get(
        &sim,
        &t.recipient,
        &format!("correspondence/{}/details", other.id),
    )
    .await;
    assert_eq!(status, 200, "another correspondence is not hit");
    for _ in 0..2 {
        let (status, _, _) = get(&sim, &t.recipient, &details).await;
        assert_eq!(status, 503);
    }
    assert!(
        !sim.correspondence_statuses(c.id)
            .contains(&"Fetched".to_owned()),
        "a fault answers before the handler records anything"
    );
    let (status, _, _) = get(&sim, &t.recipient, &details).await;
    assert_eq!(status, 200);

    let a = &c.attachments[0];
    let download = url(
        &sim,
        &format!("correspondence/{}/attachment/{}/download", c.id, a.id),
    );
    let response = http()
        .get(&download)
        .bearer_auth(&t.recipient)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "3");
    let response = http()
        .get(&download)
        .bearer_auth(&t.recipient)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    assert!(sim.unfired_faults().is_empty());

    // The gateway key is logged per request (and never shown by Debug).
    let (status, _, _) = send(
        http()
            .get(url(&sim, &format!("correspondence/{}", c.id)))
            .bearer_auth(&t.recipient)
            .header("Ocp-Apim-Subscription-Key", "sim-gateway-key-123"),
    )
    .await;
    assert_eq!(status, 200);
    let requests = sim.requests();
    let last = requests.last().expect("logged");
    assert_eq!(
        last.subscription_key.as_deref(),
        Some("sim-gateway-key-123")
    );
    assert!(!format!("{last:?}").contains("sim-gateway-key-123"));
    assert!(requests[0].subscription_key.is_none());

    let routes: Vec<Route> = requests.iter().filter_map(|r| r.route).collect();
    assert!(routes.contains(&Route::CorrespondenceDetails));
    assert!(routes.contains(&Route::CorrespondenceRecipientDownload));
    assert!(
        !routes.iter().any(|r| matches!(
            r,
            Route::CorrespondenceContent
                | Route::CorrespondenceMarkAsRead
                | Route::CorrespondenceConfirm
        )),
        "the log shows /content, markasread and confirm were never called"
    );
}

#[tokio::test]
async fn a_cut_body_on_the_senders_download_ends_the_connection_mid_body() {
    let sim = start().await;
    let t = tokens(&sim).await;
    let c = seed_to(&sim, OWN_ORGNO);
    let a = &c.attachments[1];
    sim.inject(
        FaultRule::times(
            Route::CorrespondenceSenderDownload,
            Fault::TruncateBody { after_bytes: 1000 },
            1,
        )
        .for_instance(a.id),
    );
    let download = url(&sim, &format!("attachment/{}/download", a.id));
    let response = http()
        .get(&download)
        .bearer_auth(&t.sender)
        .send()
        .await
        .expect("headers arrive");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.content_length(), Some(a.size));
    assert!(response.bytes().await.is_err(), "the body is cut short");

    let response = http()
        .get(&download)
        .bearer_auth(&t.sender)
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.bytes().await.expect("whole body").len() as u64,
        a.size
    );

    sim.inject(FaultRule::times(
        Route::CorrespondenceOverview,
        Fault::DropConnection,
        1,
    ));
    let overview = url(&sim, &format!("correspondence/{}", c.id));
    assert!(
        http()
            .get(&overview)
            .bearer_auth(&t.sender)
            .send()
            .await
            .is_err()
    );
    let (status, _, _) = get(&sim, &t.sender, &format!("correspondence/{}", c.id)).await;
    assert_eq!(status, 200);
}
