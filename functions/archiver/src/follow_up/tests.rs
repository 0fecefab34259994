use std::sync::Arc;

use serde_json::Value;
use testkit::MotoServer;

use super::*;
use crate::error::FailureClass;

fn alert(suffix: &str) -> FollowUp {
    FollowUp {
        correspondence_id: "0191d6a4-5c1e-7d2f-9a7b-3c1d2e4f5a6b".into(),
        resource_id: "our-resource".into(),
        event_type: format!("{TYPE_PREFIX}{suffix}"),
        event_id: "9b0c2f7e-1d3a-4b5c-8e9f-0a1b2c3d4e5f".into(),
        event_time: Some("2026-12-04T05:12:33.123Z".into()),
        manifest_key: Some(
            "archive/correspondence/our-resource/0191d6a4-5c1e-7d2f-9a7b-3c1d2e4f5a6b/manifest.json"
                .into(),
        ),
    }
}

#[test]
fn exactly_the_six_follow_up_types_need_follow_up() {
    for suffix in [
        "correspondencepublishfailed",
        "correspondencenotificationcreationfailed",
        "correspondencenotificationallfailed",
        "correspondencenotificationfailed",
        "correspondencereceiverneverread",
        "correspondencereceiverneverconfirmed",
    ] {
        assert!(needs_follow_up(suffix), "{suffix}");
    }
    for suffix in [
        "correspondencepublished",
        "correspondencereceiverread",
        "correspondencereceiverconfirmed",
        "correspondencenotificationdelivered",
        "correspondencepurged",
        "attachmentuploadfailed",
        "notificationcreated",
        // The full type is not a suffix, and case matters (Altinn lower-cases its types).
        "no.altinn.correspondence.correspondencepublishfailed",
        "CorrespondencePublishFailed",
        "",
    ] {
        assert!(!needs_follow_up(suffix), "{suffix}");
    }
}

#[test]
fn the_message_is_the_documented_camel_case_json() {
    let alert = alert("correspondencereceiverneverread");
    let json: Value = serde_json::from_str(&alert.to_json()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "correspondenceId": "0191d6a4-5c1e-7d2f-9a7b-3c1d2e4f5a6b",
            "resourceId": "our-resource",
            "eventType": "no.altinn.correspondence.correspondencereceiverneverread",
            "eventId": "9b0c2f7e-1d3a-4b5c-8e9f-0a1b2c3d4e5f",
            "eventTime": "2026-12-04T05:12:33.123Z",
            "manifestKey": "archive/correspondence/our-resource/0191d6a4-5c1e-7d2f-9a7b-3c1d2e4f5a6b/manifest.json",
        })
    );
    let back: FollowUp = serde_json::from_value(json).unwrap();
    assert_eq!(back, alert);
}

#[test]
fn every_subject_fits_sns_limits() {
    for (suffix, title) in FOLLOW_UP_TYPES {
        let subject = alert(suffix).subject();
        assert!(subject.chars().count() <= MAX_SUBJECT_CHARS, "{subject}");
        assert!(subject.ends_with(title), "{subject}");
        assert!(subject.contains("0191d6a4-5c1e-7d2f-9a7b-3c1d2e4f5a6b"));
    }
    let mut odd = alert("something\nelse");
    odd.correspondence_id = "x".repeat(200);
    let subject = odd.subject();
    assert_eq!(subject.chars().count(), MAX_SUBJECT_CHARS);
    assert!(!subject.contains('\n'));
    assert_eq!(
        alert("correspondencepublishfailed").type_suffix(),
        "correspondencepublishfailed"
    );
}

#[tokio::test]
async fn memory_sink_records_and_fails_when_told() {
    let sink = MemoryFollowUp::new();
    let dyn_sink: &dyn FollowUpSink = &sink;
    sink.fail_next(1);
    let error = dyn_sink
        .send(&alert("correspondencepublishfailed"))
        .await
        .unwrap_err();
    assert_eq!(error.class, FailureClass::Transient);
    assert!(sink.sent().is_empty());
    dyn_sink
        .send(&alert("correspondencepublishfailed"))
        .await
        .unwrap();
    assert_eq!(sink.sent(), vec![alert("correspondencepublishfailed")]);
    assert_eq!(sink.attempts(), 2);
}

/// An SNS topic on moto with an SQS queue subscribed to it: (topic ARN, queue URL).
async fn topic_with_queue(moto: &MotoServer) -> (String, String) {
    let sns = aws_sdk_sns::Client::new(&moto.sdk_config().await);
    let topic_arn = sns
        .create_topic()
        .name("correspondence-follow-up")
        .send()
        .await
        .expect("create topic")
        .topic_arn
        .expect("topic ARN");
    let queue_url = moto.create_queue("follow-up-inbox").await;
    let queue_arn = moto.queue_arn(&queue_url).await;
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .expect("subscribe the queue");
    (topic_arn, queue_url)
}

#[tokio::test]
async fn sns_sink_publishes_the_json_with_subject_and_event_type_attribute() {
    let moto = MotoServer::start().await;
    let (topic_arn, queue_url) = topic_with_queue(&moto).await;
    let sink: Arc<dyn FollowUpSink> = Arc::new(SnsFollowUp::on_first_use(
        &moto.sdk_config().await,
        &topic_arn,
    ));
    let sent = alert("correspondencenotificationallfailed");
    sink.send(&sent).await.expect("publish");

    let messages = moto.receive_all(&queue_url).await;
    assert_eq!(messages.len(), 1, "one SNS message reached the queue");
    // Without raw delivery SQS receives SNS's envelope around our message.
    let envelope: Value = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    assert_eq!(envelope["TopicArn"], topic_arn.as_str());
    assert_eq!(envelope["Subject"], sent.subject().as_str());
    assert_eq!(
        envelope["MessageAttributes"]["event_type"]["Value"],
        "no.altinn.correspondence.correspondencenotificationallfailed"
    );
    let message: FollowUp = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(message, sent);
}

#[tokio::test]
async fn a_failed_publish_is_a_transient_error_naming_the_topic() {
    let mut moto = MotoServer::start().await;
    let missing = "arn:aws:sns:eu-north-1:123456789012:no-such-topic";
    let sdk = moto.sdk_config().await;
    let sink = SnsFollowUp::new(aws_sdk_sns::Client::new(&sdk), missing);
    let error = sink
        .send(&alert("correspondencepublishfailed"))
        .await
        .unwrap_err();
    assert!(error.is_transient(), "{error}");
    assert!(error.detail.contains(missing), "{error}");
    assert!(
        error
            .detail
            .contains("0191d6a4-5c1e-7d2f-9a7b-3c1d2e4f5a6b")
    );

    // SNS unreachable: transient too.
    let (topic_arn, _) = topic_with_queue(&moto).await;
    moto.stop();
    let sink = SnsFollowUp::new(aws_sdk_sns::Client::new(&sdk), topic_arn);
    let error = sink
        .send(&alert("correspondencepublishfailed"))
        .await
        .unwrap_err();
    assert!(error.is_transient(), "{error}");
}
